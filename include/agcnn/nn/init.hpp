// agcnn/nn/init.hpp — torchvision's weight initialisation, drawn from the engine's Rng.
//
// Conv: kaiming_normal_(mode='fan_out', nonlinearity='relu'), std = sqrt(2 / (O*KH*KW)).
// Linear: PyTorch's default, weight and bias ~ U(-1/sqrt(In), 1/sqrt(In)).
// BatchNorm: weight 1, bias 0, running mean 0, running var 1.
// (The numbers differ from PyTorch's, whose generator is another; the distributions are the same.)
#pragma once

#include <cmath>

#include "agcnn/core/rng.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::nn {

inline Tensor normal_tensor(const Shape& shape, double stddev, Rng& rng) {
    Tensor t = Tensor::empty(shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) t.at(i) = static_cast<float>(rng.normal(0, stddev));
    return t;
}

inline Tensor uniform_tensor(const Shape& shape, double bound, Rng& rng) {
    Tensor t = Tensor::empty(shape);
    for (std::int64_t i = 0; i < t.numel(); ++i)
        t.at(i) = static_cast<float>(rng.uniform(-bound, bound));
    return t;
}

}  // namespace agcnn::nn
