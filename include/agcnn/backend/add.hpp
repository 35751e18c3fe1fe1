// agcnn/backend/add.hpp — the elementwise sum of two tensors, without autograd: the kernel under
// ops::add (the residual connection) and under gradient accumulation (autograd/backward.hpp),
// kept here because autograd sits below ops.
//
// add_values(a, b, what):  a, b same shape and device -> new tensor y = a + b on that device.
#pragma once

#include <cstdint>

#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::cpu {

template <class T>
void add_forward(T* y, const T* a, const T* b, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace agcnn::cpu

namespace agcnn {

inline Tensor add_values(const Tensor& a, const Tensor& b, const char* what) {
    check_same_shape(a, b, what);
    check_same_device(a, b, what);
    Tensor y = Tensor::empty(a.shape(), a.device());
    dispatch(
        what, a.device(), [&] { cpu::add_forward(y.data(), a.data(), b.data(), a.numel()); },
        [&] { cuda::add_forward(y.data(), a.data(), b.data(), a.numel()); });
    return y;
}

}  // namespace agcnn
