// agcnn/backend/types.hpp — plain types shared by the layers above and the CUDA backend that
// implements backend/cuda.hpp (no CUDA, no Eigen).
#pragma once

#include <cstdint>
#include <string>

#include "agcnn/core/error.hpp"

namespace agcnn {

// Arithmetic used by convolutions and matrix products (everything else is always FP32).
//   fp32: true FP32 (cuDNN CUDNN_FMA_MATH, cuBLAS default math): results match the CPU.
//   tf32: TF32 tensor cores, FP32 storage (about 1e-3 relative error).
//   bf16: operands rounded to bfloat16 for conv and linear, FP32 accumulation, FP32 storage of
//         activations, weights, gradients and optimizer state (about 1e-2 relative error).
enum class Precision { fp32, tf32, bf16 };

// The statistic of |f| over channels for the attention heatmap (model/attention.hpp, step 1):
// max (the paper's choice), l1 (sum) or l2 (root of the sum of squares).
enum class HeatmapStatistic { max, l1, l2 };

inline HeatmapStatistic parse_heatmap_statistic(const std::string& text) {
    if (text == "max") return HeatmapStatistic::max;
    if (text == "l1") return HeatmapStatistic::l1;
    if (text == "l2") return HeatmapStatistic::l2;
    throw Error("bad heatmap statistic '" + text + "': expected max, l1 or l2");
}

inline const char* heatmap_statistic_name(HeatmapStatistic s) {
    return s == HeatmapStatistic::max ? "max" : s == HeatmapStatistic::l1 ? "l1" : "l2";
}

// Per-channel ImageNet-style normalisation, y = (x / 255 - mean[c]) / std[c], for up to four
// channels (images are 1 or 3 channels).
constexpr int kMaxImageChannels = 4;
struct ImageNormalization {
    float mean[kMaxImageChannels] = {0, 0, 0, 0};
    float std[kMaxImageChannels] = {1, 1, 1, 1};
};

}  // namespace agcnn
