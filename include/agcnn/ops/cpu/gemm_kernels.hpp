// agcnn/ops/cpu/gemm_kernels.hpp — the register-blocked inner loops of cpu::sgemm (gemm.hpp).
//
// kernel<MR>(kc, a, rs_a, cs_a, b, c, ldc, nr, accumulate) computes one MR x NR tile:
//   c[i, j] (+)= sum over p < kc of a[i * rs_a + p * cs_a] * b[p * NR + j],  i < MR, j < nr
//   a: MR rows of A, read in place through its strides (A is never packed: in every GEMM of
//      the conv ops either the rows or the columns of A are contiguous);
//   b: a packed panel, kc rows of NR floats (columns past the matrix's edge hold zeros);
//   c: row-major with row stride ldc; only the first nr <= NR columns are written;
//   accumulate: add to c (true) or overwrite it (false).
// The accumulators live in registers: AVX-512 uses 6 x 4 zmm (NR = 64) plus 4 for the B row
// and 1 broadcast, 29 of 32 registers; AVX2 uses 6 x 2 ymm (NR = 16), 15 of 16.
// Each function carries its own target attribute, so one binary holds both and gemm.hpp picks
// one at run time (__builtin_cpu_supports), whatever -march the program was built with. That
// attribute cannot depend on a template parameter, so the two kernels are written out twice
// (same loop, 512- or 256-bit intrinsics).
// Off x86 (AGCNN_X86_KERNELS is 0) this header declares nothing and gemm.hpp uses Eigen's
// product, plain C++ that Eigen vectorises for the target (NEON on aarch64).
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#define AGCNN_X86_KERNELS 1
#else
#define AGCNN_X86_KERNELS 0
#endif

#if AGCNN_X86_KERNELS
#include <immintrin.h>

namespace agcnn::cpu::gemm_kernels {

// Adds (or copies) the MR x NR tile computed into `tile` to the first nr columns of c.
template <int MR, int NR>
inline void write_tile(float* c, std::int64_t ldc, const float* tile, std::int64_t nr,
                       bool accumulate) {
    for (int i = 0; i < MR; ++i)
        for (std::int64_t j = 0; j < nr; ++j)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
}

constexpr int kAvx512Rows = 6, kAvx512Cols = 64;

template <int MR>
__attribute__((target("avx512f,fma"))) void avx512(std::int64_t kc, const float* a,
                                                    std::int64_t rs_a, std::int64_t cs_a,
                                                    const float* b, float* c, std::int64_t ldc,
                                                    std::int64_t nr, bool accumulate) {
    constexpr int V = kAvx512Cols / 16;
    __m512 acc[MR][V];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
    for (std::int64_t p = 0; p < kc; ++p) {
        __m512 row[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) row[v] = _mm512_loadu_ps(b + p * kAvx512Cols + 16 * v);
        const float* ap = a + p * cs_a;
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const __m512 ai = _mm512_set1_ps(ap[i * rs_a]);
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, row[v], acc[i][v]);
        }
    }
    if (nr == kAvx512Cols) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) {
                float* out = c + i * ldc + 16 * v;
                _mm512_storeu_ps(out, accumulate ? _mm512_add_ps(_mm512_loadu_ps(out), acc[i][v])
                                                 : acc[i][v]);
            }
        return;
    }
    alignas(64) float tile[MR * kAvx512Cols];
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < V; ++v) _mm512_store_ps(tile + i * kAvx512Cols + 16 * v, acc[i][v]);
    write_tile<MR, kAvx512Cols>(c, ldc, tile, nr, accumulate);
}

constexpr int kAvx2Rows = 6, kAvx2Cols = 16;

template <int MR>
__attribute__((target("avx2,fma"))) void avx2(std::int64_t kc, const float* a, std::int64_t rs_a,
                                               std::int64_t cs_a, const float* b, float* c,
                                               std::int64_t ldc, std::int64_t nr,
                                               bool accumulate) {
    constexpr int V = kAvx2Cols / 8;
    __m256 acc[MR][V];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
    for (std::int64_t p = 0; p < kc; ++p) {
        __m256 row[V];
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) row[v] = _mm256_loadu_ps(b + p * kAvx2Cols + 8 * v);
        const float* ap = a + p * cs_a;
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const __m256 ai = _mm256_broadcast_ss(ap + i * rs_a);
#pragma GCC unroll 2
            for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(ai, row[v], acc[i][v]);
        }
    }
    alignas(32) float tile[MR * kAvx2Cols];
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < V; ++v) _mm256_store_ps(tile + i * kAvx2Cols + 8 * v, acc[i][v]);
    write_tile<MR, kAvx2Cols>(c, ldc, tile, nr, accumulate);
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
