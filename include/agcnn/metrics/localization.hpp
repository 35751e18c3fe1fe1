// agcnn/metrics/localization.hpp — how often a predicted box hits an annotated one, as Wang et
// al. (ChestX-ray8, CVPR 2017, section 4.2) report it on BBox_List_2017.csv:
//   IoU  = area(pred ∩ truth) / area(pred ∪ truth)
//   IoBB = area(pred ∩ truth) / area(pred)   (intersection over the predicted bounding box)
// A localisation is correct when the ratio exceeds the threshold T; accuracy is the fraction of
// annotated boxes (per disease, and over all of them) that are correct, for T = 0.1 ... 0.7.
// AG-CNN predicts one class-agnostic box per image (its attention box), compared with every
// annotated box of that image.
// Beside them, what matters for AG-CNN's local branch: whether its crop holds the lesion, i.e.
// at least half of the annotated box lies inside the attention box (area(pred ∩ truth) /
// area(truth) >= 0.5). IoBB cannot say it: a nodule can never fill a tenth of a crop.
#pragma once

#include <algorithm>
#include <array>
#include <map>
#include <string>

#include "agcnn/core/geometry.hpp"

namespace agcnn::metrics {

// Boxes here are in source-image pixels.
inline double intersection_area(const Box& a, const Box& b) {
    const double w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
    const double h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
    return w > 0 && h > 0 ? w * h : 0.0;
}

inline double iou(const Box& pred, const Box& truth) {
    const double inter = intersection_area(pred, truth);
    const double uni = pred.area() + truth.area() - inter;
    return uni > 0 ? inter / uni : 0.0;
}

// The share of box `part`'s area that lies inside box `whole` (0 for an empty `part`).
inline double share_inside(const Box& part, const Box& whole) {
    const double area = part.area();
    return area > 0 ? intersection_area(part, whole) / area : 0.0;
}

// IoBB: the share of the predicted box inside the annotated one.
inline double iobb(const Box& pred, const Box& truth) { return share_inside(pred, truth); }

// The share of the annotated box inside the predicted one.
inline double truth_inside(const Box& pred, const Box& truth) { return share_inside(truth, pred); }
constexpr double kHeldShare = 0.5;  // "the crop holds the lesion"

constexpr std::array<double, 7> kLocalizationThresholds = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7};

// Hit counts per threshold for one group of boxes (a disease, or all).
struct HitCounts {
    int boxes = 0;
    std::array<int, 7> iou_hits{}, iobb_hits{};
    int held = 0;  // annotated boxes at least kHeldShare inside the predicted box

    void add(const Box& pred, const Box& truth) {
        ++boxes;
        held += truth_inside(pred, truth) >= kHeldShare;
        const double u = iou(pred, truth), b = iobb(pred, truth);
        for (std::size_t t = 0; t < kLocalizationThresholds.size(); ++t) {
            iou_hits[t] += u > kLocalizationThresholds[t];
            iobb_hits[t] += b > kLocalizationThresholds[t];
        }
    }
    double iou_rate(std::size_t t) const { return boxes ? double(iou_hits[t]) / boxes : 0.0; }
    double iobb_rate(std::size_t t) const { return boxes ? double(iobb_hits[t]) / boxes : 0.0; }
    double held_rate() const { return boxes ? double(held) / boxes : 0.0; }
};

// Per disease (by name) and overall.
struct LocalizationResult {
    std::map<std::string, HitCounts> per_disease;
    HitCounts overall;

    void add(const std::string& disease, const Box& pred, const Box& truth) {
        per_disease[disease].add(pred, truth);
        overall.add(pred, truth);
    }
};

}  // namespace agcnn::metrics
