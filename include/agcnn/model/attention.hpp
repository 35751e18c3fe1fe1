// agcnn/model/attention.hpp — AG-CNN's attention: from the global branch's last conv output to a
// bounding box on the network input (Guan et al. 2018, section 3.2, equations 1-2).
//
//   1. H(x, y) = statistic over the C channels of |f_k(x, y)|: max (the paper's choice), L1
//      (sum) or L2 (root of the sum of squares), on the h x w grid (7 x 7 for a 224 input).
//   2. Scaled to [0, 1] per image: (H - min) / (max - min). A constant map carries no
//      information; it becomes all ones, so the box is the whole input (the local branch then
//      sees the whole image, never an empty crop).
//   3. Resized to the input size S x S, bilinear with half-pixel centres and edge clamping
//      (PyTorch's F.interpolate(mode="bilinear", align_corners=False), OpenCV's INTER_LINEAR).
//   4. Mask M = H > tau (tau = 0.7 in the paper). When no pixel passes (tau at or above the
//      resized map's maximum), the mask is the first maximal pixel in row-major order, so a
//      region always exists.
//   5. The largest 8-connected region of M (ties: the one whose first pixel in row-major order
//      comes first), and its bounding box, half-open in input pixels:
//      x in [x0, x1), y in [y0, y1), 0 <= x0 < x1 <= S. A one-pixel region gives a 1 x 1 box;
//      a region touching the border gives a box clipped to the input by construction.
// The crop itself (from the highest-resolution source, through data::CropGeometry) is the
// data layer's job; this file only computes where.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "agcnn/backend/types.hpp"
#include "agcnn/core/geometry.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::model {

struct AttentionOptions {
    double tau = 0.7;
    HeatmapStatistic statistic = HeatmapStatistic::max;
};

// Everything the attention computed for one image (row-major S x S maps).
struct Attention {
    int size = 0;                      // S
    std::vector<float> heatmap;        // step 3, in [0, 1]
    std::vector<std::uint8_t> mask;    // step 4 (1 where H > tau)
    std::vector<std::uint8_t> region;  // step 5, the largest region (subset of mask)
    Box box;
};

// Step 1 for one image: features [h, w, c] (row-major, channels last) -> h * w values.
inline std::vector<float> channel_statistic(const float* features, int h, int w, std::int64_t c,
                                            HeatmapStatistic statistic) {
    std::vector<float> out(static_cast<std::size_t>(h) * w);
    for (std::size_t p = 0; p < out.size(); ++p) {
        const float* f = features + static_cast<std::int64_t>(p) * c;
        double value = 0;
        for (std::int64_t k = 0; k < c; ++k) {
            const double a = std::fabs(double(f[k]));
            if (statistic == HeatmapStatistic::max)
                value = std::max(value, a);
            else
                value += statistic == HeatmapStatistic::l1 ? a : a * a;
        }
        out[p] = static_cast<float>(statistic == HeatmapStatistic::l2 ? std::sqrt(value) : value);
    }
    return out;
}

// Step 2, in place.
inline void scale_to_unit(std::vector<float>& map) {
    AGCNN_CHECK(!map.empty(), "attention: empty heatmap");
    const auto [lo, hi] = std::minmax_element(map.begin(), map.end());
    const float low = *lo, range = *hi - *lo;
    for (float& v : map) v = range > 0 ? (v - low) / range : 1.0f;
}

// Step 3: src h x w -> out_h x out_w, half-pixel centres, clamped at the edges.
inline std::vector<float> resize_bilinear(const std::vector<float>& src, int h, int w, int out_h,
                                          int out_w) {
    AGCNN_CHECK(h > 0 && w > 0 && out_h > 0 && out_w > 0 &&
                    src.size() == static_cast<std::size_t>(h) * w,
                "resize_bilinear: bad sizes ", h, "x", w, " -> ", out_h, "x", out_w);
    auto axis = [](int out_index, int out_len, int in_len, int& i0, int& i1, float& t) {
        double s = (out_index + 0.5) * in_len / out_len - 0.5;
        s = std::clamp(s, 0.0, double(in_len - 1));
        i0 = static_cast<int>(std::floor(s));
        i1 = std::min(i0 + 1, in_len - 1);
        t = static_cast<float>(s - i0);
    };
    std::vector<float> out(static_cast<std::size_t>(out_h) * out_w);
    for (int v = 0; v < out_h; ++v) {
        int y0, y1;
        float ty;
        axis(v, out_h, h, y0, y1, ty);
        for (int u = 0; u < out_w; ++u) {
            int x0, x1;
            float tx;
            axis(u, out_w, w, x0, x1, tx);
            const float top = src[y0 * w + x0] * (1 - tx) + src[y0 * w + x1] * tx;
            const float bottom = src[y1 * w + x0] * (1 - tx) + src[y1 * w + x1] * tx;
            out[static_cast<std::size_t>(v) * out_w + u] = top * (1 - ty) + bottom * ty;
        }
    }
    return out;
}

// Step 4.
inline std::vector<std::uint8_t> threshold_mask(const std::vector<float>& heatmap, double tau) {
    std::vector<std::uint8_t> mask(heatmap.size());
    bool any = false;
    for (std::size_t i = 0; i < heatmap.size(); ++i) any |= (mask[i] = heatmap[i] > tau) != 0;
    if (!any && !heatmap.empty())
        mask[static_cast<std::size_t>(std::max_element(heatmap.begin(), heatmap.end()) -
                                      heatmap.begin())] = 1;
    return mask;
}

// Step 5a: the largest 8-connected region of a w x h mask (1 inside, 0 outside).
inline std::vector<std::uint8_t> largest_region(const std::vector<std::uint8_t>& mask, int w,
                                                int h) {
    std::vector<int> label(mask.size(), 0);
    std::vector<int> stack;
    int best_label = 0, next_label = 0;
    std::size_t best_size = 0;
    for (int start = 0; start < w * h; ++start) {
        if (!mask[start] || label[start]) continue;
        const int id = ++next_label;
        std::size_t size = 0;
        label[start] = id;
        stack.assign(1, start);
        while (!stack.empty()) {
            const int p = stack.back();
            stack.pop_back();
            ++size;
            const int px = p % w, py = p / w;
            for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx) {
                    const int qx = px + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
                    const int q = qy * w + qx;
                    if (mask[q] && !label[q]) {
                        label[q] = id;
                        stack.push_back(q);
                    }
                }
        }
        if (size > best_size) best_size = size, best_label = id;
    }
    std::vector<std::uint8_t> region(mask.size(), 0);
    for (std::size_t i = 0; i < mask.size(); ++i) region[i] = best_label && label[i] == best_label;
    return region;
}

// Step 5b: the bounding box of the nonzero pixels of a w x h map (which must have one).
inline Box bounding_box(const std::vector<std::uint8_t>& region, int w, int h) {
    int x0 = w, y0 = h, x1 = 0, y1 = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (region[static_cast<std::size_t>(y) * w + x]) {
                x0 = std::min(x0, x), x1 = std::max(x1, x + 1);
                y0 = std::min(y0, y), y1 = std::max(y1, y + 1);
            }
    AGCNN_CHECK(x1 > x0, "attention: bounding box of an empty region");
    return {double(x0), double(y0), double(x1), double(y1)};
}

// Steps 1-5 for one image's features [h, w, c] and an input of size x size pixels.
inline Attention attend(const float* features, int h, int w, std::int64_t c, int size,
                        const AttentionOptions& options) {
    AGCNN_CHECK(options.tau >= 0 && options.tau < 1, "attention: tau must be in [0, 1), got ",
                options.tau);
    std::vector<float> coarse = channel_statistic(features, h, w, c, options.statistic);
    scale_to_unit(coarse);
    Attention a;
    a.size = size;
    a.heatmap = resize_bilinear(coarse, h, w, size, size);
    a.mask = threshold_mask(a.heatmap, options.tau);
    a.region = largest_region(a.mask, size, size);
    a.box = bounding_box(a.region, size, size);
    return a;
}

// Every image of a batch: features [N, h, w, C] on any device, input of size x size pixels.
inline std::vector<Attention> attend_batch(const Tensor& features, int size,
                                           const AttentionOptions& options) {
    check_rank(features, 4, "attention features");
    const Tensor host = features.device().is_cpu() ? features : features.to(Device::cpu());
    const int h = static_cast<int>(host.dim(1)), w = static_cast<int>(host.dim(2));
    const std::int64_t c = host.dim(3), per_image = h * w * c;
    std::vector<Attention> out;
    for (std::int64_t i = 0; i < host.dim(0); ++i)
        out.push_back(attend(host.data() + i * per_image, h, w, c, size, options));
    return out;
}

}  // namespace agcnn::model
