// agcnn/metrics/scores.hpp — one branch's probabilities and labels over a split, and their
// per-label AUROC.
//
// Scores are sigmoid probabilities; AUROC per label is exact (metrics/auroc.hpp); the headline
// mean is over the 14 diseases (No Finding is reported beside it, not in the mean), skipping a
// disease without positives or negatives in the split. NaN probabilities (a diverged model, NaN
// weights) give NaN for their label (metrics/auroc.hpp) and a NaN mean: a model that is partly
// NaN has no headline figure. nan_scores() counts them, for the caller's warning or stop.
#pragma once

#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/core/tensor.hpp"
#include "agcnn/metrics/auroc.hpp"
#include "agcnn/model/labels.hpp"

namespace agcnn::metrics {

// Probabilities and labels of one split, row-major [n, 15].
struct Scores {
    std::vector<float> probabilities, labels;
    std::int64_t rows() const { return static_cast<std::int64_t>(labels.size()) / model::kLabelCount; }

    // logits, targets [B, 15] on any device.
    void append(const Tensor& logits, const Tensor& targets) {
        const std::vector<float> l = logits.to_vector(), t = targets.to_vector();
        for (float x : l) probabilities.push_back(1.0f / (1.0f + std::exp(-x)));
        labels.insert(labels.end(), t.begin(), t.end());
    }
    std::vector<float> column(const std::vector<float>& values, int k) const {
        std::vector<float> out;
        for (std::int64_t i = 0; i < rows(); ++i) out.push_back(values[i * model::kLabelCount + k]);
        return out;
    }
    // AUROC of each of the 15 labels (NaN where undefined).
    std::array<double, model::kLabelCount> auroc() const {
        std::array<double, model::kLabelCount> out{};
        for (int k = 0; k < model::kLabelCount; ++k)
            out[k] = metrics::auroc(column(probabilities, k), column(labels, k));
        return out;
    }
    // How many probabilities are NaN (0 for a sound model).
    std::size_t nan_scores() const { return count_nan(probabilities); }
    // Mean AUROC over the 14 diseases; NaN when any probability is NaN.
    double mean_auroc() const {
        if (nan_scores() > 0) return std::numeric_limits<double>::quiet_NaN();
        const auto all = auroc();
        return nan_mean(std::vector<double>(all.begin(), all.begin() + model::kDiseaseCount));
    }
};

// {"mean_auroc": x, "auroc": {"Atelectasis": x, ...}}, labels in label order, null for NaN.
inline nlohmann::ordered_json auroc_json(const Scores& scores) {
    nlohmann::ordered_json per_label = nlohmann::ordered_json::object();
    const auto values = scores.auroc();
    for (int k = 0; k < model::kLabelCount; ++k)
        per_label[std::string(model::kLabelNames[k])] =
            std::isnan(values[k]) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(values[k]);
    const double mean = scores.mean_auroc();
    return {{"mean_auroc", std::isnan(mean) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(mean)},
            {"auroc", per_label}};
}

}  // namespace agcnn::metrics
