// agcnn/ops/linear.hpp — fully connected layer, torch.nn.functional.linear.
//
// linear(x, w, b): x [N, In], w [Out, In] (PyTorch's layout), b [Out] or undefined
//                  -> y [N, Out], y = x w^T + b
// backward:        dx = dy w        [N, In]
//                  dw = dy^T x      [Out, In]
//                  db = sum_n dy    [Out]
#pragma once

#include <cstdint>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/ops/eigen_maps.hpp"

namespace agcnn::cpu {

template <class T>
void linear_forward(T* y, const T* x, const T* w, const T* b, std::int64_t n, std::int64_t in,
                    std::int64_t out) {
    auto Y = matrix(y, n, out);
    Y.noalias() = matrix(x, n, in) * matrix(w, out, in).transpose();
    if (b)
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t o = 0; o < out; ++o) y[i * out + o] += b[o];
}

// Any of dx, dw, db may be null (not wanted).
template <class T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, std::int64_t n,
                     std::int64_t in, std::int64_t out) {
    if (dx) matrix(dx, n, in).noalias() = matrix(dy, n, out) * matrix(w, out, in);
    if (dw) matrix(dw, out, in).noalias() = matrix(dy, n, out).transpose() * matrix(x, n, in);
    if (db) {
        for (std::int64_t o = 0; o < out; ++o) db[o] = T(0);
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t o = 0; o < out; ++o) db[o] += dy[i * out + o];
    }
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
    profiler::Scope timer("linear");
    check_rank(x, 2, "linear input");
    check_rank(w, 2, "linear weight");
    check_same_device(x, w, "linear");
    AGCNN_CHECK(x.dim(1) == w.dim(1), "linear: input ", shape_str(x.shape()),
                " does not match weight ", shape_str(w.shape()), " (In differs)");
    if (b.defined())
        AGCNN_CHECK(b.rank() == 1 && b.dim(0) == w.dim(0), "linear: bias ", shape_str(b.shape()),
                    " does not match weight ", shape_str(w.shape()));
    const std::int64_t n = x.dim(0), in = x.dim(1), out = w.dim(0);
    Tensor y = Tensor::empty({n, out}, x.device());
    const float* pb = b.defined() ? b.data() : nullptr;
    dispatch(
        "linear", x.device(),
        [&] { cpu::linear_forward(y.data(), x.data(), w.data(), pb, n, in, out); },
        [&] { cuda::linear_forward(y.data(), x.data(), w.data(), pb, n, in, out); });
    const Tensor saved_x = x.detach(), saved_w = w.detach();
    const bool has_bias = b.defined();
    record_op(y, "linear", {x, w, b}, [=](const Tensor& dy, const std::vector<bool>& needs) {
        Tensor dx = needs[0] ? Tensor::empty({n, in}, dy.device()) : Tensor();
        Tensor dw = needs[1] ? Tensor::empty({out, in}, dy.device()) : Tensor();
        Tensor db = has_bias && needs[2] ? Tensor::empty({out}, dy.device()) : Tensor();
        float* pdx = dx.defined() ? dx.data() : nullptr;
        float* pdw = dw.defined() ? dw.data() : nullptr;
        float* pdb = db.defined() ? db.data() : nullptr;
        dispatch(
            "linear backward", dy.device(),
            [&] {
                cpu::linear_backward(pdx, pdw, pdb, dy.data(), saved_x.data(), saved_w.data(), n,
                                     in, out);
            },
            [&] {
                cuda::linear_backward(pdx, pdw, pdb, dy.data(), saved_x.data(), saved_w.data(), n,
                                      in, out);
            });
        return std::vector<Tensor>{dx, dw, db};
    });
    return y;
}

}  // namespace agcnn::ops
