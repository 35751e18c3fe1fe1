// agcnn/ops/cpu/im2col.hpp — the column matrix of a convolution (ops/conv2d.hpp) and its
// inverse, for x [N, H, W, C] (NHWC) and filters [O, KH, KW, C].
//
// patch_row(row, x, n, oy, ox, g): row [K] (K = KH*KW*C, in (ky, kx, c) order) = the input patch
//   under output pixel (n, oy, ox); zero where it hangs over the border (x points at image 0).
// im2col(cols, x, images, g): cols [images*OH*OW, K], one patch_row per output pixel.
// col2im(dx, dcols, images, g): dx [images, H, W, C] = the sum of the patches in dcols.
// images_per_chunk(g): images whose column matrix fits kColumnBudget floats (at least one).
#pragma once

#include <algorithm>
#include <cstdint>

#include "agcnn/core/geometry.hpp"
#include "agcnn/ops/cpu/short_copy.hpp"

namespace agcnn::cpu {

constexpr std::int64_t kColumnBudget = std::int64_t(1) << 21;  // 2 M floats = 8 MB

inline std::int64_t images_per_chunk(const ConvGeometry& g) {
    const std::int64_t per_image = std::max<std::int64_t>(g.oh * g.ow * g.k(), 1);
    return std::clamp<std::int64_t>(kColumnBudget / per_image, 1, std::max<std::int64_t>(g.n, 1));
}

// A patch row (fixed ky) is KW*C contiguous values of x when it lies inside the image, so it is
// copied in one piece (7 copies of 21 floats per row for the stem, not 49 of 3), by
// short_copy.hpp (no memmove call per piece).
template <class T>
void patch_row(T* row, const T* x, std::int64_t n, std::int64_t oy, std::int64_t ox,
               const ConvGeometry& g) {
    const std::int64_t run = g.kw * g.c;
    const std::int64_t ix0 = ox * g.stride - g.pad;
    const bool inside_x = ix0 >= 0 && ix0 + g.kw <= g.w;
    for (std::int64_t ky = 0; ky < g.kh; ++ky) {
        const std::int64_t iy = oy * g.stride - g.pad + ky;
        T* dst = row + ky * run;
        if (iy < 0 || iy >= g.h) {
            fill_short(dst, run);
            continue;
        }
        const T* image_row = x + (n * g.h + iy) * g.w * g.c;
        if (inside_x) {
            copy_short(image_row + ix0 * g.c, run, dst);
            continue;
        }
        for (std::int64_t kx = 0; kx < g.kw; ++kx) {
            const std::int64_t ix = ix0 + kx;
            T* cell = dst + kx * g.c;
            if (ix < 0 || ix >= g.w)
                fill_short(cell, g.c);
            else
                copy_short(image_row + ix * g.c, g.c, cell);
        }
    }
}

template <class T>
void im2col(T* cols, const T* x, std::int64_t images, const ConvGeometry& g) {
    const std::int64_t k = g.k();
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < images; ++n)
        for (std::int64_t oy = 0; oy < g.oh; ++oy)
            for (std::int64_t ox = 0; ox < g.ow; ++ox)
                patch_row(cols + ((n * g.oh + oy) * g.ow + ox) * k, x, n, oy, ox, g);
}

// dx [images, H, W, C] = sum of the patches in dcols (dx is overwritten). Gathered per input
// pixel, parallel over image rows: each sum is formed by one thread in a fixed (ky, kx) order,
// so the result does not depend on the thread count.
template <class T>
void col2im(T* dx, const T* dcols, std::int64_t images, const ConvGeometry& g) {
    const std::int64_t k = g.k();
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < images; ++n) {
        for (std::int64_t iy = 0; iy < g.h; ++iy) {
            for (std::int64_t ix = 0; ix < g.w; ++ix) {
                T* dst = dx + ((n * g.h + iy) * g.w + ix) * g.c;
                fill_short(dst, g.c);
                for (std::int64_t ky = 0; ky < g.kh; ++ky) {
                    const std::int64_t ty = iy + g.pad - ky;  // = oy * stride
                    if (ty < 0 || ty % g.stride != 0 || ty / g.stride >= g.oh) continue;
                    for (std::int64_t kx = 0; kx < g.kw; ++kx) {
                        const std::int64_t tx = ix + g.pad - kx;
                        if (tx < 0 || tx % g.stride != 0 || tx / g.stride >= g.ow) continue;
                        const T* src = dcols +
                                       ((n * g.oh + ty / g.stride) * g.ow + tx / g.stride) * k +
                                       (ky * g.kw + kx) * g.c;
                        for (std::int64_t ch = 0; ch < g.c; ++ch) dst[ch] += src[ch];
                    }
                }
            }
        }
    }
}

}  // namespace agcnn::cpu
