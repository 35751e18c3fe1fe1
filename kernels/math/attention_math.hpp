// kernels/math/attention_math.hpp — the attention heatmap over channels and the bilinear
// crop-and-resize of the local branch's input (the specification is model/attention.hpp:
// channel_statistic, resize_bilinear).
#pragma once

#include <cmath>
#include <cstdint>

#include "agcnn/backend/types.hpp"
#include "agcnn/core/geometry.hpp"
#include "kernels/math/hd.hpp"

namespace agcnn::cuda::math {

// The heatmap of one position reduces |f| over C channels: lane t of `lanes` reduces channels
// t, t + lanes, ... (heatmap_lane); lanes are merged pairwise (heatmap_merge, a warp butterfly
// on the GPU); heatmap_finish turns the merged value into the statistic. Sums are in double,
// as the CPU reference.
AGCNN_HD double heatmap_merge(double a, double b, HeatmapStatistic statistic) {
    if (statistic == HeatmapStatistic::max) return a > b ? a : b;
    return a + b;
}

AGCNN_HD double heatmap_lane(const float* f, std::int64_t c, int lane, int lanes,
                             HeatmapStatistic statistic) {
    double acc = 0.0;
    for (std::int64_t k = lane; k < c; k += lanes) {
        const double a = fabs(double(f[k]));
        acc = heatmap_merge(acc, statistic == HeatmapStatistic::l2 ? a * a : a, statistic);
    }
    return acc;
}

AGCNN_HD float heatmap_finish(double merged, HeatmapStatistic statistic) {
    return static_cast<float>(statistic == HeatmapStatistic::l2 ? sqrt(merged) : merged);
}

// One axis of a bilinear resize with half-pixel centres, clamped at the edges (PyTorch's
// align_corners=False): output index `o` of `out_len` samples input indices i0, i1 of `in_len`
// with weight t on i1.
AGCNN_HD void bilinear_axis(std::int64_t o, std::int64_t out_len, std::int64_t in_len,
                            std::int64_t& i0, std::int64_t& i1, float& t) {
    double s = (double(o) + 0.5) * double(in_len) / double(out_len) - 0.5;
    if (s < 0.0) s = 0.0;
    if (s > double(in_len - 1)) s = double(in_len - 1);
    i0 = static_cast<std::int64_t>(floor(s));
    i1 = i0 + 1 < in_len ? i0 + 1 : in_len - 1;
    t = static_cast<float>(s - double(i0));
}

// Output element i = ((n*OH + oy)*OW + ox)*C + c of crop_resize: the crop boxes[n] of source
// image n ([H, W, C] inside x [N, H, W, C]) resized to OH x OW, as resizing the cropped image
// alone (the samples never reach outside the box).
AGCNN_HD float crop_resize_output(const float* x, const Box* boxes, std::int64_t h,
                                  std::int64_t w, std::int64_t c, std::int64_t oh,
                                  std::int64_t ow, std::int64_t i) {
    const std::int64_t k = i % c, ox = (i / c) % ow, oy = (i / (c * ow)) % oh,
                       n = i / (c * ow * oh);
    // Crop boxes have integer edges (Box's contract), so these conversions are exact.
    const std::int64_t bx0 = static_cast<std::int64_t>(boxes[n].x0),
                       by0 = static_cast<std::int64_t>(boxes[n].y0),
                       bx1 = static_cast<std::int64_t>(boxes[n].x1),
                       by1 = static_cast<std::int64_t>(boxes[n].y1);
    std::int64_t y0, y1, x0, x1;
    float ty, tx;
    bilinear_axis(oy, oh, by1 - by0, y0, y1, ty);
    bilinear_axis(ox, ow, bx1 - bx0, x0, x1, tx);
    const float* image = x + n * h * w * c;
    auto at = [&](std::int64_t yy, std::int64_t xx) {
        return image[((by0 + yy) * w + (bx0 + xx)) * c + k];
    };
    const float top = at(y0, x0) * (1 - tx) + at(y0, x1) * tx;
    const float bottom = at(y1, x0) * (1 - tx) + at(y1, x1) * tx;
    return top * (1 - ty) + bottom * ty;
}

}  // namespace agcnn::cuda::math
