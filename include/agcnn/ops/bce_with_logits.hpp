// agcnn/ops/bce_with_logits.hpp — binary cross-entropy on logits,
// torch.nn.functional.binary_cross_entropy_with_logits(reduction='mean', pos_weight=p).
//
// bce_with_logits(x, t, p): x logits [N, C], t targets in [0,1] [N, C], p positive weights [C]
//                           or undefined (all ones) -> loss [1], the mean over N*C of
//   l = (1 - t) x + (1 + (p - 1) t) (log(1 + exp(-|x|)) + max(-x, 0))
// which equals -[p t log s(x) + (1 - t) log(1 - s(x))] without overflow for any x.
// backward:   dx = dloss / (N*C) * ((1 - t) + (1 + (p - 1) t) (s(x) - 1)); no gradient for t, p.
#pragma once

#include <cmath>
#include <cstdint>

#include "agcnn/autograd/node.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/ops/sigmoid.hpp"

namespace agcnn::cpu {

template <class T>
T bce_with_logits_forward(const T* x, const T* t, const T* pos_weight, std::int64_t n,
                          std::int64_t c) {
    double total = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t k = 0; k < c; ++k) {
            const double xv = x[i * c + k], tv = t[i * c + k];
            const double weight = pos_weight ? 1.0 + (double(pos_weight[k]) - 1.0) * tv : 1.0;
            const double softplus_neg = std::log1p(std::exp(-std::abs(xv))) + std::max(-xv, 0.0);
            total += (1.0 - tv) * xv + weight * softplus_neg;
        }
    }
    return static_cast<T>(total / double(n * c));
}

template <class T>
void bce_with_logits_backward(T* dx, T dloss, const T* x, const T* t, const T* pos_weight,
                              std::int64_t n, std::int64_t c) {
    const T scale = dloss / static_cast<T>(n * c);
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t k = 0; k < c; ++k) {
            const T tv = t[i * c + k];
            const T weight = pos_weight ? T(1) + (pos_weight[k] - T(1)) * tv : T(1);
            dx[i * c + k] = scale * ((T(1) - tv) + weight * (sigmoid_scalar(x[i * c + k]) - T(1)));
        }
    }
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

// The loss is computed on the CPU: it is [N, 15] numbers, and a host round trip keeps one
// reference implementation.
inline Tensor bce_with_logits(const Tensor& logits, const Tensor& targets,
                              const Tensor& pos_weight = Tensor()) {
    profiler::Scope timer("bce_with_logits");
    check_rank(logits, 2, "bce_with_logits logits");
    check_same_shape(logits, targets, "bce_with_logits (logits vs targets)");
    const std::int64_t n = logits.dim(0), c = logits.dim(1);
    if (pos_weight.defined())
        AGCNN_CHECK(pos_weight.rank() == 1 && pos_weight.dim(0) == c,
                    "bce_with_logits: pos_weight ", shape_str(pos_weight.shape()),
                    " must be [", c, "]");
    const Device device = logits.device();
    const Tensor x = device.is_cpu() ? logits.detach() : logits.to(Device::cpu());
    const Tensor t = targets.device().is_cpu() ? targets.detach() : targets.to(Device::cpu());
    const Tensor p = !pos_weight.defined() || pos_weight.device().is_cpu()
                         ? pos_weight
                         : pos_weight.to(Device::cpu());
    const float* pp = p.defined() ? p.data() : nullptr;
    Tensor loss = Tensor::full({1}, cpu::bce_with_logits_forward(x.data(), t.data(), pp, n, c))
                      .to(device);
    record_op(loss, "bce_with_logits", {logits},
              [=](const Tensor& dloss, const std::vector<bool>&) {
                  const float* pp = p.defined() ? p.data() : nullptr;  // p keeps it alive
                  Tensor dx = Tensor::empty({n, c});
                  cpu::bce_with_logits_backward(dx.data(), dloss.item(), x.data(), t.data(), pp,
                                                n, c);
                  return std::vector<Tensor>{device.is_cpu() ? dx : dx.to(device)};
              });
    return loss;
}

}  // namespace agcnn::ops
