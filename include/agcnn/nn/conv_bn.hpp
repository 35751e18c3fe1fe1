// agcnn/nn/conv_bn.hpp — ResNet's "conv, batch norm [, + residual] [, ReLU]" as one call.
//
// conv_bn(conv, bn, x, residual, relu): x [N, H, W, In] -> [N, OH, OW, Out]
//   = act(bn(conv(x)) + residual), residual undefined (none) or the output's shape.
// Two ways to the same numbers:
//   - training, or whenever a gradient may be wanted, or on CUDA: conv2d, then batch_norm with
//     the residual and ReLU in its own single pass (ops/batch_norm.hpp);
//   - eval mode on the CPU with autograd off (evaluation, prediction, frozen branches): the
//     batch norm's running statistics become a per-channel scale and shift that the GEMM applies,
//     with the residual and ReLU, to each output tile while it is still in cache
//     (ops::batch_norm_eval_affine, then ops::conv2d_affine). tests/test_model.cpp checks the
//     two agree.
#pragma once

#include "agcnn/nn/batch_norm2d.hpp"
#include "agcnn/nn/conv2d.hpp"
#include "agcnn/ops/batch_norm.hpp"
#include "agcnn/ops/conv2d.hpp"

namespace agcnn::nn {

inline Tensor conv_bn(const Conv2d& conv, BatchNorm2d& bn, const Tensor& x,
                      const Tensor& residual = Tensor(), bool relu = false) {
    if (bn.is_training() || grad_enabled() || !x.device().is_cpu())
        return bn.forward(conv.forward(x), residual, relu);
    const ops::BatchNormAffine affine = ops::batch_norm_eval_affine(
        *bn.weight, *bn.bias, *bn.running_mean, *bn.running_var, bn.eps);
    return ops::conv2d_affine(x, *conv.weight, conv.stride(), conv.pad(), affine.scale,
                              affine.shift, residual, relu);
}

}  // namespace agcnn::nn
