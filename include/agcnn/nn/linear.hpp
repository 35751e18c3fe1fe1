// agcnn/nn/linear.hpp — torch.nn.Linear(in, out) with bias.
//
// forward: x [N, In] -> [N, Out]; weight [Out, In] as in PyTorch.
#pragma once

#include <cmath>

#include "agcnn/nn/init.hpp"
#include "agcnn/nn/module.hpp"
#include "agcnn/ops/linear.hpp"

namespace agcnn::nn {

class Linear : public Module {
public:
    Linear(std::int64_t in, std::int64_t out, Rng& rng) {
        const double bound = 1.0 / std::sqrt(double(in));
        weight = &register_parameter("weight", uniform_tensor({out, in}, bound, rng));
        bias = &register_parameter("bias", uniform_tensor({out}, bound, rng));
    }
    Tensor forward(const Tensor& x) const { return ops::linear(x, *weight, *bias); }

    Tensor *weight, *bias;
};

}  // namespace agcnn::nn
