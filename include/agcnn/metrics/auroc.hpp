// agcnn/metrics/auroc.hpp — exact area under the ROC curve, and the ROC curve itself.
//
// AUROC = P(score of a random positive > score of a random negative) + 0.5 P(equal), computed
// with the Mann-Whitney U statistic over mid-ranks (tied scores share the mean of their ranks):
//   AUC = (sum of positive ranks - P (P + 1) / 2) / (P N)
// which equals sklearn.metrics.roc_auc_score (trapezoids through tied points). O(n log n).
// A class with no positive or no negative sample has no AUROC: NaN, and means skip it.
//
// Non-finite scores: infinities are ordered as numbers (+Inf above every finite score, -Inf
// below, equal infinities tie). A NaN score has no rank, so scores with any NaN have no AUROC
// and no ROC curve: auroc() is NaN and roc_curve() is the single point (0, 0), as for a class
// without positives. Callers tell the two cases apart with count_nan() and warn (a NaN score
// means the model diverged or its weights hold NaN). Either function always returns, in
// O(n log n): NaN is never compared in a sort or a tie loop.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::metrics {

// How many of `scores` are NaN.
inline std::size_t count_nan(const std::vector<float>& scores) {
    return static_cast<std::size_t>(std::count_if(scores.begin(), scores.end(), [](float s) { return std::isnan(s); }));
}

// scores and labels (0 or 1) of equal length; NaN when a score is NaN or a class is missing.
inline double auroc(const std::vector<float>& scores, const std::vector<float>& labels) {
    AGCNN_CHECK(scores.size() == labels.size(), "auroc: ", scores.size(), " scores but ",
                labels.size(), " labels");
    if (count_nan(scores) > 0) return std::numeric_limits<double>::quiet_NaN();
    const std::size_t n = scores.size();
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    double positive_rank_sum = 0, positives = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j < n && scores[order[j]] == scores[order[i]]) ++j;
        const double mid_rank = 0.5 * double(i + 1 + j);  // mean of ranks i+1 .. j
        for (std::size_t k = i; k < j; ++k)
            if (labels[order[k]] > 0.5f) positive_rank_sum += mid_rank, positives += 1;
        i = j;
    }
    const double negatives = double(n) - positives;
    if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
    return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

// Mean of the values that are not NaN (NaN when there are none).
inline double nan_mean(const std::vector<double>& values) {
    double sum = 0;
    int count = 0;
    for (double v : values)
        if (!std::isnan(v)) sum += v, ++count;
    return count ? sum / count : std::numeric_limits<double>::quiet_NaN();
}

struct RocPoint {
    double fpr, tpr;
};

// The ROC curve from (0, 0) to (1, 1), one point per distinct score threshold (high to low);
// only (0, 0) when a score is NaN or a class is missing.
inline std::vector<RocPoint> roc_curve(const std::vector<float>& scores,
                                       const std::vector<float>& labels) {
    AGCNN_CHECK(scores.size() == labels.size(), "roc_curve: sizes differ");
    if (count_nan(scores) > 0) return {{0, 0}};
    std::vector<std::size_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    double positives = 0;
    for (float l : labels) positives += l > 0.5f;
    const double negatives = double(scores.size()) - positives;
    std::vector<RocPoint> curve{{0, 0}};
    if (positives == 0 || negatives == 0) return curve;
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j)
            (labels[order[j]] > 0.5f ? tp : fp) += 1;
        curve.push_back({fp / negatives, tp / positives});
        i = j;
    }
    return curve;
}

}  // namespace agcnn::metrics
