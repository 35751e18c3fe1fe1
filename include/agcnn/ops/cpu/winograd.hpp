// agcnn/ops/cpu/winograd.hpp — 3x3 stride-1 convolution by Winograd's F(2x2, 3x3) (NHWC, CPU).
//
// fast path: tested against the im2col reference of ops/conv2d.hpp (tests/test_cpu_kernels.cpp,
// tests/test_ops.cpp); the choice between the two is ops/cpu/winograd_choice.hpp.
//
// Shapes as conv2d (ops/conv2d.hpp): x [N, H, W, C], w [O, 3, 3, C] (OHWI), stride 1, pad p <= 2,
// y [N, OH, OW, O] with OH = H + 2p - 2, OW = W + 2p - 2.
//   winograd_forward(y, x, w, g, epilogue): y = conv2d(x, w) (then the epilogue, as in sgemm)
//   winograd_backward(dx, dw, dy, x, w, g): dx = (assigned), dw = (assigned); either may be null.
//
// Method (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). The output
// is cut into 2x2 tiles; tile t reads a 4x4 window d of the (zero-padded) input. With
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// each tile's output is Y = A^T [(G g G^T) . (B^T d B)] A, and the sum over input channels of
// the 16 element-wise products is 16 independent matrix products:
//   M[xi] [tiles, O] = V[xi] [tiles, C] * U[xi] [C, O],  xi = 0..15,
// with V = B^T d B per (tile, channel) and U = G g G^T per (channel, output channel): 16 x C x O
// multiply-adds per tile of 4 outputs instead of 36 x C x O (2.25x fewer).
//   dx: a convolution of dy with the filter flipped in space and with C and O swapped, padding
//       2 - p: the same routine, with U built from w[o, 2-ky, 2-kx, c] as [O, C].
//   dw: Y is linear in U, so dU[xi] [O, C] = sum over tiles of dM[xi]^T V[xi], dM = A dY A^T
//       (dY the tile's 2x2 output gradient, zero past the border), and dw = G^T dU G.
// Error: the transforms' coefficients are 0, +-1 and +-0.5, so the extra rounding is a few
// additions per value (docs/accuracy.md has the full-ResNet-50 figures beside direct
// convolution's).
//
// Tiles are processed in chunks of a fixed number (chosen from C and O only), so V and M stay
// within kWinogradBudget floats. Threads: within a chunk, transforms split over tiles and the
// products over xi (and output-row blocks for dw), each result formed by one thread; dw sums
// the chunks in chunk order. Every value is therefore the same for any thread count.
// The template serves float (products on cpu::sgemm's blocked kernels) and double (Eigen; the
// tests' gradient checks).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/core/geometry.hpp"
#include "agcnn/core/threads.hpp"
#include "agcnn/ops/cpu/gemm.hpp"
#include "agcnn/ops/cpu/thread_scratch.hpp"

namespace agcnn::cpu {

constexpr std::int64_t kWinogradBudget = std::int64_t(1) << 21;  // floats of V and M: 8 MB

// Whether Winograd F(2x2, 3x3) computes this convolution at all (whether it is faster is
// winograd_choice.hpp's question).
inline bool winograd_applies(const ConvGeometry& g) {
    return g.kh == 3 && g.kw == 3 && g.stride == 1 && g.pad <= 2 && g.oh > 0 && g.ow > 0;
}

namespace winograd_detail {

// The tiling of one convolution: `in` [N, H, W, C] -> `out` [N, OH, OW, O].
struct Tiling {
    std::int64_t n, h, w, c, o, pad, oh, ow;
    std::int64_t tiles_y() const { return (oh + 1) / 2; }
    std::int64_t tiles_x() const { return (ow + 1) / 2; }
    std::int64_t tiles() const { return n * tiles_y() * tiles_x(); }
    // Tiles per chunk: V [16, chunk, C] and M [16, chunk, O] within kWinogradBudget.
    std::int64_t chunk() const {
        return std::clamp<std::int64_t>(kWinogradBudget / (16 * (c + o)), 1, tiles());
    }
};

// Floats from one xi plane of U, V or M to the next: the plane rounded up to a whole cache line
// and one line more. Planes a power of two apart (C x O = 2^18, 1024 tiles x 64 channels) put
// the 16 streams of a transform in one L1 set; the weight transform ran 10x slower (13 ms for
// 512 x 512 channels).
inline std::int64_t plane_stride(std::int64_t floats) { return (floats + 15) / 16 * 16 + 16; }

inline Tiling forward_tiling(const ConvGeometry& g) {
    return {g.n, g.h, g.w, g.c, g.o, g.pad, g.oh, g.ow};
}
// dx as a convolution of dy [N, OH, OW, O] to [N, H, W, C], padding 2 - p.
inline Tiling input_gradient_tiling(const ConvGeometry& g) {
    return {g.n, g.oh, g.ow, g.o, g.c, 2 - g.pad, g.h, g.w};
}

struct WinogradScratch;  // thread_scratch.hpp's tag of this file's buffers

// Scratch of the float path (thread_scratch.hpp; slots: 0 U, 1 V, 2 M, 3 zeros, 4 the spill
// row of transform_output); never zeroed except the zero row, which is set on each call.
template <class T>
T* scratch(int slot, std::int64_t count) {
    return thread_scratch<T, WinogradScratch, 5>(slot, count);
}

// U[xi] = G g G^T, g the 3x3 filter of (output channel o, input channel c), stored so that the
// product reads it row by row (its packing is then a copy):
//   flipped false: U[xi] [C, O], g(ky, kx) = w[o, ky, kx, c]          (forward)
//   flipped true:  U[xi] [O, C], g(ky, kx) = w[o, 2-ky, 2-kx, c]      (dx)
// In 16 x 16 blocks of (o, c): w is read along c and U written along its rows within a block,
// whole cache lines both ways (the forward's U written in w's order took 8 ms at 512 x 512).
template <class T>
void transform_weights(T* u, const T* w, std::int64_t o, std::int64_t c, bool flipped) {
    constexpr std::int64_t B = 16;
    const std::int64_t plane = plane_stride(o * c), o_blocks = (o + B - 1) / B;
    const std::int64_t c_blocks = (c + B - 1) / B;
#pragma omp parallel for schedule(static) if (o * c > 4096)
    for (std::int64_t block = 0; block < o_blocks * c_blocks; ++block) {
        const std::int64_t o0 = block / c_blocks * B, c0 = block % c_blocks * B;
        for (std::int64_t oc = o0; oc < std::min(o, o0 + B); ++oc)
            for (std::int64_t ch = c0; ch < std::min(c, c0 + B); ++ch) {
                T g[3][3], gg[4][3];
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx)
                        g[ky][kx] = flipped ? w[((oc * 3 + 2 - ky) * 3 + 2 - kx) * c + ch]
                                            : w[((oc * 3 + ky) * 3 + kx) * c + ch];
                for (int kx = 0; kx < 3; ++kx) {  // G g
                    gg[0][kx] = g[0][kx];
                    gg[1][kx] = T(0.5) * (g[0][kx] + g[1][kx] + g[2][kx]);
                    gg[2][kx] = T(0.5) * (g[0][kx] - g[1][kx] + g[2][kx]);
                    gg[3][kx] = g[2][kx];
                }
                T* at = u + (flipped ? oc * c + ch : ch * o + oc);
                for (int i = 0; i < 4; ++i) {  // (G g) G^T
                    T* row = at + i * 4 * plane;
                    row[0 * plane] = gg[i][0];
                    row[1 * plane] = T(0.5) * (gg[i][0] + gg[i][1] + gg[i][2]);
                    row[2 * plane] = T(0.5) * (gg[i][0] - gg[i][1] + gg[i][2]);
                    row[3 * plane] = gg[i][2];
                }
            }
    }
}

// The 16 rows of `in` [N, H, W, C] under tile `t`'s 4x4 window (row-major), `zeros` where the
// window hangs over the border.
template <class T>
void window_rows(const T* (&rows)[16], const T* in, const T* zeros, const Tiling& s,
                 std::int64_t t) {
    const std::int64_t tx = t % s.tiles_x(), ty = t / s.tiles_x() % s.tiles_y(),
                       n = t / (s.tiles_x() * s.tiles_y());
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const std::int64_t iy = 2 * ty - s.pad + i, ix = 2 * tx - s.pad + j;
            rows[i * 4 + j] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w
                                  ? in + ((n * s.h + iy) * s.w + ix) * s.c
                                  : zeros;
        }
}

// v[xi, t - t0, :] = (B^T d B)[xi] for tiles t0..t1 of `in` (v: [16, chunk, C]).
template <class T>
void transform_input(T* v, const T* in, const T* zeros, const Tiling& s, std::int64_t t0,
                     std::int64_t t1, std::int64_t chunk) {
    const std::int64_t plane = plane_stride(chunk * s.c);
#pragma omp for schedule(static)
    for (std::int64_t t = t0; t < t1; ++t) {
        const T* d[16];
        window_rows(d, in, zeros, s, t);
        T* out = v + (t - t0) * s.c;
#pragma omp simd
        for (std::int64_t ch = 0; ch < s.c; ++ch) {
            T r[4][4];
            for (int j = 0; j < 4; ++j) {  // B^T d
                r[0][j] = d[0 + j][ch] - d[8 + j][ch];
                r[1][j] = d[4 + j][ch] + d[8 + j][ch];
                r[2][j] = d[8 + j][ch] - d[4 + j][ch];
                r[3][j] = d[4 + j][ch] - d[12 + j][ch];
            }
            for (int i = 0; i < 4; ++i) {  // (B^T d) B
                out[(i * 4 + 0) * plane + ch] = r[i][0] - r[i][2];
                out[(i * 4 + 1) * plane + ch] = r[i][1] + r[i][2];
                out[(i * 4 + 2) * plane + ch] = r[i][2] - r[i][1];
                out[(i * 4 + 3) * plane + ch] = r[i][1] - r[i][3];
            }
        }
    }
}

// dm[xi, t - t0, :] = (A dY A^T)[xi] for tiles t0..t1, dY the tile's 2x2 block of `dy`
// [N, OH, OW, O] (zero past the border); dm: [16, chunk, O].
template <class T>
void transform_output_gradient(T* dm, const T* dy, const T* zeros, const Tiling& s,
                               std::int64_t t0, std::int64_t t1, std::int64_t chunk) {
    const std::int64_t plane = plane_stride(chunk * s.o);
#pragma omp for schedule(static)
    for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t tx = t % s.tiles_x(), ty = t / s.tiles_x() % s.tiles_y(),
                           n = t / (s.tiles_x() * s.tiles_y());
        const T* e[2][2];
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
                const std::int64_t oy = 2 * ty + a, ox = 2 * tx + b;
                e[a][b] = oy < s.oh && ox < s.ow ? dy + ((n * s.oh + oy) * s.ow + ox) * s.o : zeros;
            }
        T* out = dm + (t - t0) * s.o;
#pragma omp simd
        for (std::int64_t oc = 0; oc < s.o; ++oc) {
            T r[4][2];
            for (int b = 0; b < 2; ++b) {  // A dY, A = [1 0; 1 1; 1 -1; 0 -1]
                r[0][b] = e[0][b][oc];
                r[1][b] = e[0][b][oc] + e[1][b][oc];
                r[2][b] = e[0][b][oc] - e[1][b][oc];
                r[3][b] = -e[1][b][oc];
            }
            for (int i = 0; i < 4; ++i) {  // (A dY) A^T
                out[(i * 4 + 0) * plane + oc] = r[i][0];
                out[(i * 4 + 1) * plane + oc] = r[i][0] + r[i][1];
                out[(i * 4 + 2) * plane + oc] = r[i][0] - r[i][1];
                out[(i * 4 + 3) * plane + oc] = -r[i][1];
            }
        }
    }
}

// out's pixels under tiles t0..t1 = A^T M A, from m [16, chunk, O]; then the epilogue per pixel.
template <class T>
void transform_output(T* out, const T* m, const Tiling& s, std::int64_t t0, std::int64_t t1,
                      std::int64_t chunk, const Epilogue* epilogue) {
    const std::int64_t plane = plane_stride(chunk * s.o);
#pragma omp for schedule(static)
    for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t tx = t % s.tiles_x(), ty = t / s.tiles_x() % s.tiles_y(),
                           n = t / (s.tiles_x() * s.tiles_y());
        const T* src = m + (t - t0) * s.o;
        T* y[2][2];
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
                const std::int64_t oy = 2 * ty + a, ox = 2 * tx + b;
                // Pixels past the border are computed into a row that is not kept.
                y[a][b] = oy < s.oh && ox < s.ow ? out + ((n * s.oh + oy) * s.ow + ox) * s.o
                                                 : nullptr;
            }
        T* spill = scratch<T>(4, s.o);
        for (auto& row : y)
            for (T*& p : row)
                if (!p) p = spill;
#pragma omp simd
        for (std::int64_t oc = 0; oc < s.o; ++oc) {
            T r[2][4];
            for (int j = 0; j < 4; ++j) {  // A^T M
                const T m0 = src[(0 + j) * plane + oc], m1 = src[(4 + j) * plane + oc],
                        m2 = src[(8 + j) * plane + oc], m3 = src[(12 + j) * plane + oc];
                r[0][j] = m0 + m1 + m2;
                r[1][j] = m1 - m2 - m3;
            }
            for (int a = 0; a < 2; ++a) {  // (A^T M) A
                y[a][0][oc] = r[a][0] + r[a][1] + r[a][2];
                y[a][1][oc] = r[a][1] - r[a][2] - r[a][3];
            }
        }
        if constexpr (std::is_same_v<T, float>) {
            if (epilogue)
                for (int a = 0; a < 2; ++a)
                    for (int b = 0; b < 2; ++b)
                        if (y[a][b] != spill) {
                            const std::int64_t pixel = (y[a][b] - out) / s.o;
                            gemm_detail::apply_epilogue(*epilogue, out, s.o, pixel, pixel + 1, 0,
                                                        s.o);
                        }
        }
    }
}

// The forward filters as the products read them, for weights that do not change (inference:
// ops/cpu/packed_filters.hpp): U[xi] [C, O] = G g G^T of w [O, 3, 3, C], each plane packed
// whole for the GEMM kernels (gemm_detail::pack_all), plane xi at xi * packed_plane(C, O).
inline std::int64_t packed_plane(std::int64_t c, std::int64_t o) {
    return gemm_detail::packed_size(gemm_detail::kernels_for(o), c, o);
}
inline void pack_filters(float* packed, const float* w, std::int64_t o, std::int64_t c) {
    std::vector<float> u(static_cast<std::size_t>(16 * plane_stride(c * o)));
    transform_weights(u.data(), w, o, c, false);
    for (int xi = 0; xi < 16; ++xi)
        gemm_detail::pack_all(gemm_detail::kernels_for(o), c, o,
                              {u.data() + xi * plane_stride(c * o), o, 1}, packed + xi * packed_plane(c, o));
}

// c[i0:i1, :] (= or +=) a[i0:i1, :] b for a [m, k], b [k, n] on the calling thread alone;
// `packed`, when given, is b in pack_all's layout (the x86 kernels only).
inline void product_rows(std::int64_t i0, std::int64_t i1, std::int64_t n, std::int64_t k,
                         const StridedMatrix& a, const StridedMatrix& b, float* c,
                         std::int64_t ldc, bool accumulate, const float* packed = nullptr) {
    const gemm_detail::KernelSet& set = gemm_detail::kernels_for(n);
    if (set.mr != 0 && k > 0) {
        const gemm_detail::PackedB prepacked{packed, n};
        gemm_detail::sgemm_block(set, i0, i1, 0, n, k, a, b, c, ldc, accumulate, nullptr,
                                 packed ? &prepacked : nullptr);
        return;
    }
    AGCNN_CHECK(!packed, "winograd: packed filters without the x86 kernels");
    gemm_detail::eigen_sgemm(i1 - i0, n, k, {a.data + i0 * a.row_stride, a.row_stride, a.col_stride},
                             b, c + i0 * ldc, ldc, accumulate);
}
inline void product_rows(std::int64_t i0, std::int64_t i1, std::int64_t n, std::int64_t k,
                         const double* a, std::int64_t a_rs, std::int64_t a_cs, const double* b,
                         std::int64_t b_rs, std::int64_t b_cs, double* c, std::int64_t ldc,
                         bool accumulate) {
    using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strides = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
    const Eigen::Map<const Mat, 0, Strides> A(a + i0 * a_rs, i1 - i0, k, Strides(a_rs, a_cs));
    const Eigen::Map<const Mat, 0, Strides> B(b, k, n, Strides(b_rs, b_cs));
    Eigen::Map<Mat, 0, Eigen::OuterStride<>> C(c + i0 * ldc, i1 - i0, n, Eigen::OuterStride<>(ldc));
    if (accumulate)
        C.noalias() += A * B;
    else
        C.noalias() = A * B;
}
// One signature for both element types: strides as in StridedMatrix.
template <class T>
void product(std::int64_t i0, std::int64_t i1, std::int64_t n, std::int64_t k, const T* a,
             std::int64_t a_rs, std::int64_t a_cs, const T* b, std::int64_t b_rs,
             std::int64_t b_cs, T* c, std::int64_t ldc, bool accumulate,
             const float* packed = nullptr) {
    if constexpr (std::is_same_v<T, float>)
        product_rows(i0, i1, n, k, {a, a_rs, a_cs}, {b, b_rs, b_cs}, c, ldc, accumulate, packed);
    else
        product_rows(i0, i1, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc, accumulate);
}

// out = the convolution of `in` with the transformed filters u: [16, C, O] read through strides
// (u_rs, u_cs) per xi plane of C * O values (tiling s), or, when `packed` is given (float,
// forward only), with the planes already packed (pack_filters above; u unused).
template <class T>
void convolve(T* out, const T* in, const T* u, std::int64_t u_rs, std::int64_t u_cs,
              const Tiling& s, const Epilogue* epilogue, const float* packed = nullptr) {
    const std::int64_t chunk = s.chunk(), total = s.tiles();
    const std::int64_t v_plane = plane_stride(chunk * s.c), m_plane = plane_stride(chunk * s.o);
    T* v = scratch<T>(1, 16 * v_plane);
    T* m = scratch<T>(2, 16 * m_plane);
    T* zeros = scratch<T>(3, s.c);
    std::fill(zeros, zeros + s.c, T(0));
    for (std::int64_t t0 = 0; t0 < total; t0 += chunk) {
        const std::int64_t t1 = std::min(total, t0 + chunk), tiles = t1 - t0;
#pragma omp parallel
        {
            transform_input(v, in, static_cast<const T*>(zeros), s, t0, t1, chunk);
#pragma omp for schedule(dynamic)
            for (int xi = 0; xi < 16; ++xi)
                product<T>(0, tiles, s.o, s.c, v + xi * v_plane, s.c, 1,
                           packed ? nullptr : u + xi * plane_stride(s.c * s.o), u_rs, u_cs,
                           m + xi * m_plane, s.o, false,
                           packed ? packed + xi * packed_plane(s.c, s.o) : nullptr);
            transform_output(out, static_cast<const T*>(m), s, t0, t1, chunk, epilogue);
        }
    }
}

// Rows of dU per unit of work in the weight gradient's products.
constexpr std::int64_t kWeightRows = 64;

// dw [O, 3, 3, C] = G^T dU G from du [16, O, C].
template <class T>
void weights_from_transform(T* dw, const T* du, std::int64_t o, std::int64_t c) {
    const std::int64_t plane = plane_stride(o * c);
#pragma omp parallel for schedule(static) if (o * c > 4096)
    for (std::int64_t oc = 0; oc < o; ++oc)
        for (std::int64_t ch = 0; ch < c; ++ch) {
            const T* src = du + oc * c + ch;
            T q[3][4];
            for (int j = 0; j < 4; ++j) {  // G^T dU, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]
                const T u0 = src[(0 + j) * plane], u1 = src[(4 + j) * plane],
                        u2 = src[(8 + j) * plane], u3 = src[(12 + j) * plane];
                q[0][j] = u0 + T(0.5) * (u1 + u2);
                q[1][j] = T(0.5) * (u1 - u2);
                q[2][j] = T(0.5) * (u1 + u2) + u3;
            }
            for (int ky = 0; ky < 3; ++ky) {  // (G^T dU) G
                T* row = dw + ((oc * 3 + ky) * 3) * c + ch;
                row[0] = q[ky][0] + T(0.5) * (q[ky][1] + q[ky][2]);
                row[c] = T(0.5) * (q[ky][1] - q[ky][2]);
                row[2 * c] = T(0.5) * (q[ky][1] + q[ky][2]) + q[ky][3];
            }
        }
}

// dw from x and dy: du [16, O, C] summed over the chunks in order, then G^T du G.
template <class T>
void weight_gradient(T* dw, const T* dy, const T* x, const ConvGeometry& g) {
    const Tiling s = forward_tiling(g);
    const std::int64_t chunk = s.chunk(), total = s.tiles();
    const std::int64_t u_plane = plane_stride(g.o * g.c), v_plane = plane_stride(chunk * s.c),
                       m_plane = plane_stride(chunk * s.o);
    T* du = scratch<T>(0, 16 * u_plane);
    T* v = scratch<T>(1, 16 * v_plane);
    T* dm = scratch<T>(2, 16 * m_plane);
    T* zeros = scratch<T>(3, std::max(s.c, s.o));
    std::fill(zeros, zeros + std::max(s.c, s.o), T(0));
    const std::int64_t row_blocks = (g.o + kWeightRows - 1) / kWeightRows;
    for (std::int64_t t0 = 0; t0 < total; t0 += chunk) {
        const std::int64_t t1 = std::min(total, t0 + chunk), tiles = t1 - t0;
#pragma omp parallel
        {
            transform_input(v, x, static_cast<const T*>(zeros), s, t0, t1, chunk);
            transform_output_gradient(dm, dy, static_cast<const T*>(zeros), s, t0, t1, chunk);
#pragma omp for schedule(dynamic)
            for (std::int64_t unit = 0; unit < 16 * row_blocks; ++unit) {
                const std::int64_t xi = unit / row_blocks, r0 = unit % row_blocks * kWeightRows;
                // du[xi] [O, C] (+)= dm[xi]^T [O, tiles] v[xi] [tiles, C]
                product<T>(r0, std::min(g.o, r0 + kWeightRows), g.c, tiles,
                           dm + xi * m_plane, 1, s.o, v + xi * v_plane, s.c, 1,
                           du + xi * u_plane, g.c, t0 > 0);
            }
        }
    }
    weights_from_transform(dw, static_cast<const T*>(du), g.o, g.c);
}

}  // namespace winograd_detail

// `packed`: w's filters from winograd_detail::pack_filters (float only), else transformed here.
template <class T>
void winograd_forward(T* y, const T* x, const T* w, const ConvGeometry& g,
                      const Epilogue* epilogue = nullptr, const float* packed = nullptr) {
    AGCNN_CHECK(winograd_applies(g), "winograd: not a 3x3 stride-1 convolution with pad <= 2");
    if (packed)
        return winograd_detail::convolve(y, x, static_cast<const T*>(nullptr), g.o, 1,
                                         winograd_detail::forward_tiling(g), epilogue, packed);
    T* u = winograd_detail::scratch<T>(0, 16 * winograd_detail::plane_stride(g.c * g.o));
    winograd_detail::transform_weights(u, w, g.o, g.c, false);
    winograd_detail::convolve(y, x, static_cast<const T*>(u), g.o, 1,
                              winograd_detail::forward_tiling(g), epilogue);
}

template <class T>
void winograd_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const ConvGeometry& g) {
    AGCNN_CHECK(winograd_applies(g), "winograd: not a 3x3 stride-1 convolution with pad <= 2");
    if (dx) {
        T* u = winograd_detail::scratch<T>(0, 16 * winograd_detail::plane_stride(g.c * g.o));
        winograd_detail::transform_weights(u, w, g.o, g.c, true);
        winograd_detail::convolve(dx, dy, static_cast<const T*>(u), g.c, 1,
                                  winograd_detail::input_gradient_tiling(g), nullptr);
    }
    if (dw) winograd_detail::weight_gradient(dw, dy, x, g);
}

}  // namespace agcnn::cpu
