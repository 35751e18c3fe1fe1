// agcnn/ops/cpu/conv_in_place.hpp — a forward convolution whose GEMM reads the input patches
// in place, without the column matrix (ops/cpu/im2col.hpp).
//
// conv_in_place_applies(g): whether this CPU and shape take this path (conv2d_forward_fast).
// conv2d_forward_in_place(y, x, w, g, epilogue, prepacked): y [N, OH, OW, O] = conv2d(x, w) with
//   the optional epilogue, bit for bit what im2col + sgemm give (tested).
// weight_gradient_in_place, input_gradient_in_place: the backward pass's two products, bit for
//   bit the column matrix's (below).
//
// Method. Within one output row, the patches of the pixels whose window lies inside the image
// are a strided matrix read in segments: pixel i's patch row ky is KW*C contiguous values of x,
// pixel i+1's starts stride*C further, and row ky+1 starts a row of x (W*C) further
// (StridedMatrix's segments, read by the GEMM's kernels). The other pixels (the border: the
// first and last output rows and columns whose window hangs over the padding) get their patch
// rows copied into a small per-thread buffer, as im2col would. The filters are packed once
// (gemm_detail::pack_all) and shared; the threads take output rows in turn. Each output element
// is the same FMA chain as the im2col path's (the same blocks of kDepth, in order), whatever the
// thread and the tile shape.
// Why: im2col writes K values per output pixel and the GEMM reads them back (the stem: 147
// values for 8-64 products each, 38 MB per training step of the demo's network), where x itself
// stays in cache.
#pragma once

#include <algorithm>
#include <cstdint>

#include "agcnn/core/geometry.hpp"
#include "agcnn/ops/cpu/gemm.hpp"
#include "agcnn/ops/cpu/im2col.hpp"
#include "agcnn/ops/cpu/thread_scratch.hpp"

namespace agcnn::cpu {

// Where this path is used: the x86 kernels (the only ones that read segments), not a 1x1
// stride-1 convolution (its patches are x itself already), and only where it measured faster.
// Each output row is one task, which reads all of the packed filters (K x O floats) once, where
// the column-matrix GEMM reuses a block of them over many rows: with rows of 7 or 14 pixels and
// 2.4 MB of filters (ResNet-50's layers 3 and 4) the in-place forward ran at 32-77 GFLOP/s
// against 102-134, with rows of 28 or more and filters up to 576 KB at 1.1-1.9x the column
// matrix's rate (`agcnn bench --convs`, docs/benchmarks.md, change 25). So: rows of at least
// kMinRow pixels and filters of at most kMaxFilterFloats.
constexpr std::int64_t kMinRow = 16, kMaxFilterFloats = std::int64_t(1) << 18;  // 1 MB

inline bool conv_in_place_applies(const ConvGeometry& g) {
    return gemm_detail::kernels().mr != 0 && !g.is_pointwise() && g.ow >= kMinRow &&
           g.k() * g.o <= kMaxFilterFloats;
}

// thread_scratch.hpp's tag: slot 0 the packed filters (forward), dy (weight gradient) or the
// filters' taps (input gradient), slot 1 border rows, slot 2 the zero-padded input.
struct ConvInPlace;
constexpr int kConvInPlaceSlots = 3;

// A forward convolution's filters as its GEMM reads them (every direct path): B = w^T [K, O]
// packed whole for kernels_for(O) (gemm_detail::pack_all), packed_direct_size(g) floats.
inline std::int64_t packed_direct_size(const ConvGeometry& g) {
    return gemm_detail::packed_size(gemm_detail::kernels_for(g.o), g.k(), g.o);
}
inline void pack_direct_filters(float* packed, const float* w, const ConvGeometry& g) {
    gemm_detail::pack_all(gemm_detail::kernels_for(g.o), g.k(), g.o, {w, 1, g.k()}, packed);
}

// `prepacked`: w from pack_direct_filters (ops/cpu/packed_filters.hpp keeps them), else packed here.
inline void conv2d_forward_in_place(float* y, const float* x, const float* w, const ConvGeometry& g,
                                    const Epilogue* epilogue = nullptr,
                                    const float* prepacked = nullptr) {
    using namespace gemm_detail;
    const std::int64_t k = g.k();
    const KernelSet& set = kernels_for(g.o);
    const float* packed = prepacked;
    if (!packed) {
        float* buffer = thread_scratch<float, ConvInPlace, kConvInPlaceSlots>(0, packed_direct_size(g));
        pack_direct_filters(buffer, w, g);
        packed = buffer;
    }
    // Output columns [ox_lo, ox_hi) have their window inside the image's width.
    const std::int64_t ox_lo = std::min(g.ow, (g.pad + g.stride - 1) / g.stride);
    const std::int64_t ox_hi = std::max(ox_lo, std::min(g.ow, (g.w + g.pad - g.kw) / g.stride + 1));
    const std::int64_t tasks = g.n * g.oh;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t t = 0; t < tasks; ++t) {
        const std::int64_t n = t / g.oh, oy = t % g.oh, iy0 = oy * g.stride - g.pad;
        const std::int64_t first = t * g.ow;  // the row's first pixel among all outputs
        // Pixels [p0, p1) of this row, their A given, into y and the epilogue's residual.
        auto multiply = [&](std::int64_t p0, std::int64_t p1, const StridedMatrix& a) {
            if (p1 <= p0) return;
            Epilogue part = epilogue ? *epilogue : Epilogue{};
            if (part.residual) part.residual += (first + p0) * part.ld_residual;
            multiply_packed(set, 0, p1 - p0, g.o, k, a, packed, y + (first + p0) * g.o, g.o, false,
                            epilogue ? &part : nullptr);
        };
        // Pixels [p0, p1) from patch rows copied into this thread's buffer.
        auto copied = [&](std::int64_t p0, std::int64_t p1) {
            if (p1 <= p0) return;
            float* rows = thread_scratch<float, ConvInPlace, kConvInPlaceSlots>(1, (p1 - p0) * k);
            for (std::int64_t ox = p0; ox < p1; ++ox) patch_row(rows + (ox - p0) * k, x, n, oy, ox, g);
            multiply(p0, p1, {rows, k, 1});
        };
        if (iy0 < 0 || iy0 + g.kh > g.h || ox_hi == ox_lo) {
            copied(0, g.ow);
            continue;
        }
        copied(0, ox_lo);
        const float* corner = x + ((n * g.h + iy0) * g.w + ox_lo * g.stride - g.pad) * g.c;
        multiply(ox_lo, ox_hi, {corner, g.stride * g.c, 1, g.kw * g.c, g.w * g.c});
        copied(ox_hi, g.ow);
    }
}

// The weight gradient in its transposed form, dw^T [K, O] = cols^T [K, rows] dy [rows, O]
// (conv2d.hpp's weight_gradient_transposed: m = K, the product's rows are patch positions),
// with cols read in place from a zero-padded copy of x: a tile's rows lie within one filter row
// (KW*C consecutive values of the padded x), and the pixels of one output row are stride*C
// apart, the output rows segments stride padded rows apart. Applies when a block of kDepth
// pixels never spans two images (OH*OW a multiple of kDepth: the demo's stem and first stage,
// ResNet-50's stem at 224), so that the sums are sgemm's over the column matrix, block for
// block, whatever the column matrix's chunking (tested bit for bit).
inline bool weight_gradient_in_place_applies(const ConvGeometry& g) {
    return gemm_detail::kernels().mr != 0 && !g.is_pointwise() &&
           (g.oh * g.ow) % gemm_detail::kDepth == 0;
}

// transposed [K, O] = cols^T dy over all N images (overwritten).
inline void weight_gradient_in_place(float* transposed, const float* dy, const float* x,
                                     const ConvGeometry& g) {
    using namespace gemm_detail;
    const std::int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad, run = g.kw * g.c;
    const std::int64_t pixels = g.oh * g.ow, rows = g.n * pixels;
    float* padded = thread_scratch<float, ConvInPlace, kConvInPlaceSlots>(2, g.n * hp * wp * g.c);
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < g.n * hp; ++t) {
        const std::int64_t n = t / hp, iy = t % hp - g.pad;
        float* dst = padded + t * wp * g.c;
        if (iy < 0 || iy >= g.h) {
            std::fill(dst, dst + wp * g.c, 0.0f);
            continue;
        }
        std::fill(dst, dst + g.pad * g.c, 0.0f);
        std::copy(x + (n * g.h + iy) * g.w * g.c, x + (n * g.h + iy + 1) * g.w * g.c, dst + g.pad * g.c);
        std::fill(dst + (g.pad + g.w) * g.c, dst + wp * g.c, 0.0f);
    }
    const KernelSet& set = kernels_for(g.o);
    float* packed = thread_scratch<float, ConvInPlace, kConvInPlaceSlots>(0, packed_size(set, rows, g.o));
    pack_all(set, rows, g.o, {dy, g.o, 1}, packed);
    const std::int64_t tiles_per_row = (run + set.mr - 1) / set.mr;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t t = 0; t < g.kh * tiles_per_row; ++t) {
        const std::int64_t ky = t / tiles_per_row, r0 = t % tiles_per_row * set.mr;
        const std::int64_t tile_rows = std::min<std::int64_t>(set.mr, run - r0);
        float* c = transposed + (ky * run + r0) * g.o;
        for (std::int64_t p0 = 0; p0 < rows; p0 += kDepth) {  // every block is whole
            // Image n's patches at filter row ky, columns r0..: A(i, p) for pixel p of the image.
            const std::int64_t n = p0 / pixels;
            const StridedMatrix image{padded + (n * hp + ky) * wp * g.c + r0, 1, g.stride * g.c,
                                      g.ow, g.stride * wp * g.c};
            run_tiles(set, 0, tile_rows, 0, g.o, p0 % pixels, kDepth, image,
                      packed + block_offset(set, g.o, p0), c, g.o, p0 > 0, nullptr);
        }
    }
}

// The input gradient dx [N, H, W, C] without the column matrix. The column path computes
// dcols = dy w (dcols[q, tap, c] = the FMA chain over o of dy[q, o] w[o, tap, c]) and col2im
// adds, for each pixel of dx, from zero, the dcols values of its taps (ky, kx) in increasing
// order. Here each row of dx is zeroed and, tap by tap in that order, the dy pixels that reach it
// through the tap (one output row, consecutive pixels) times w's tap [O, C] are added to their dx
// pixels (stride * C apart) by the GEMM kernel's accumulate: c + chain, the same chain, the same
// addition. Applies where the chain over O is one block of the column GEMM (O <= kDepth), so its
// sums are one chain, and where it measured faster (`agcnn bench --convs`, docs/benchmarks.md,
// change 29: 1.1-2.3x on the demo's 3x3 and strided layers and on ResNet-50's strided 3x3s; its
// stems, at 3 input channels, ran slower, so C >= kMinInputGradientChannels). The threads take
// rows of dx.
constexpr std::int64_t kMinInputGradientChannels = 8;

inline bool input_gradient_in_place_applies(const ConvGeometry& g) {
    return gemm_detail::kernels().mr != 0 && !g.is_pointwise() && g.o <= gemm_detail::kDepth &&
           g.c >= kMinInputGradientChannels;
}

inline void input_gradient_in_place(float* dx, const float* dy, const float* w, const ConvGeometry& g) {
    using namespace gemm_detail;
    const std::int64_t k = g.k(), taps = g.kh * g.kw;
    const KernelSet& set = kernels_for(g.c);
    const std::int64_t tap_floats = packed_size(set, g.o, g.c);
    float* packed = thread_scratch<float, ConvInPlace, kConvInPlaceSlots>(0, taps * tap_floats);
    for (std::int64_t tap = 0; tap < taps; ++tap)  // B = w's tap [O, C]
        pack_all(set, g.o, g.c, {w + tap * g.c, k, 1}, packed + tap * tap_floats);
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t t = 0; t < g.n * g.h; ++t) {
        const std::int64_t n = t / g.h, iy = t % g.h;
        float* row = dx + t * g.w * g.c;
        std::fill(row, row + g.w * g.c, 0.0f);
        for (std::int64_t ky = 0; ky < g.kh; ++ky) {
            const std::int64_t ty = iy + g.pad - ky;  // = oy * stride
            if (ty < 0 || ty % g.stride != 0 || ty / g.stride >= g.oh) continue;
            const std::int64_t oy = ty / g.stride;
            for (std::int64_t kx = 0; kx < g.kw; ++kx) {
                // Output columns ox whose pixel ix = ox * stride - pad + kx is inside the row.
                const std::int64_t before = g.pad - kx, last = g.w - 1 + g.pad - kx;
                const std::int64_t ox_lo = before > 0 ? (before + g.stride - 1) / g.stride : 0;
                const std::int64_t ox_hi = last < 0 ? 0 : std::min(g.ow, last / g.stride + 1);
                if (ox_hi <= ox_lo) continue;
                const StridedMatrix pixels{dy + ((n * g.oh + oy) * g.ow + ox_lo) * g.o, g.o, 1};
                multiply_packed(set, 0, ox_hi - ox_lo, g.c, g.o, pixels,
                                packed + (ky * g.kw + kx) * tap_floats,
                                row + (ox_lo * g.stride - before) * g.c, g.stride * g.c, true, nullptr);
            }
        }
    }
}

}  // namespace agcnn::cpu
