// agcnn/metrics/operating_point.hpp — a decision threshold per class, and what it does.
//
// A finding is called positive when its probability is >= the threshold. The threshold is chosen
// on one split (validation) and applied unchanged to another (test), so the test figures are not
// tuned to the test set:
//   youden_threshold:      maximises Youden's J = sensitivity + specificity - 1 (Youden 1950);
//   sensitivity_threshold: the highest threshold whose sensitivity reaches a target (so the most
//                          specific one that finds at least that share of the positives).
// Candidates are the distinct scores (a threshold between two scores calls the same images). Ties
// in J go to the higher threshold. Both return NaN when the split has no positive or no negative
// or a NaN score: there is nothing to choose from.
//
// Confusion counts are weighted (a bootstrap resample's multiplicities, metrics/bootstrap.hpp);
// with unit weights they are plain counts. A rate with a zero denominator is NaN.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::metrics {

struct Confusion {
    double tp = 0, fp = 0, tn = 0, fn = 0;
    static double ratio(double a, double b) { return b > 0 ? a / b : std::numeric_limits<double>::quiet_NaN(); }
    double sensitivity() const { return ratio(tp, tp + fn); }
    double specificity() const { return ratio(tn, tn + fp); }
    double ppv() const { return ratio(tp, tp + fp); }
    double npv() const { return ratio(tn, tn + fn); }
};

// Counts at `threshold` (positive when score >= threshold); weights empty = all ones.
inline Confusion confusion_at(const std::vector<float>& scores, const std::vector<float>& labels, double threshold,
                              const std::vector<std::uint32_t>& weights = {}) {
    AGCNN_CHECK(scores.size() == labels.size(), "confusion: ", scores.size(), " scores but ", labels.size(), " labels");
    AGCNN_CHECK(weights.empty() || weights.size() == scores.size(), "confusion: ", weights.size(), " weights for ",
                scores.size(), " scores");
    Confusion c;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        const double w = weights.empty() ? 1.0 : double(weights[i]);
        const bool called = double(scores[i]) >= threshold, truth = labels[i] > 0.5f;
        (truth ? (called ? c.tp : c.fn) : (called ? c.fp : c.tn)) += w;
    }
    return c;
}

namespace detail {

// Calls f(threshold, tp, fp) at each distinct score, high to low; returns false (calling nothing)
// when there is no positive, no negative or a NaN score. positives/negatives are set.
template <class F>
bool for_each_threshold(const std::vector<float>& scores, const std::vector<float>& labels, double& positives,
                        double& negatives, F f) {
    AGCNN_CHECK(scores.size() == labels.size(), "threshold: ", scores.size(), " scores but ", labels.size(), " labels");
    if (std::any_of(scores.begin(), scores.end(), [](float s) { return std::isnan(s); })) return false;
    positives = double(std::count_if(labels.begin(), labels.end(), [](float l) { return l > 0.5f; }));
    negatives = double(labels.size()) - positives;
    if (positives == 0 || negatives == 0) return false;
    std::vector<std::size_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j) (labels[order[j]] > 0.5f ? tp : fp) += 1;
        f(double(scores[order[i]]), tp, fp);
        i = j;
    }
    return true;
}

}  // namespace detail

inline double youden_threshold(const std::vector<float>& scores, const std::vector<float>& labels) {
    double positives = 0, negatives = 0, best_j = -2, best = std::numeric_limits<double>::quiet_NaN();
    detail::for_each_threshold(scores, labels, positives, negatives, [&](double t, double tp, double fp) {
        const double j = tp / positives - fp / negatives;
        if (j > best_j) best_j = j, best = t;  // strict: ties keep the higher threshold
    });
    return best;
}

inline double sensitivity_threshold(const std::vector<float>& scores, const std::vector<float>& labels,
                                    double target) {
    AGCNN_CHECK(target > 0 && target <= 1, "target sensitivity ", target, " outside (0, 1]");
    double positives = 0, negatives = 0, found = std::numeric_limits<double>::quiet_NaN();
    detail::for_each_threshold(scores, labels, positives, negatives, [&](double t, double tp, double) {
        if (std::isnan(found) && tp / positives >= target) found = t;
    });
    return found;
}

}  // namespace agcnn::metrics
