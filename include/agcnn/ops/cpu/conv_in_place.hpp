// agcnn/ops/cpu/conv_in_place.hpp — a forward convolution whose GEMM reads the input patches
// in place, without the column matrix (ops/cpu/im2col.hpp).
//
// conv_in_place_applies(g): whether this CPU and shape take this path (conv2d_forward_fast).
// conv2d_forward_in_place(y, x, w, g, epilogue): y [N, OH, OW, O] = conv2d(x, w) with the
//   optional epilogue, bit for bit what im2col + sgemm give (tested).
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

struct ConvInPlace;  // thread_scratch.hpp's tag: slot 0 the packed filters, slot 1 border rows

inline void conv2d_forward_in_place(float* y, const float* x, const float* w, const ConvGeometry& g,
                                    const Epilogue* epilogue = nullptr) {
    using namespace gemm_detail;
    const std::int64_t k = g.k();
    const KernelSet& set = kernels_for(g.o);
    float* packed = thread_scratch<float, ConvInPlace, 2>(0, packed_size(set, k, g.o));
    pack_all(set, k, g.o, {w, 1, k}, packed);  // B = w^T [K, O]
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
            float* rows = thread_scratch<float, ConvInPlace, 2>(1, (p1 - p0) * k);
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

}  // namespace agcnn::cpu
