// agcnn/ops/sigmoid.hpp — logistic function, torch.sigmoid.
//
// sigmoid(x): x any shape -> y same shape, y = 1 / (1 + exp(-x)), computed without overflow
// backward:   dx = dy * y * (1 - y)
#pragma once

#include <cmath>
#include <cstdint>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::cpu {

// Stable for any x: exp is only taken of a non-positive number.
template <class T>
T sigmoid_scalar(T x) {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
}

template <class T>
void sigmoid_forward(T* y, const T* x, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) y[i] = sigmoid_scalar(x[i]);
}

template <class T>
void sigmoid_backward(T* dx, const T* dy, const T* y, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor sigmoid(const Tensor& x) {
    profiler::Scope timer("sigmoid");
    Tensor y = Tensor::empty(x.shape(), x.device());
    dispatch(
        "sigmoid", x.device(), [&] { cpu::sigmoid_forward(y.data(), x.data(), x.numel()); },
        [&] { cuda::sigmoid_forward(y.data(), x.data(), x.numel()); });
    Tensor saved_y = y.detach();
    record_op(y, "sigmoid", {x}, [saved_y](const Tensor& dy, const std::vector<bool>&) {
        Tensor dx = Tensor::empty(dy.shape(), dy.device());
        dispatch(
            "sigmoid backward", dy.device(),
            [&] { cpu::sigmoid_backward(dx.data(), dy.data(), saved_y.data(), dy.numel()); },
            [&] { cuda::sigmoid_backward(dx.data(), dy.data(), saved_y.data(), dy.numel()); });
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace agcnn::ops
