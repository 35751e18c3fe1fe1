// kernels/math/types.hpp — plain types shared by the CUDA launchers, the kernel math and the
// callers (no CUDA, no Eigen).
#pragma once

#include <cstdint>

namespace agcnn::cuda {

// Arithmetic used by convolutions and matrix products (everything else is always FP32).
//   fp32: true FP32 (cuDNN CUDNN_FMA_MATH, cuBLAS default math): results match the CPU.
//   tf32: TF32 tensor cores, FP32 storage (about 1e-3 relative error).
//   bf16: operands rounded to bfloat16 for conv and linear, FP32 accumulation, FP32 storage of
//         activations, weights, gradients and optimizer state (about 1e-2 relative error).
enum class Precision { fp32, tf32, bf16 };

// The statistic of |f| over channels for the attention heatmap (model/attention.hpp, step 1).
enum class HeatmapStatistic { max, l1, l2 };

// A crop box on a source image, half-open in pixels: x0 <= x < x1, y0 <= y < y1 (the layout of
// model::Box).
struct CropBox {
    std::int32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Per-channel ImageNet-style normalisation, y = (x / 255 - mean[c]) / std[c], for up to four
// channels (images are 1 or 3 channels).
constexpr int kMaxImageChannels = 4;
struct ImageNormalization {
    float mean[kMaxImageChannels] = {0, 0, 0, 0};
    float std[kMaxImageChannels] = {1, 1, 1, 1};
};

}  // namespace agcnn::cuda
