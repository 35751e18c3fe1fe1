// agcnn/ops/max_pool2d.hpp — 2-D max pooling, torch.nn.functional.max_pool2d (NHWC).
//
// max_pool2d(x, k, s, p): x [N, H, W, C] -> y [N, OH, OW, C] with
//   OH = (H + 2p - k) / s + 1, OW = (W + 2p - k) / s + 1 (floor, as PyTorch with ceil_mode off);
//   padding counts as -infinity. ResNet-50's stem uses k=3, s=2, p=1.
// backward:   each dy goes to the input position that won its window (the first maximum in
//             row-major window order, as PyTorch's CPU kernel picks); positions that won several
//             windows receive the sum.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/geometry.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/ops/cpu/short_copy.hpp"

namespace agcnn::cpu {

// out[k] = max(out[k], in[k]) over a pixel's c channels, arg[k] = flat where in[k] won (strictly
// greater). Restrict-qualified arrays and the index chosen with a bit mask, so that GCC
// vectorises it (with `take ? flat : arg[k]` it compiled to a scalar loop with a branch that
// mispredicts: 5% of the demo's training step).
template <class T>
inline void take_greater(T* __restrict out, std::int32_t* __restrict arg, const T* __restrict in,
                         std::int32_t flat, std::int64_t c) {
    for (std::int64_t k = 0; k < c; ++k) {
        const T a = in[k], b = out[k];
        const std::int32_t mask = -std::int32_t(a > b);
        out[k] = a > b ? a : b;
        arg[k] = (flat & mask) | (arg[k] & ~mask);
    }
}

// argmax holds, per output element, the flat (h*W + w) input index of the winner; null when only
// y is wanted (inference). Every window holds at least one input position (pool_geometry: 2p <= k),
// so the first one seeds the maximum and later ones replace it only when strictly greater: the
// first maximum wins, and a NaN wins only as a window's first value, as before. The selects are
// branch-free so that the loop over channels vectorises.
template <class T>
void max_pool2d_forward(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < g.n; ++n) {
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
            for (std::int64_t ox = 0; ox < g.ow; ++ox) {
                const std::int64_t o = ((n * g.oh + oy) * g.ow + ox) * g.c;
                T* out = y + o;
                std::int32_t* arg = argmax ? argmax + o : nullptr;
                bool seeded = false;
                for (std::int64_t ky = 0; ky < g.kernel; ++ky) {
                    const std::int64_t iy = oy * g.stride - g.pad + ky;
                    if (iy < 0 || iy >= g.h) continue;
                    for (std::int64_t kx = 0; kx < g.kernel; ++kx) {
                        const std::int64_t ix = ox * g.stride - g.pad + kx;
                        if (ix < 0 || ix >= g.w) continue;
                        const T* in = x + ((n * g.h + iy) * g.w + ix) * g.c;
                        const auto flat = static_cast<std::int32_t>(iy * g.w + ix);
                        if (!seeded) {
                            copy_short(in, g.c, out);
                            if (arg) std::fill(arg, arg + g.c, flat);
                            seeded = true;
                        } else if (arg) {
                            take_greater(out, arg, in, flat, g.c);
                        } else {
                            for (std::int64_t k = 0; k < g.c; ++k) out[k] = in[k] > out[k] ? in[k] : out[k];
                        }
                    }
                }
            }
        }
    }
}

// Parallel over images: each image's dx is written by one thread, so the sums are deterministic.
template <class T>
void max_pool2d_backward(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g) {
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < g.n; ++n) {
        T* image = dx + n * g.h * g.w * g.c;
        std::fill(image, image + g.h * g.w * g.c, T(0));
        const std::int64_t outputs = g.oh * g.ow;
        for (std::int64_t o = 0; o < outputs; ++o) {
            const T* grad = dy + (n * outputs + o) * g.c;
            const std::int32_t* arg = argmax + (n * outputs + o) * g.c;
            for (std::int64_t k = 0; k < g.c; ++k) image[arg[k] * g.c + k] += grad[k];
        }
    }
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride,
                         std::int64_t pad) {
    profiler::Scope timer("max_pool2d");
    const PoolGeometry g = pool_geometry(x.shape(), kernel, stride, pad);
    Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.c}, x.device());
    auto argmax = std::make_shared<std::vector<std::int32_t>>();
    std::shared_ptr<void> device_argmax;
    const bool recorded = should_record({&x});  // else no backward, so no argmax
    dispatch(
        "max_pool2d", x.device(),
        [&] {
            if (recorded) argmax->resize(static_cast<std::size_t>(y.numel()));
            cpu::max_pool2d_forward(y.data(), recorded ? argmax->data() : nullptr, x.data(), g);
        },
        [&] { device_argmax = cuda::max_pool2d_forward(y.data(), x.data(), g); });
    const Shape x_shape = x.shape();
    record_op(y, "max_pool2d", {x}, [=](const Tensor& dy, const std::vector<bool>&) {
        Tensor dx = Tensor::empty(x_shape, dy.device());
        dispatch(
            "max_pool2d backward", dy.device(),
            [&] { cpu::max_pool2d_backward(dx.data(), dy.data(), argmax->data(), g); },
            [&] { cuda::max_pool2d_backward(dx.data(), dy.data(), device_argmax.get(), g); });
        return std::vector<Tensor>{dx};
    });
    return y;
}

}  // namespace agcnn::ops
