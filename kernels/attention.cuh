// kernels/attention.cuh — AG-CNN's attention heatmap over channels and the bilinear
// crop-and-resize that feeds the local branch (model/attention.hpp is the specification; the
// arithmetic is in math/attention_math.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "agcnn/backend/cuda.hpp"
#include "kernels/math/attention_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

constexpr int kWarp = 32;

// One warp per position: heat[p] = statistic over c of |features[p, c]|. The lanes reduce
// strided channels, then merge in a butterfly (every lane ends with the same value).
__global__ void heatmap_kernel(float* heat, const float* features, std::int64_t positions,
                               std::int64_t c, HeatmapStatistic statistic) {
    const std::int64_t p = thread_index() / kWarp;
    const int lane = threadIdx.x % kWarp;
    if (p >= positions) return;  // whole warps leave together: positions are per warp
    double acc = math::heatmap_lane(features + p * c, c, lane, kWarp, statistic);
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        acc = math::heatmap_merge(acc, __shfl_xor_sync(0xffffffffu, acc, offset), statistic);
    if (lane == 0) heat[p] = math::heatmap_finish(acc, statistic);
}

__global__ void crop_resize_kernel(float* y, const float* x, const Box* boxes, std::int64_t h,
                                   std::int64_t w, std::int64_t c, std::int64_t oh,
                                   std::int64_t ow, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) y[i] = math::crop_resize_output(x, boxes, h, w, c, oh, ow, i);
}

// ---- kernel launchers -----------------------------------------------------------------------

void attention_heatmap(float* heat, const float* features, std::int64_t n, std::int64_t hw,
                       std::int64_t c, HeatmapStatistic statistic) {
    AGCNN_CHECK(heat && features && n >= 0 && hw >= 0 && c > 0, "attention_heatmap: bad sizes");
    static_assert(kBlock % kWarp == 0, "blocks must hold whole warps");
    launch(heatmap_kernel, n * hw * kWarp, device_of(features), heat, features, n * hw, c,
           statistic);
}

void crop_resize(float* y, const float* x, const Box* boxes_host, std::int64_t n,
                 std::int64_t h, std::int64_t w, std::int64_t c, std::int64_t oh,
                 std::int64_t ow) {
    AGCNN_CHECK(y && x && boxes_host && n >= 0 && c > 0 && oh > 0 && ow > 0,
                "crop_resize: bad sizes");
    for (std::int64_t i = 0; i < n; ++i) {
        const Box& b = boxes_host[i];
        AGCNN_CHECK(b.x0 == std::floor(b.x0) && b.y0 == std::floor(b.y0) &&
                        b.x1 == std::floor(b.x1) && b.y1 == std::floor(b.y1),
                    "crop_resize: box ", i, " has fractional edges");
        AGCNN_CHECK(0 <= b.x0 && b.x0 < b.x1 && b.x1 <= w && 0 <= b.y0 && b.y0 < b.y1 && b.y1 <= h,
                    "crop_resize: box ", i, " [", b.x0, ", ", b.x1, ") x [", b.y0, ", ", b.y1,
                    ") is empty or outside the ", w, "x", h, " image");
    }
    if (n == 0) return;
    const int device = device_of(x);
    Scratch boxes(static_cast<std::size_t>(n) * sizeof(Box), device);
    upload(boxes.as<void>(), boxes_host, static_cast<std::size_t>(n) * sizeof(Box), device);
    launch(crop_resize_kernel, n * oh * ow * c, device, y, x, boxes.as<const Box>(), h, w, c,
           oh, ow, n * oh * ow * c);
}

}  // namespace agcnn::cuda
