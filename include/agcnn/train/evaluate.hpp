// agcnn/train/evaluate.hpp — AUROC of the AG-CNN branches over a split, and how often the
// attention box hits the annotated boxes.
//
// Scores are sigmoid probabilities; AUROC per label is exact (metrics/auroc.hpp); the headline
// mean is over the 14 diseases (No Finding is reported beside it, not in the mean), skipping a
// disease without positives or negatives in the split.
// Attention boxes are mapped from input pixels to source-image pixels through the batch's
// CropGeometry (a flipped input flips the box back), the frame of BBox_List_2017.csv.
#pragma once

#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/data/labels.hpp"
#include "agcnn/metrics/auroc.hpp"
#include "agcnn/metrics/localization.hpp"
#include "agcnn/train/branches.hpp"

namespace agcnn::train {

enum class Branch { global, local, fusion };
constexpr Branch kBranches[] = {Branch::global, Branch::local, Branch::fusion};
inline const char* branch_name(Branch b) {
    return b == Branch::global ? "global" : b == Branch::local ? "local" : "fusion";
}

// Probabilities and labels of one split, row-major [n, 15].
struct Scores {
    std::vector<float> probabilities, labels;
    std::int64_t rows() const { return static_cast<std::int64_t>(labels.size()) / data::kLabelCount; }

    void append(const Tensor& logits, const Tensor& targets) {
        const std::vector<float> l = logits.to_vector(), t = targets.to_vector();
        for (float x : l) probabilities.push_back(1.0f / (1.0f + std::exp(-x)));
        labels.insert(labels.end(), t.begin(), t.end());
    }
    std::vector<float> column(const std::vector<float>& values, int k) const {
        std::vector<float> out;
        for (std::int64_t i = 0; i < rows(); ++i) out.push_back(values[i * data::kLabelCount + k]);
        return out;
    }
    // AUROC of each of the 15 labels (NaN where undefined).
    std::array<double, data::kLabelCount> auroc() const {
        std::array<double, data::kLabelCount> out{};
        for (int k = 0; k < data::kLabelCount; ++k)
            out[k] = metrics::auroc(column(probabilities, k), column(labels, k));
        return out;
    }
    double mean_auroc() const {
        const auto all = auroc();
        return metrics::nan_mean(std::vector<double>(all.begin(), all.begin() + data::kDiseaseCount));
    }
};

// The attention box of input pixels in source-image pixels.
inline Box box_in_source(const Box& box, const data::CropGeometry& g) {
    const double sx = g.width / g.input_size, sy = g.height / g.input_size;
    const double u0 = g.hflip ? g.input_size - box.x1 : box.x0;
    return Box::from_xywh(g.x0 + u0 * sx, g.y0 + box.y0 * sy, box.width() * sx, box.height() * sy);
}

struct Evaluation {
    std::map<Branch, Scores> scores;
    std::vector<std::string> names;
    std::map<std::string, Box> attention_boxes;  // by image name, source pixels
    metrics::LocalizationResult localization;
    bool has_localization = false;
};

// Runs the three branches over a whole split in eval mode. `on_batch` (optional) sees every
// batch's outputs (prediction pictures); `local_attention` also computes the local branch's
// heatmaps for it.
inline Evaluation evaluate(model::AgCnn& net, DataSource& data, Split split, int batch_size,
                           const model::AttentionOptions& options, Device device,
                           const std::function<void(const data::Batch&, const BranchOutputs&)>&
                               on_batch = {},
                           bool local_attention = false) {
    Evaluation result;
    auto reader = data.epoch(split, 0, batch_size, 0);
    while (auto batch = reader->next()) {
        const BranchOutputs out = infer(net, *batch, data, options, device, local_attention);
        result.scores[Branch::global].append(out.global_logits, batch->labels);
        result.scores[Branch::local].append(out.local_logits, batch->labels);
        result.scores[Branch::fusion].append(out.fusion_logits, batch->labels);
        for (std::size_t i = 0; i < batch->names.size(); ++i) {
            result.names.push_back(batch->names[i]);
            result.attention_boxes[batch->names[i]] =
                box_in_source(out.attention[i].box, batch->geometry[i]);
        }
        if (on_batch) on_batch(*batch, out);
    }
    for (const AnnotatedBox& truth : data.annotated_boxes()) {
        const auto it = result.attention_boxes.find(truth.image);
        if (it == result.attention_boxes.end()) continue;
        result.localization.add(truth.disease, it->second, truth.box);
        result.has_localization = true;
    }
    return result;
}

inline nlohmann::ordered_json auroc_json(const Scores& scores) {
    nlohmann::ordered_json per_label = nlohmann::ordered_json::object();
    const auto values = scores.auroc();
    for (int k = 0; k < data::kLabelCount; ++k)
        per_label[std::string(data::kLabelNames[k])] =
            std::isnan(values[k]) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(values[k]);
    const double mean = scores.mean_auroc();
    return {{"mean_auroc", std::isnan(mean) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(mean)},
            {"auroc", per_label}};
}

inline nlohmann::ordered_json localization_json(const metrics::LocalizationResult& loc) {
    auto group = [](const metrics::HitCounts& h) {
        nlohmann::ordered_json iou = nlohmann::ordered_json::object(), iobb = nlohmann::ordered_json::object();
        for (std::size_t t = 0; t < metrics::kLocalizationThresholds.size(); ++t) {
            char key[8];
            std::snprintf(key, sizeof key, "%.1f", metrics::kLocalizationThresholds[t]);
            iou[key] = h.iou_rate(t);
            iobb[key] = h.iobb_rate(t);
        }
        return nlohmann::ordered_json{{"boxes", h.boxes}, {"iou", iou}, {"iobb", iobb}};
    };
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (const auto& [disease, counts] : loc.per_disease) per[disease] = group(counts);
    return {{"overall", group(loc.overall)}, {"per_disease", per}};
}

// {"global": {"mean_auroc": x, "auroc": {...}}, "local": ..., "fusion": ...,
//  "localization": {...} (only when boxes exist)}, keys in that order, labels in label order.
inline nlohmann::ordered_json results_json(const Evaluation& e) {
    nlohmann::ordered_json j;
    for (Branch b : kBranches) j[branch_name(b)] = auroc_json(e.scores.at(b));
    if (e.has_localization) j["localization"] = localization_json(e.localization);
    return j;
}

}  // namespace agcnn::train
