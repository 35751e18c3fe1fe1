// agcnn/ops/concat.hpp — concatenation along the last (channel) dimension, torch.cat(dim=-1).
//
// concat_channels(a, b): a [..., Ca], b [..., Cb], equal leading dims -> y [..., Ca + Cb]
// backward:   da = dy[..., :Ca], db = dy[..., Ca:]
// AG-CNN's fusion branch concatenates the two 2048-dim pooled vectors this way ([N, 4096]).
#pragma once

#include <algorithm>
#include <cstdint>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::cpu {

template <class T>
void concat_forward(T* y, const T* a, const T* b, std::int64_t rows, std::int64_t ca,
                    std::int64_t cb) {
#pragma omp parallel for schedule(static) if (rows * (ca + cb) > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        std::copy(a + r * ca, a + (r + 1) * ca, y + r * (ca + cb));
        std::copy(b + r * cb, b + (r + 1) * cb, y + r * (ca + cb) + ca);
    }
}

template <class T>
void concat_backward(T* da, T* db, const T* dy, std::int64_t rows, std::int64_t ca,
                     std::int64_t cb) {
#pragma omp parallel for schedule(static) if (rows * (ca + cb) > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* row = dy + r * (ca + cb);
        if (da) std::copy(row, row + ca, da + r * ca);
        if (db) std::copy(row + ca, row + ca + cb, db + r * cb);
    }
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor concat_channels(const Tensor& a, const Tensor& b) {
    profiler::Scope timer("concat_channels");
    check_same_device(a, b, "concat_channels");
    AGCNN_CHECK(a.rank() == b.rank() && a.rank() >= 1, "concat_channels: ranks differ: ",
                shape_str(a.shape()), " vs ", shape_str(b.shape()));
    for (int i = 0; i + 1 < a.rank(); ++i)
        AGCNN_CHECK(a.dim(i) == b.dim(i), "concat_channels: leading dimensions differ: ",
                    shape_str(a.shape()), " vs ", shape_str(b.shape()));
    const std::int64_t ca = a.dim(-1), cb = b.dim(-1);
    const std::int64_t rows = ca ? a.numel() / ca : (cb ? b.numel() / cb : 0);
    Shape out_shape = a.shape();
    out_shape.back() = ca + cb;
    Tensor y = Tensor::empty(out_shape, a.device());
    dispatch(
        "concat_channels", a.device(),
        [&] { cpu::concat_forward(y.data(), a.data(), b.data(), rows, ca, cb); },
        [&] { cuda::concat_forward(y.data(), a.data(), b.data(), rows, ca, cb); });
    const Shape shape_a = a.shape(), shape_b = b.shape();
    record_op(y, "concat_channels", {a, b},
              [=](const Tensor& dy, const std::vector<bool>& needs) {
                  Tensor da = needs[0] ? Tensor::empty(shape_a, dy.device()) : Tensor();
                  Tensor db = needs[1] ? Tensor::empty(shape_b, dy.device()) : Tensor();
                  float* pa = da.defined() ? da.data() : nullptr;
                  float* pb = db.defined() ? db.data() : nullptr;
                  dispatch(
                      "concat_channels backward", dy.device(),
                      [&] { cpu::concat_backward(pa, pb, dy.data(), rows, ca, cb); },
                      [&] { cuda::concat_backward(pa, pb, dy.data(), rows, ca, cb); });
                  return std::vector<Tensor>{da, db};
              });
    return y;
}

}  // namespace agcnn::ops
