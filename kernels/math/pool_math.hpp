// kernels/math/pool_math.hpp — window scans of max pooling and global pooling, forward and
// backward (the specification is ops/max_pool2d.hpp and ops/global_pool.hpp).
//
// Backward passes are gathers, not scatters: each input element sums the gradients of the
// outputs that chose it, in increasing output order (the order of the CPU loop), so the result
// is deterministic and needs no atomics.
#pragma once

#include <cmath>
#include <cstdint>

#include "agcnn/core/geometry.hpp"
#include "kernels/math/hd.hpp"

namespace agcnn::cuda::math {

// Output element i = ((n*OH + oy)*OW + ox)*C + c of max_pool2d: writes its value and the flat
// (iy*W + ix) index of the first maximum in row-major window order (padding is -infinity).
AGCNN_HD void max_pool_output(float* y, std::int32_t* argmax, const float* x,
                              const PoolGeometry& g, std::int64_t i) {
    const std::int64_t c = i % g.c, ox = (i / g.c) % g.ow, oy = (i / (g.c * g.ow)) % g.oh,
                       n = i / (g.c * g.ow * g.oh);
    float best = -INFINITY;
    std::int32_t arg = -1;
    for (std::int64_t ky = 0; ky < g.kernel; ++ky) {
        const std::int64_t iy = oy * g.stride - g.pad + ky;
        if (iy < 0 || iy >= g.h) continue;
        for (std::int64_t kx = 0; kx < g.kernel; ++kx) {
            const std::int64_t ix = ox * g.stride - g.pad + kx;
            if (ix < 0 || ix >= g.w) continue;
            const float v = x[((n * g.h + iy) * g.w + ix) * g.c + c];
            if (v > best || arg < 0) {
                best = v;
                arg = static_cast<std::int32_t>(iy * g.w + ix);
            }
        }
    }
    y[i] = best;
    argmax[i] = arg;
}

// The first and one-past-last output index along one axis whose window covers input index `in`.
AGCNN_HD void covering_outputs(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                               std::int64_t pad, std::int64_t out_len, std::int64_t& first,
                               std::int64_t& last) {
    // Output o covers in when o*stride - pad <= in <= o*stride - pad + kernel - 1.
    const std::int64_t hi = in + pad;             // o*stride <= hi
    const std::int64_t lo = in + pad - kernel + 1;  // o*stride >= lo
    first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    last = hi / stride + 1;
    if (last > out_len) last = out_len;
    if (first > last) first = last;
}

// Input element i = ((n*H + iy)*W + ix)*C + c of max_pool2d's dx.
AGCNN_HD float max_pool_input_grad(const float* dy, const std::int32_t* argmax,
                                   const PoolGeometry& g, std::int64_t i) {
    const std::int64_t c = i % g.c, ix = (i / g.c) % g.w, iy = (i / (g.c * g.w)) % g.h,
                       n = i / (g.c * g.w * g.h);
    const auto self = static_cast<std::int32_t>(iy * g.w + ix);
    std::int64_t oy0, oy1, ox0, ox1;
    covering_outputs(iy, g.kernel, g.stride, g.pad, g.oh, oy0, oy1);
    covering_outputs(ix, g.kernel, g.stride, g.pad, g.ow, ox0, ox1);
    float sum = 0.0f;
    for (std::int64_t oy = oy0; oy < oy1; ++oy)
        for (std::int64_t ox = ox0; ox < ox1; ++ox) {
            const std::int64_t o = ((n * g.oh + oy) * g.ow + ox) * g.c + c;
            if (argmax[o] == self) sum += dy[o];
        }
    return sum;
}

// Output element i = n*C + c of global max pooling over hw positions: the first maximum.
AGCNN_HD void global_max_output(float* y, std::int32_t* argmax, const float* x, std::int64_t hw,
                                std::int64_t c, std::int64_t i) {
    const std::int64_t n = i / c, k = i % c;
    const float* image = x + n * hw * c;
    float best = image[k];
    std::int32_t arg = 0;
    for (std::int64_t p = 1; p < hw; ++p)
        if (image[p * c + k] > best) {
            best = image[p * c + k];
            arg = static_cast<std::int32_t>(p);
        }
    y[i] = best;
    argmax[i] = arg;
}

// Input element i = (n*hw + p)*C + c of global max pooling's dx.
AGCNN_HD float global_max_input_grad(const float* dy, const std::int32_t* argmax,
                                     std::int64_t hw, std::int64_t c, std::int64_t i) {
    const std::int64_t k = i % c, p = (i / c) % hw, n = i / (c * hw);
    return argmax[n * c + k] == p ? dy[n * c + k] : 0.0f;
}

// Output element i = n*C + c of global average pooling (summed in double, as the CPU).
AGCNN_HD float global_avg_output(const float* x, std::int64_t hw, std::int64_t c,
                                 std::int64_t i) {
    const std::int64_t n = i / c, k = i % c;
    double sum = 0.0;
    for (std::int64_t p = 0; p < hw; ++p) sum += x[(n * hw + p) * c + k];
    return static_cast<float>(sum / double(hw));
}

// Input element i = (n*hw + p)*C + c of global average pooling's dx.
AGCNN_HD float global_avg_input_grad(const float* dy, std::int64_t hw, std::int64_t c,
                                     std::int64_t i) {
    const std::int64_t k = i % c, n = i / (c * hw);
    return dy[n * c + k] * (1.0f / static_cast<float>(hw));
}

}  // namespace agcnn::cuda::math
