// agcnn/metrics/bootstrap.hpp — percentile bootstrap intervals, resampling patients, not images.
//
// Images of one patient are correlated (follow-ups of the same chest), so a resample draws
// `patients` patients with replacement and takes all of each one's images; an image's
// multiplicity is the number of times its patient was drawn (Efron and Tibshirani 1993, ch. 13,
// the cluster bootstrap). Resample b is drawn from Rng(seed mixed with b) alone, so the intervals
// are the same for a seed whatever the thread count, and resamples can be computed in any order.
//
// A statistic sees the multiplicities (one weight per row) and returns one or more values; a
// resample where a value is undefined (NaN: a class without positives in that resample) is left
// out of that value's interval, and Interval::resamples says how many were used. The interval is
// the (1-level)/2 and (1+level)/2 percentiles of the resampled values, interpolated linearly
// between order statistics (numpy's default "linear" method).
//
// weighted_auroc() is metrics::auroc() of the resample the weights stand for (each row repeated
// weight times), in O(n) per resample after one sort per class: WeightedRanking holds that sort.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/core/rng.hpp"

namespace agcnn::metrics {

struct Interval {
    double estimate = std::numeric_limits<double>::quiet_NaN();  // on all the data
    double lower = std::numeric_limits<double>::quiet_NaN(), upper = std::numeric_limits<double>::quiet_NaN();
    int resamples = 0;  // resamples where the statistic was defined
};

// The q-quantile (0 <= q <= 1) of values, linear between order statistics; NaN when empty.
inline double percentile(std::vector<double> values, double q) {
    if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
    std::sort(values.begin(), values.end());
    const double position = q * double(values.size() - 1);
    const std::size_t below = std::size_t(std::floor(position));
    const std::size_t above = std::min(below + 1, values.size() - 1);
    return values[below] + (position - double(below)) * (values[above] - values[below]);
}

// Rows grouped by patient: patient_of_row[i] is row i's patient, 0 .. patients-1.
class PatientResampler {
public:
    PatientResampler(std::vector<int> patient_of_row, int resamples, std::uint64_t seed)
        : patient_of_row_(std::move(patient_of_row)), resamples_(resamples), seed_(seed) {
        AGCNN_CHECK(resamples >= 1, "bootstrap: need at least one resample, got ", resamples);
        for (int p : patient_of_row_) {
            AGCNN_CHECK(p >= 0, "bootstrap: negative patient index ", p);
            patients_ = std::max(patients_, p + 1);
        }
    }
    int resamples() const { return resamples_; }
    int patients() const { return patients_; }
    std::size_t rows() const { return patient_of_row_.size(); }

    // Row multiplicities of resample b (0 <= b < resamples).
    std::vector<std::uint32_t> weights(int b) const {
        Rng rng(seed_ ^ (0x9E3779B97F4A7C15ull * (std::uint64_t(b) + 1)));
        std::vector<std::uint32_t> drawn(std::size_t(patients_), 0), out(rows());
        for (int i = 0; i < patients_; ++i) ++drawn[rng.below(std::uint64_t(patients_))];
        for (std::size_t r = 0; r < rows(); ++r) out[r] = drawn[std::size_t(patient_of_row_[r])];
        return out;
    }

private:
    std::vector<int> patient_of_row_;
    int resamples_, patients_ = 0;
    std::uint64_t seed_;
};

// Intervals of `count` statistics at once. statistic(weights) returns `count` values; all-ones
// weights give the estimates. Resamples run in parallel (OpenMP), each written to its own row.
inline std::vector<Interval> bootstrap_intervals(
    const PatientResampler& resampler, std::size_t count,
    const std::function<std::vector<double>(const std::vector<std::uint32_t>&)>& statistic, double level = 0.95) {
    AGCNN_CHECK(level > 0 && level < 1, "bootstrap: level ", level, " outside (0, 1)");
    const std::vector<double> estimates = statistic(std::vector<std::uint32_t>(resampler.rows(), 1));
    AGCNN_CHECK(estimates.size() == count, "bootstrap: the statistic returned ", estimates.size(), " values, not ", count);
    const int n = resampler.resamples();
    std::vector<std::vector<double>> values(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(dynamic)
    for (int b = 0; b < n; ++b) values[std::size_t(b)] = statistic(resampler.weights(b));
    std::vector<Interval> out(count);
    for (std::size_t s = 0; s < count; ++s) {
        std::vector<double> column;
        for (const auto& v : values)
            if (!std::isnan(v[s])) column.push_back(v[s]);
        out[s].estimate = estimates[s];
        out[s].resamples = int(column.size());
        out[s].lower = percentile(column, (1 - level) / 2);
        out[s].upper = percentile(column, (1 + level) / 2);
    }
    return out;
}

// One class's scores sorted once, with their tie groups, for AUROCs of many resamples.
class WeightedRanking {
public:
    // scores and labels (0/1) of equal length; any NaN score makes every AUROC NaN (auroc.hpp).
    WeightedRanking(const std::vector<float>& scores, const std::vector<float>& labels) {
        AGCNN_CHECK(scores.size() == labels.size(), "weighted_auroc: ", scores.size(), " scores but ",
                    labels.size(), " labels");
        has_nan_ = std::any_of(scores.begin(), scores.end(), [](float s) { return std::isnan(s); });
        if (has_nan_) return;
        order_.resize(scores.size());
        std::iota(order_.begin(), order_.end(), 0);
        std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
        positive_.resize(scores.size());
        for (std::size_t i = 0; i < scores.size(); ++i) positive_[i] = labels[i] > 0.5f;
        for (std::size_t i = 0; i < order_.size(); ++i)
            if (i == 0 || scores[order_[i]] != scores[order_[i - 1]]) group_start_.push_back(i);
        group_start_.push_back(order_.size());
    }

    // AUROC of the data with row i repeated weights[i] times; NaN without positives or negatives.
    double auroc(const std::vector<std::uint32_t>& weights) const {
        if (has_nan_) return std::numeric_limits<double>::quiet_NaN();
        double negatives_below = 0, sum = 0, positives = 0;
        for (std::size_t g = 0; g + 1 < group_start_.size(); ++g) {
            double pos = 0, neg = 0;
            for (std::size_t i = group_start_[g]; i < group_start_[g + 1]; ++i)
                (positive_[order_[i]] ? pos : neg) += weights[order_[i]];
            sum += pos * (negatives_below + 0.5 * neg);  // ties count one half
            negatives_below += neg;
            positives += pos;
        }
        if (positives == 0 || negatives_below == 0) return std::numeric_limits<double>::quiet_NaN();
        return sum / (positives * negatives_below);
    }

private:
    bool has_nan_ = false;
    std::vector<std::size_t> order_, group_start_;
    std::vector<char> positive_;
};

}  // namespace agcnn::metrics
