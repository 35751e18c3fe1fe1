// agcnn/ops/add.hpp — elementwise sum of two tensors of one shape (the residual connection).
//
// add(a, b):  a, b same shape -> y same shape, y = a + b
// backward:   da = dy, db = dy (the same tensor handed to both; gradients are never modified
//             in place, see autograd/backward.hpp)
#pragma once

#include <cstdint>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::cpu {

template <class T>
void add_forward(T* y, const T* a, const T* b, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor add(const Tensor& a, const Tensor& b) {
    profiler::Scope timer("add");
    check_same_shape(a, b, "add");
    check_same_device(a, b, "add");
    Tensor y = Tensor::empty(a.shape(), a.device());
    dispatch(
        "add", a.device(), [&] { cpu::add_forward(y.data(), a.data(), b.data(), a.numel()); },
        [&] { cuda::add_forward(y.data(), a.data(), b.data(), a.numel()); });
    record_op(y, "add", {a, b}, [](const Tensor& dy, const std::vector<bool>&) {
        return std::vector<Tensor>{dy, dy};
    });
    return y;
}

}  // namespace agcnn::ops
