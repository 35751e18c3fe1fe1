// agcnn/app/split_evaluation.hpp — the three AG-CNN branches over a whole split: AUROC per
// branch, and how often the attention box hits the annotated boxes.
//
// Every batch runs model::forward in inference (all branches frozen). Attention boxes are mapped
// from input pixels to source-image pixels through the batch's CropGeometry (a flipped input
// flips the box back), the frame of BBox_List_2017.csv.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/data/local_crop.hpp"
#include "agcnn/data/transforms.hpp"
#include "agcnn/metrics/localization.hpp"
#include "agcnn/metrics/scores.hpp"
#include "agcnn/ops/cpu/packed_filters.hpp"
#include "agcnn/model/forward.hpp"
#include "agcnn/train/data_source.hpp"

namespace agcnn::app {

using model::Branch;
using train::Split;

using data::box_in_source;

struct Evaluation {
    std::map<Branch, metrics::Scores> scores;
    std::vector<std::string> names;
    std::map<std::string, Box> attention_boxes;  // by image name, source pixels
    metrics::LocalizationResult localization;
    bool has_localization = false;
};

// Runs the three branches over a whole split in eval mode. `on_batch` (optional) sees every
// batch's outputs (prediction pictures); `local_attention` also computes the local branch's
// heatmaps for it.
inline Evaluation evaluate_split(model::AgCnn& net, train::DataSource& data, Split split, int batch_size,
                                 const model::AttentionOptions& options, Device device,
                                 const std::function<void(const data::Batch&, const model::AgCnnOutputs&)>&
                                     on_batch = {},
                                 bool local_attention = false) {
    Evaluation result;
    const model::ForwardOptions inference{options, device, std::nullopt, Branch::fusion, local_attention};
    cpu::PackedFilters packed;  // the model's filters, packed once for the whole split
    cpu::PackedFiltersScope packed_scope(packed);
    auto reader = data.epoch(split, 0, batch_size, 0);
    while (auto batch = reader->next()) {
        const model::AgCnnOutputs out = model::forward(net, batch->images, train::crop_from(data, *batch), inference);
        for (Branch b : model::kBranches) result.scores[b].append(out.logits(b), batch->labels);
        for (std::size_t i = 0; i < batch->names.size(); ++i) {
            result.names.push_back(batch->names[i]);
            result.attention_boxes[batch->names[i]] =
                box_in_source(out.attention[i].box, batch->geometry[i]);
        }
        if (on_batch) on_batch(*batch, out);
    }
    for (const train::AnnotatedBox& truth : data.annotated_boxes()) {
        const auto it = result.attention_boxes.find(truth.image);
        if (it == result.attention_boxes.end()) continue;
        result.localization.add(truth.disease, it->second, truth.box);
        result.has_localization = true;
    }
    return result;
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
        return nlohmann::ordered_json{{"boxes", h.boxes}, {"iou", iou}, {"iobb", iobb}, {"held", h.held_rate()}};
    };
    nlohmann::ordered_json per = nlohmann::ordered_json::object();
    for (const auto& [disease, counts] : loc.per_disease) per[disease] = group(counts);
    return {{"overall", group(loc.overall)}, {"per_disease", per}};
}

// {"global": {"mean_auroc": x, "auroc": {...}}, "local": ..., "fusion": ...,
//  "localization": {...} (only when boxes exist)}, keys in that order, labels in label order.
inline nlohmann::ordered_json results_json(const Evaluation& e) {
    nlohmann::ordered_json j;
    for (Branch b : model::kBranches) j[model::branch_name(b)] = metrics::auroc_json(e.scores.at(b));
    if (e.has_localization) j["localization"] = localization_json(e.localization);
    return j;
}

}  // namespace agcnn::app
