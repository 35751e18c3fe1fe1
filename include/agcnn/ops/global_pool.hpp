// agcnn/ops/global_pool.hpp — global max and global average pooling over H and W.
//
// global_max_pool(x): x [N, H, W, C] -> y [N, C], y[n,c] = max over (h,w) of x[n,h,w,c]
//   backward: dx[n,h,w,c] = dy[n,c] at the first (row-major) position of the maximum, else 0
//             (torch.amax spreads ties evenly instead; ties do not occur with real activations,
//             and PyTorch's adaptive_max_pool2d, which AG-CNN's global branch uses, also picks
//             one position)
// global_avg_pool(x): x [N, H, W, C] -> y [N, C], the mean over (h,w)
//   backward: dx[n,h,w,c] = dy[n,c] / (H*W)
// AG-CNN replaces ResNet-50's average pooling with max pooling (paper, section 3.1).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::cpu {

// argmax[n*C + c] = index into the H*W plane of the first maximum.
template <class T>
void global_max_pool_forward(T* y, std::int32_t* argmax, const T* x, std::int64_t n,
                             std::int64_t hw, std::int64_t c) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
        const T* image = x + i * hw * c;
        T* out = y + i * c;
        std::int32_t* arg = argmax + i * c;
        for (std::int64_t k = 0; k < c; ++k) {
            out[k] = image[k];
            arg[k] = 0;
        }
        for (std::int64_t p = 1; p < hw; ++p) {
            const T* pixel = image + p * c;
            for (std::int64_t k = 0; k < c; ++k) {
                if (pixel[k] > out[k]) {
                    out[k] = pixel[k];
                    arg[k] = static_cast<std::int32_t>(p);
                }
            }
        }
    }
}

template <class T>
void global_max_pool_backward(T* dx, const T* dy, const std::int32_t* argmax, std::int64_t n,
                              std::int64_t hw, std::int64_t c) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
        T* image = dx + i * hw * c;
        std::fill(image, image + hw * c, T(0));
        for (std::int64_t k = 0; k < c; ++k) image[argmax[i * c + k] * c + k] = dy[i * c + k];
    }
}

template <class T>
void global_avg_pool_forward(T* y, const T* x, std::int64_t n, std::int64_t hw,
                             std::int64_t c) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
        std::vector<double> sum(static_cast<std::size_t>(c), 0.0);
        const T* image = x + i * hw * c;
        for (std::int64_t p = 0; p < hw; ++p)
            for (std::int64_t k = 0; k < c; ++k) sum[k] += image[p * c + k];
        for (std::int64_t k = 0; k < c; ++k) y[i * c + k] = static_cast<T>(sum[k] / double(hw));
    }
}

template <class T>
void global_avg_pool_backward(T* dx, const T* dy, std::int64_t n, std::int64_t hw,
                              std::int64_t c) {
    const T scale = T(1) / static_cast<T>(hw);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t p = 0; p < hw; ++p)
            for (std::int64_t k = 0; k < c; ++k) dx[(i * hw + p) * c + k] = dy[i * c + k] * scale;
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor global_max_pool(const Tensor& x) {
    profiler::Scope timer("global_max_pool");
    check_rank(x, 4, "global_max_pool");
    const std::int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
    AGCNN_CHECK(hw > 0, "global_max_pool: empty spatial size in ", shape_str(x.shape()));
    Tensor y = Tensor::empty({n, c}, x.device());
    auto argmax = std::make_shared<std::vector<std::int32_t>>();
    std::shared_ptr<void> device_argmax;
    dispatch(
        "global_max_pool", x.device(),
        [&] {
            argmax->resize(static_cast<std::size_t>(n * c));
            cpu::global_max_pool_forward(y.data(), argmax->data(), x.data(), n, hw, c);
        },
        [&] { device_argmax = cuda::global_max_pool_forward(y.data(), x.data(), n, hw, c); });
    const Shape x_shape = x.shape();
    record_op(y, "global_max_pool", {x},
              [=](const Tensor& dy, const std::vector<bool>&) {
                  Tensor dx = Tensor::empty(x_shape, dy.device());
                  dispatch(
                      "global_max_pool backward", dy.device(),
                      [&] {
                          cpu::global_max_pool_backward(dx.data(), dy.data(), argmax->data(), n,
                                                        hw, c);
                      },
                      [&] {
                          cuda::global_max_pool_backward(dx.data(), dy.data(),
                                                         device_argmax.get(), n, hw, c);
                      });
                  return std::vector<Tensor>{dx};
              });
    return y;
}

inline Tensor global_avg_pool(const Tensor& x) {
    profiler::Scope timer("global_avg_pool");
    check_rank(x, 4, "global_avg_pool");
    const std::int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
    AGCNN_CHECK(hw > 0, "global_avg_pool: empty spatial size in ", shape_str(x.shape()));
    Tensor y = Tensor::empty({n, c}, x.device());
    dispatch(
        "global_avg_pool", x.device(),
        [&] { cpu::global_avg_pool_forward(y.data(), x.data(), n, hw, c); },
        [&] { cuda::global_avg_pool_forward(y.data(), x.data(), n, hw, c); });
    const Shape x_shape = x.shape();
    record_op(y, "global_avg_pool", {x}, [=](const Tensor& dy, const std::vector<bool>&) {
        Tensor dx = Tensor::empty(x_shape, dy.device());
        dispatch(
            "global_avg_pool backward", dy.device(),
            [&] { cpu::global_avg_pool_backward(dx.data(), dy.data(), n, hw, c); },
            [&] { cuda::global_avg_pool_backward(dx.data(), dy.data(), n, hw, c); });
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace agcnn::ops
