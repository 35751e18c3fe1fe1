// agcnn/nn/batch_norm2d.hpp — torch.nn.BatchNorm2d(C) with momentum 0.1 and eps 1e-5.
//
// forward(x [, residual, relu]): x [N, H, W, C] -> same shape. Training mode normalises with the
// batch statistics and updates running_mean / running_var (and num_batches_tracked); eval mode
// uses the running ones. The optional tail, "+ residual, then ReLU", runs in the same pass
// (ops/batch_norm.hpp).
#pragma once

#include "agcnn/nn/module.hpp"
#include "agcnn/ops/batch_norm.hpp"

namespace agcnn::nn {

class BatchNorm2d : public Module {
public:
    explicit BatchNorm2d(std::int64_t channels) {
        weight = &register_parameter("weight", Tensor::full({channels}, 1.0f));
        bias = &register_parameter("bias", Tensor::zeros({channels}));
        running_mean = &register_buffer("running_mean", Tensor::zeros({channels}));
        running_var = &register_buffer("running_var", Tensor::full({channels}, 1.0f));
        register_counter("num_batches_tracked", &num_batches_tracked);
    }
    Tensor forward(const Tensor& x, const Tensor& residual = Tensor(), bool relu = false) {
        if (is_training()) ++num_batches_tracked;
        return ops::batch_norm(x, *weight, *bias, *running_mean, *running_var,
                               {is_training(), momentum, eps, relu}, residual);
    }

    Tensor *weight, *bias, *running_mean, *running_var;
    std::int64_t num_batches_tracked = 0;
    double momentum = 0.1, eps = 1e-5;
};

}  // namespace agcnn::nn
