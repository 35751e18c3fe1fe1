// agcnn/ops/cpu/gemm_kernels.hpp — the register-blocked inner loops of cpu::sgemm (gemm.hpp).
//
// kernel<MR, V>(kc, a, b, c, ldc, nr, accumulate) computes one MR x NR tile, NR = V vectors
// (AVX-512: 16 V floats, AVX2: 8 V):
//   c[i, j] (+)= sum over p < kc of A(i, p) * b[p * NR + j],  i < MR, j < nr
//   a: where the MR rows of A are (TileA below), read in place (A is never packed: in every
//      GEMM of the conv ops either the rows or the columns of A are contiguous);
//   b: a packed panel, kc rows of NR floats (columns past the matrix's edge hold zeros);
//   c: row-major with row stride ldc; only the first nr <= NR columns are written;
//   accumulate: add to c (true) or overwrite it (false).
// Each c element is the same FMA chain over p in order whatever the tile shape, so every shape
// gives the same bits and gemm.hpp may choose the shape per product. The accumulators live in
// registers (MR x V of them, plus V for the B row and one broadcast): the shapes gemm.hpp uses
// are listed in kAvx512Shapes / kAvx2Shapes, wide tiles for wide products and narrow tiles
// (more rows) where a product has few columns, which a wide tile would mostly fill with the
// panel's zero padding (the 8- to 32-channel convolutions of a small network).
// Each function carries its own target attribute, so one binary holds both and gemm.hpp picks
// one at run time (__builtin_cpu_supports), whatever -march the program was built with. That
// attribute cannot depend on a template parameter, so the two kernels are written out twice
// (same loop, 512- or 256-bit intrinsics).
// Off x86 (AGCNN_X86_KERNELS is 0) this header declares only TileA and gemm.hpp uses Eigen's
// product, plain C++ that Eigen vectorises for the target (NEON on aarch64).
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#define AGCNN_X86_KERNELS 1
#else
#define AGCNN_X86_KERNELS 0
#endif

namespace agcnn::cpu::gemm_kernels {

// Where a tile reads A: A(i, p) = a[i * rs + s * segment_stride + q * cs] with q0 + p = s *
// segment + q (q < segment). A plain strided matrix is one segment (segment >= kc,
// segment_stride unused); a convolution's patches read in place from its input are one segment
// per filter row (ops/cpu/conv_in_place.hpp). Either way p runs in order, so the sums are the
// same FMA chain.
struct TileA {
    const float* a;
    std::int64_t rs, cs;
    std::int64_t q0, segment, segment_stride;
};

}  // namespace agcnn::cpu::gemm_kernels

namespace agcnn::cpu {

// What an Epilogue does to each finished element c[i, j] of a product (gemm.hpp):
// c = act(c * scale[j] + shift[j] + residual[i, j]); null pointers skip their step.
struct Epilogue {
    const float* scale = nullptr;     // [n], with shift
    const float* shift = nullptr;     // [n]
    const float* residual = nullptr;  // [m, n], row stride ld_residual
    std::int64_t ld_residual = 0;
    bool relu = false;
};

}  // namespace agcnn::cpu

#if AGCNN_X86_KERNELS
#include <immintrin.h>

namespace agcnn::cpu::gemm_kernels {

// A tile shape: rows x vectors, and the time per padded column relative to the widest tile's
// (the cost model of gemm.hpp's kernels_for; narrow tiles load more per FMA and write c more
// often).
struct Shape {
    int rows, vectors;
    double column_cost;
};
// AVX-512 tiles, widest first: 6 x 64 (24 accumulators), 12 x 32 (24), 12 x 16 (12).
constexpr Shape kAvx512Shapes[] = {{6, 4, 1.0}, {12, 2, 1.15}, {12, 1, 1.5}};
// AVX2 tiles: 6 x 16 (12 of 16 ymm registers), 12 x 8 (12).
constexpr Shape kAvx2Shapes[] = {{6, 2, 1.0}, {12, 1, 1.5}};

template <int MR, int V>
__attribute__((target("avx512f,fma"))) void avx512(std::int64_t kc, const TileA& a,
                                                    const float* b, float* c, std::int64_t ldc,
                                                    std::int64_t nr, bool accumulate) {
    constexpr int NR = 16 * V;
    __m512 acc[MR][V];
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
    const std::int64_t rs = a.rs, cs = a.cs;
    const float* segment = a.a;
    for (std::int64_t p = 0, q = a.q0; p < kc; segment += a.segment_stride, q = 0) {
        const std::int64_t end = std::min(kc, p + a.segment - q);
        for (const float* ap = segment + q * cs; p < end; ++p, ap += cs) {
            __m512 row[V];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) row[v] = _mm512_loadu_ps(b + p * NR + 16 * v);
#pragma GCC unroll 12
            for (int i = 0; i < MR; ++i) {
                const __m512 ai = _mm512_set1_ps(ap[i * rs]);
#pragma GCC unroll 4
                for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, row[v], acc[i][v]);
            }
        }
    }
    // Vector v holds columns 16 v .. 16 v + 15; columns at or past nr are left alone (masked).
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
        const std::int64_t cols = std::clamp<std::int64_t>(nr - 16 * v, 0, 16);
        const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1);
#pragma GCC unroll 12
        for (int i = 0; i < MR; ++i) {
            float* out = c + i * ldc + 16 * v;
            _mm512_mask_storeu_ps(out, mask, accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), acc[i][v])
                                                        : acc[i][v]);
        }
    }
}

template <int MR, int V>
__attribute__((target("avx2,fma"))) void avx2(std::int64_t kc, const TileA& a, const float* b,
                                               float* c, std::int64_t ldc, std::int64_t nr,
                                               bool accumulate) {
    constexpr int NR = 8 * V;
    __m256 acc[MR][V];
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
    const std::int64_t rs = a.rs, cs = a.cs;
    const float* segment = a.a;
    for (std::int64_t p = 0, q = a.q0; p < kc; segment += a.segment_stride, q = 0) {
        const std::int64_t end = std::min(kc, p + a.segment - q);
        for (const float* ap = segment + q * cs; p < end; ++p, ap += cs) {
            __m256 row[V];
#pragma GCC unroll 2
            for (int v = 0; v < V; ++v) row[v] = _mm256_loadu_ps(b + p * NR + 8 * v);
#pragma GCC unroll 12
            for (int i = 0; i < MR; ++i) {
                const __m256 ai = _mm256_broadcast_ss(ap + i * rs);
#pragma GCC unroll 2
                for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(ai, row[v], acc[i][v]);
            }
        }
    }
    // As in avx512, with AVX's masked load and store (mask: the lane's sign bit).
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
        const std::int64_t cols = std::clamp<std::int64_t>(nr - 8 * v, 0, 8);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 12
        for (int i = 0; i < MR; ++i) {
            float* out = c + i * ldc + 8 * v;
            _mm256_maskstore_ps(out, mask, accumulate ? _mm256_add_ps(_mm256_maskload_ps(out, mask), acc[i][v])
                                                      : acc[i][v]);
        }
    }
}

// The GEMM's epilogue (Epilogue above, gemm.hpp's apply_epilogue) on a rows x cols block of c (row
// stride ldc): c = act(c * scale + shift + residual), null pointers skipping their step, act
// ReLU when `relu`. Each step rounds on its own as the portable loop's does: the product is
// passed through an empty asm statement so that the compiler cannot fuse it with the add into
// an FMA (GCC contracts intrinsics' vector arithmetic too), and ReLU is max(0, c), which
// returns c itself for NaN and -0 as std::max(c, 0.0f) does. So the bits equal the portable
// loop's (tested). Written out twice, like the kernels: the same loop in 512- and 256-bit
// intrinsics, each under its own target attribute. e's pointers start at the block's corner.

__attribute__((target("avx512f"))) inline void epilogue_avx512(const Epilogue& e, float* c,
                                                               std::int64_t ldc, std::int64_t rows,
                                                               std::int64_t cols) {
    for (std::int64_t i = 0; i < rows; ++i) {
        float* row = c + i * ldc;
        const float* res = e.residual ? e.residual + i * e.ld_residual : nullptr;
        for (std::int64_t j = 0; j < cols; j += 16) {
            const __mmask16 mask = static_cast<__mmask16>(cols - j >= 16 ? 0xFFFF : (1u << (cols - j)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(mask, row + j);
            if (e.scale) {
                v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mask, e.scale + j));
                asm("" : "+v"(v));
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, e.shift + j));
            }
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, res + j));
            if (e.relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);
            _mm512_mask_storeu_ps(row + j, mask, v);
        }
    }
}

__attribute__((target("avx2"))) inline void epilogue_avx2(const Epilogue& e, float* c,
                                                          std::int64_t ldc, std::int64_t rows,
                                                          std::int64_t cols) {
    for (std::int64_t i = 0; i < rows; ++i) {
        float* row = c + i * ldc;
        const float* res = e.residual ? e.residual + i * e.ld_residual : nullptr;
        for (std::int64_t j = 0; j < cols; j += 8) {
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<std::int64_t>(cols - j, 8))),
                                                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256 v = _mm256_maskload_ps(row + j, mask);
            if (e.scale) {
                v = _mm256_mul_ps(v, _mm256_maskload_ps(e.scale + j, mask));
                asm("" : "+x"(v));
                v = _mm256_add_ps(v, _mm256_maskload_ps(e.shift + j, mask));
            }
            if (res) v = _mm256_add_ps(v, _mm256_maskload_ps(res + j, mask));
            if (e.relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
            _mm256_maskstore_ps(row + j, mask, v);
        }
    }
}

// dst[r * ldd + c] = src[c * lds + r] for r, c < 8: an 8 x 8 block transposed in registers
// (packing the transposed weights of a forward convolution; every AVX-512 CPU has AVX2).
__attribute__((target("avx2"))) inline void transpose_8x8(const float* src, std::int64_t lds,
                                                          float* dst, std::int64_t ldd) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

}  // namespace agcnn::cpu::gemm_kernels
#endif  // AGCNN_X86_KERNELS
