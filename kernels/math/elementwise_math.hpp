// kernels/math/elementwise_math.hpp — per-element arithmetic of relu, sigmoid and concat
// (the specification is ops/relu.hpp, ops/sigmoid.hpp, ops/concat.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/math/hd.hpp"

namespace agcnn::cuda::math {

AGCNN_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }

// PyTorch's convention: the gradient at 0 is 0.
AGCNN_HD float relu_grad(float dy, float y) { return y > 0.0f ? dy : 0.0f; }

// Stable for any x: exp is only taken of a non-positive number (as cpu::sigmoid_scalar).
AGCNN_HD float sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

AGCNN_HD float sigmoid_grad(float dy, float y) { return dy * y * (1.0f - y); }

// Where output element i of concat([rows, ca], [rows, cb]) comes from.
struct ConcatSource {
    bool from_a;
    std::int64_t index;  // into a [rows, ca] or b [rows, cb]
};

AGCNN_HD ConcatSource concat_source(std::int64_t i, std::int64_t ca, std::int64_t cb) {
    const std::int64_t row = i / (ca + cb), col = i % (ca + cb);
    if (col < ca) return {true, row * ca + col};
    return {false, row * cb + (col - ca)};
}

}  // namespace agcnn::cuda::math
