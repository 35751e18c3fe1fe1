// agcnn/ops/relu.hpp — rectified linear unit, torch.nn.functional.relu.
//
// relu(x):    x any shape  -> y same shape, y = max(x, 0)
// backward:   dx = dy where y > 0, else 0 (PyTorch's convention: the gradient at 0 is 0)
#pragma once

#include <cstdint>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::cpu {

template <class T>
void relu_forward(T* y, const T* x, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <class T>
void relu_backward(T* dx, const T* dy, const T* y, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor relu(const Tensor& x) {
    profiler::Scope timer("relu");
    Tensor y = Tensor::empty(x.shape(), x.device());
    dispatch(
        "relu", x.device(), [&] { cpu::relu_forward(y.data(), x.data(), x.numel()); },
        [&] { cuda::relu_forward(y.data(), x.data(), x.numel()); });
    Tensor saved_y = y.detach();
    record_op(y, "relu", {x}, [saved_y](const Tensor& dy, const std::vector<bool>&) {
        Tensor dx = Tensor::empty(dy.shape(), dy.device());
        dispatch(
            "relu backward", dy.device(),
            [&] { cpu::relu_backward(dx.data(), dy.data(), saved_y.data(), dy.numel()); },
            [&] { cuda::relu_backward(dx.data(), dy.data(), saved_y.data(), dy.numel()); });
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace agcnn::ops
