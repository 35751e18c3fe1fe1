// agcnn/metrics/calibration.hpp — do the probabilities mean what they say: reliability bins and
// the expected calibration error.
//
// Equal-width bins over [0, 1] (bin b holds b/B <= p < (b+1)/B; p = 1 goes in the last bin). Per
// bin: the number of predictions, their mean probability and the share of them that are
// positive. ECE = sum over bins of (n_b / n) |positive share_b - mean probability_b| (Naeini et al.
// 2015; Guo et al. 2017 with "accuracy" read as the positive rate of a binary finding). Empty
// bins add nothing. NaN probabilities are left out and counted; with none left, ECE is NaN.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::metrics {

struct ReliabilityBin {
    double lower = 0, upper = 0;  // probability range
    std::size_t count = 0;
    double mean_probability = std::numeric_limits<double>::quiet_NaN();
    double positive_rate = std::numeric_limits<double>::quiet_NaN();
};

struct Calibration {
    std::vector<ReliabilityBin> bins;
    double ece = std::numeric_limits<double>::quiet_NaN();
    std::size_t nan_probabilities = 0;
};

inline Calibration calibration(const std::vector<float>& probabilities, const std::vector<float>& labels,
                               int bin_count = 10) {
    AGCNN_CHECK(probabilities.size() == labels.size(), "calibration: ", probabilities.size(),
                " probabilities but ", labels.size(), " labels");
    AGCNN_CHECK(bin_count >= 1, "calibration: need at least one bin, got ", bin_count);
    Calibration c;
    std::vector<double> sum_p(std::size_t(bin_count), 0), sum_y(std::size_t(bin_count), 0);
    std::vector<std::size_t> count(std::size_t(bin_count), 0);
    std::size_t used = 0;
    for (std::size_t i = 0; i < probabilities.size(); ++i) {
        const double p = probabilities[i];
        if (std::isnan(p)) {
            ++c.nan_probabilities;
            continue;
        }
        const double clamped = std::min(1.0, std::max(0.0, p));
        const std::size_t b = std::min(std::size_t(bin_count) - 1, std::size_t(clamped * bin_count));
        sum_p[b] += clamped, sum_y[b] += labels[i] > 0.5f, ++count[b], ++used;
    }
    double ece = 0;
    for (int b = 0; b < bin_count; ++b) {
        ReliabilityBin bin{double(b) / bin_count, double(b + 1) / bin_count, count[std::size_t(b)]};
        if (bin.count > 0) {
            bin.mean_probability = sum_p[std::size_t(b)] / double(bin.count);
            bin.positive_rate = sum_y[std::size_t(b)] / double(bin.count);
            ece += double(bin.count) / double(used) * std::abs(bin.positive_rate - bin.mean_probability);
        }
        c.bins.push_back(bin);
    }
    if (used > 0) c.ece = ece;
    return c;
}

}  // namespace agcnn::metrics
