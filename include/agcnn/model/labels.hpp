// agcnn/model/labels.hpp — the 15 outputs of AG-CNN: the 14 ChestX-ray14 diseases in the
// canonical order (Wang et al. 2017, and every CheXNet-style list file), then No Finding.
#pragma once

#include <array>
#include <cmath>
#include <string>
#include <string_view>

namespace agcnn::model {

constexpr int kDiseaseCount = 14;
constexpr int kLabelCount = 15;  // diseases + No Finding
constexpr int kNoFindingIndex = 14;

constexpr std::array<std::string_view, kLabelCount> kLabelNames = {
    "Atelectasis", "Cardiomegaly",  "Effusion", "Infiltration",       "Mass",
    "Nodule",      "Pneumonia",     "Pneumothorax", "Consolidation",  "Edema",
    "Emphysema",   "Fibrosis",      "Pleural_Thickening", "Hernia",   "No Finding"};

// Index of a label name, or -1 when unknown.
inline int label_index(std::string_view name) {
    for (int i = 0; i < kLabelCount; ++i)
        if (kLabelNames[static_cast<std::size_t>(i)] == name) return i;
    return -1;
}

// A label's probability from its logit (the sigmoid, in double so every output of agcnn that
// prints it, the CLI's and the embedding APIs', gives the same digits).
inline double probability(float logit) { return 1.0 / (1.0 + std::exp(-double(logit))); }

}  // namespace agcnn::model
