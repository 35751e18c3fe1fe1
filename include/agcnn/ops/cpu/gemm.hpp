// agcnn/ops/cpu/gemm.hpp — single-precision matrix product for the CPU fast path of the ops.
//
// sgemm(m, n, k, A, B, c, ldc, accumulate, epilogue):
//   A [m, k], B [k, n] given as StridedMatrix (element (i, j) at data[i*row_stride +
//   j*col_stride]), so transposed operands need no copy; c [m, n] row-major, row stride ldc.
//   c = A B (accumulate false) or c += A B (accumulate true), then, when an Epilogue is given,
//   c[i, j] = act(c[i, j] * scale[j] + shift[j] + residual[i, j]) (each part optional): an
//   eval-mode batch norm, residual add and ReLU applied to each tile while it is in L1.
// Every element of c is summed by one thread in a fixed order (k in blocks of kDepth, each
// block in order), so the result does not depend on the thread count.
//
// Method (the BLIS loop nest, with A left in place): c is cut into slices the threads take in
// turn (see sgemm_with); for each block of kDepth rows of B and kWidth columns of its slice, a
// thread packs the block into panels of NR columns (zero-padded; in its thread_scratch.hpp buffer) and
// runs a register-blocked kernel (gemm_kernels.hpp) on every (MR-row tile, panel) pair. AVX-512
// or AVX2+FMA is chosen at run time, and the tile shape per product by its column count
// (kernels_for: narrow tiles for few columns, same bits); a CPU
// with neither, and every CPU that is not x86 (chosen at compile time), gets Eigen's product,
// which is also the reference the tests compare against: single-threaded Eigen on fixed blocks
// of kEigenRows rows, spread over the threads (Eigen's sums depend on the block's shape, so the
// blocks must not depend on the thread count).
// Callers that run many products with the same B on their own threads (conv_in_place.hpp) pack
// it once with pack_all and multiply with multiply_packed: the same loop nest, the same sums.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "agcnn/core/threads.hpp"  // before Eigen: it keeps Eigen's products single-threaded
#include "agcnn/ops/cpu/gemm_kernels.hpp"
#include "agcnn/ops/cpu/short_copy.hpp"
#include "agcnn/ops/cpu/thread_scratch.hpp"

#include <Eigen/Core>

namespace agcnn::cpu {

// Element (i, j) at data[i*row_stride + j*col_stride]. A (never B) may also be read in
// segments of `segment` columns, each segment_stride apart: (i, j) at data[i*row_stride +
// (j / segment)*segment_stride + (j % segment)*col_stride] (a convolution's patches in place:
// conv_in_place.hpp; 0: no segments). Only the x86 kernels read segments.
struct StridedMatrix {
    const float* data;
    std::int64_t row_stride, col_stride;
    std::int64_t segment = 0, segment_stride = 0;
};

namespace gemm_detail {

// c[i0:i1, j0:j1] = epilogue(c[i0:i1, j0:j1]) (rows and columns of the whole matrix) in plain
// C++: one branch-free loop per step, so each vectorises for the build's baseline (SSE2 in the
// portable x86 build). The reference of the vector versions below, and the path off x86.
inline void apply_epilogue_portable(const Epilogue& e, float* c, std::int64_t ldc, std::int64_t i0,
                                    std::int64_t i1, std::int64_t j0, std::int64_t j1) {
    const std::int64_t n = j1 - j0;
    const float* scale = e.scale ? e.scale + j0 : nullptr;
    const float* shift = e.shift ? e.shift + j0 : nullptr;
    for (std::int64_t i = i0; i < i1; ++i) {
        float* row = c + i * ldc + j0;
        if (scale)
            for (std::int64_t j = 0; j < n; ++j) row[j] = row[j] * scale[j] + shift[j];
        if (e.residual) {
            const float* res = e.residual + i * e.ld_residual + j0;
            for (std::int64_t j = 0; j < n; ++j) row[j] += res[j];
        }
        if (e.relu)
            for (std::int64_t j = 0; j < n; ++j) row[j] = std::max(row[j], 0.0f);
    }
}

// The same, with AVX-512 or AVX2 when the CPU has them (gemm_kernels.hpp: the same bits; it was
// a tenth of a batch-1 inference in SSE2, docs/benchmarks.md change 33); chosen once.
inline void apply_epilogue(const Epilogue& e, float* c, std::int64_t ldc, std::int64_t i0,
                           std::int64_t i1, std::int64_t j0, std::int64_t j1) {
#if AGCNN_X86_KERNELS
    using Vector = void (*)(const Epilogue&, float*, std::int64_t, std::int64_t, std::int64_t);
    static const Vector vector = [] () -> Vector {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return &gemm_kernels::epilogue_avx512;
        if (__builtin_cpu_supports("avx2")) return &gemm_kernels::epilogue_avx2;
        return nullptr;
    }();
    if (vector) {
        const Epilogue block{e.scale ? e.scale + j0 : nullptr, e.shift ? e.shift + j0 : nullptr,
                             e.residual ? e.residual + i0 * e.ld_residual + j0 : nullptr, e.ld_residual,
                             e.relu};  // the same steps, from the block's corner
        return vector(block, c + i0 * ldc + j0, ldc, i1 - i0, j1 - j0);
    }
#endif
    apply_epilogue_portable(e, c, ldc, i0, i1, j0, j1);
}

constexpr std::int64_t kDepth = 256;  // rows of B per packed block: a 64-wide panel is 64 KB
constexpr std::int64_t kWidth = 512;  // columns of B per packed block: 512 KB, fits L2

using gemm_kernels::TileA;
using Kernel = void (*)(std::int64_t, const TileA&, const float*, float*, std::int64_t,
                        std::int64_t, bool);

constexpr int kMaxTileRows = 12;

struct KernelSet {
    const char* isa = "";  // "AVX-512", "AVX2"
    int mr = 0, nr = 0;    // tile shape; 0: no kernel for this CPU
    double column_cost = 1;  // time per padded column, relative (gemm_kernels::Shape)
    Kernel by_rows[kMaxTileRows + 1]{};  // by_rows[r] computes an r-row tile, 1 <= r <= mr
};

template <template <int, int> class Fn, int V, int... R>
KernelSet make_set(const char* isa, int lanes, double column_cost, std::integer_sequence<int, R...>) {
    static_assert(sizeof...(R) <= kMaxTileRows);
    KernelSet set;
    set.isa = isa;
    set.column_cost = column_cost;
    set.mr = sizeof...(R);
    set.nr = lanes * V;
    ((set.by_rows[R + 1] = &Fn<R + 1, V>::run), ...);
    return set;
}
#if AGCNN_X86_KERNELS
template <int MR, int V>
struct Avx512 {
    static void run(std::int64_t kc, const TileA& a, const float* b, float* c, std::int64_t ldc,
                    std::int64_t nr, bool acc) {
        gemm_kernels::avx512<MR, V>(kc, a, b, c, ldc, nr, acc);
    }
};
template <int MR, int V>
struct Avx2 {
    static void run(std::int64_t kc, const TileA& a, const float* b, float* c, std::int64_t ldc,
                    std::int64_t nr, bool acc) {
        gemm_kernels::avx2<MR, V>(kc, a, b, c, ldc, nr, acc);
    }
};

// One KernelSet per shape of `shapes` (widest first).
template <template <int, int> class Fn, const gemm_kernels::Shape* shapes, std::size_t... S>
std::vector<KernelSet> make_family(const char* isa, int lanes, std::index_sequence<S...>) {
    return {make_set<Fn, shapes[S].vectors>(isa, lanes, shapes[S].column_cost,
                                            std::make_integer_sequence<int, shapes[S].rows>{})...};
}
#endif  // AGCNN_X86_KERNELS

// The kernel families this CPU can run, best instruction set first, each family's tile shapes
// widest first (empty when it has neither AVX-512 nor AVX2, and off x86).
inline std::vector<std::vector<KernelSet>> kernel_families() {
    std::vector<std::vector<KernelSet>> families;
#if AGCNN_X86_KERNELS
    using gemm_kernels::kAvx2Shapes, gemm_kernels::kAvx512Shapes;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        families.push_back(make_family<Avx512, kAvx512Shapes>(
            "AVX-512", 16, std::make_index_sequence<std::size(kAvx512Shapes)>{}));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        families.push_back(make_family<Avx2, kAvx2Shapes>(
            "AVX2", 8, std::make_index_sequence<std::size(kAvx2Shapes)>{}));
#endif
    return families;
}

// Every kernel set this CPU can run (the tests run them all).
inline std::vector<KernelSet> available_kernels() {
    std::vector<KernelSet> sets;
    for (const auto& family : kernel_families()) sets.insert(sets.end(), family.begin(), family.end());
    return sets;
}

// The best instruction set's tile shapes, widest first (one empty set when there is none);
// looked up once.
inline const std::vector<KernelSet>& best_family() {
    static const std::vector<KernelSet> family = [] {
        const auto families = kernel_families();
        return families.empty() ? std::vector<KernelSet>{KernelSet{}} : families.front();
    }();
    return family;
}

// The widest tile of the best instruction set: what this CPU runs on wide products.
inline const KernelSet& kernels() { return best_family().front(); }

// The tile shape for a product with n columns: the least predicted time, n rounded up to the
// tile's width times the tile's column cost; the wider tile on a tie. Products whose n is a
// multiple of 64 (nearly all of ResNet-50's) keep the widest tile; the demo's 8- to 32-channel
// convolutions get narrow ones. Any shape gives the same bits (gemm_kernels.hpp).
inline const KernelSet& kernels_for(std::int64_t n) {
    const std::vector<KernelSet>& family = best_family();
    const KernelSet* best = &family.front();
    auto cost = [n](const KernelSet& s) { return double((n + s.nr - 1) / s.nr * s.nr) * s.column_cost; };
    for (const KernelSet& s : family)
        if (cost(s) < cost(*best)) best = &s;
    return *best;
}

// packed[panel][p][j] = B[p0 + p, j0 + panel*nr + j], zero past column n.
inline void pack_panel(float* packed, const StridedMatrix& b, std::int64_t p0, std::int64_t kc,
                       std::int64_t j0, std::int64_t cols, int nr) {
    if (b.col_stride == 1) {
        for (std::int64_t p = 0; p < kc; ++p) {
            const float* src = b.data + (p0 + p) * b.row_stride + j0;
            float* dst = packed + p * nr;
            copy_short(src, cols, dst);
            fill_short(dst + cols, nr - cols);
        }
        return;
    }
    // B's columns are contiguous (B is a transposed row-major matrix, e.g. the weights): whole
    // panels in 8 x 8 blocks transposed in registers, anything else element by element.
    const float* src = b.data + p0 * b.row_stride + j0 * b.col_stride;
#if AGCNN_X86_KERNELS
    if (b.row_stride == 1 && cols == nr && nr % 8 == 0 && kc % 8 == 0 && kernels().mr != 0) {
        // Eight rows of the source at a time, each read front to back: eight streams the
        // hardware prefetcher follows (all 64 rows of the panel at once were too many).
        for (std::int64_t j = 0; j < nr; j += 8)
            for (std::int64_t p = 0; p < kc; p += 8) {
                if (p % 16 == 0)
                    for (int r = 0; r < 8; ++r)
                        __builtin_prefetch(src + p + 64 + (j + r) * b.col_stride);
                gemm_kernels::transpose_8x8(src + p + j * b.col_stride, b.col_stride,
                                            packed + p * nr + j, nr);
            }
        return;
    }
#endif
    for (std::int64_t p = 0; p < kc; ++p) {
        float* dst = packed + p * nr;
        for (std::int64_t j = 0; j < cols; ++j) dst[j] = src[p * b.row_stride + j * b.col_stride];
        std::fill(dst + cols, dst + nr, 0.0f);
    }
}

constexpr std::int64_t kEigenRows = 96;

inline void eigen_sgemm(std::int64_t m, std::int64_t n, std::int64_t k, const StridedMatrix& a,
                        const StridedMatrix& b, float* c, std::int64_t ldc, bool accumulate) {
    AGCNN_CHECK(a.segment == 0, "sgemm: a segmented A needs the x86 kernels");
    using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strides = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
    const Eigen::Map<const Mat, 0, Strides> B(b.data, k, n, Strides(b.row_stride, b.col_stride));
    for_each_chunk(m, kEigenRows, m * n * k > 262144, [&](std::int64_t, std::int64_t i0, std::int64_t i1) {
        const Eigen::Map<const Mat, 0, Strides> A(a.data + i0 * a.row_stride, i1 - i0, k,
                                                  Strides(a.row_stride, a.col_stride));
        Eigen::Map<Mat, 0, Eigen::OuterStride<>> C(c + i0 * ldc, i1 - i0, n, Eigen::OuterStride<>(ldc));
        if (accumulate)
            C.noalias() += A * B;
        else
            C.noalias() = A * B;
    });
}

struct GemmPacking;  // thread_scratch.hpp's tag of the packing buffer

// Panels of NR columns that cover n columns.
inline std::int64_t panel_count(const KernelSet& set, std::int64_t n) { return (n + set.nr - 1) / set.nr; }

// The rows i.. of A from column p0 on, as a kernel reads them.
inline TileA tile_a(const StridedMatrix& a, std::int64_t i, std::int64_t p0) {
    if (a.segment == 0)
        return {a.data + i * a.row_stride + p0 * a.col_stride, a.row_stride, a.col_stride, 0,
                std::numeric_limits<std::int64_t>::max() / 2, 0};  // one segment: never ends
    return {a.data + i * a.row_stride + p0 / a.segment * a.segment_stride, a.row_stride,
            a.col_stride, p0 % a.segment, a.segment, a.segment_stride};
}

// c[i0:i1, j0:j0+nc] (+)= A[i0:i1, p0:p0+kc] B[p0:p0+kc, j0:j0+nc], B's panels packed at
// `packed` (pack_panel, kc x nr each); `finish` (the epilogue after the last block) applied to
// each finished tile.
inline void run_tiles(const KernelSet& set, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                      std::int64_t nc, std::int64_t p0, std::int64_t kc, const StridedMatrix& a,
                      const float* packed, float* c, std::int64_t ldc, bool add,
                      const Epilogue* finish) {
    const std::int64_t panels = panel_count(set, nc);
    for (std::int64_t i = i0; i < i1; i += set.mr) {
        const std::int64_t rows = std::min<std::int64_t>(set.mr, i1 - i);
        const TileA tile = tile_a(a, i, p0);
        for (std::int64_t panel = 0; panel < panels; ++panel) {
            const std::int64_t col = j0 + panel * set.nr;
            const std::int64_t cols = std::min<std::int64_t>(set.nr, j0 + nc - col);
            // What the tile reads after its k loop, fetched while the loop runs.
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t j = 0; j < cols; j += 16) {
                    if (add) __builtin_prefetch(c + (i + r) * ldc + col + j);
                    if (finish && finish->residual)
                        __builtin_prefetch(finish->residual + (i + r) * finish->ld_residual + col + j);
                }
            set.by_rows[rows](kc, tile, packed + panel * kc * set.nr, c + i * ldc + col, ldc, cols,
                              add);
            if (finish) apply_epilogue(*finish, c, ldc, i, i + rows, col, col + cols);
        }
    }
}

// All of B [k, n] packed once, for many products with the same B (a convolution's weights,
// shared by the threads that take its output rows): blocks of kDepth rows, each as
// pack_panel's panels over all n columns. packed_size floats; the block of rows p0.. (a
// multiple of kDepth) starts block_offset floats in.
inline std::int64_t packed_size(const KernelSet& set, std::int64_t k, std::int64_t n) {
    return k * panel_count(set, n) * set.nr;
}
inline std::int64_t block_offset(const KernelSet& set, std::int64_t n, std::int64_t p0) {
    return p0 * panel_count(set, n) * set.nr;
}
// B [k, n] already packed whole by pack_all (below) for one kernel set: `data` holds
// packed_size(set, k, n) floats.
struct PackedB {
    const float* data;
    std::int64_t n;
};

// c[i0:i1, j0:j1] from the blocked loop nest, packing B into this thread's own buffer, or
// reading its panels from `prepacked` (pack_all's layout for `set`; j0 a multiple of set.nr):
// the same blocks and the same sums either way.
inline void sgemm_block(const KernelSet& set, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                        std::int64_t j1, std::int64_t k, const StridedMatrix& a,
                        const StridedMatrix& b, float* c, std::int64_t ldc, bool accumulate,
                        const Epilogue* epilogue, const PackedB* prepacked = nullptr) {
    AGCNN_CHECK(!prepacked || j0 % set.nr == 0, "sgemm: prepacked columns start mid-panel");
    const std::int64_t width = kWidth / set.nr * set.nr;  // whole panels, so prepacked blocks align
    for (std::int64_t p0 = 0; p0 < k; p0 += kDepth) {
        const std::int64_t kc = std::min(kDepth, k - p0);
        const Epilogue* finish = p0 + kc == k ? epilogue : nullptr;
        for (std::int64_t jb = j0; jb < j1; jb += width) {
            const std::int64_t nc = std::min(width, j1 - jb);
            const float* panels = nullptr;
            if (prepacked) {
                panels = prepacked->data + block_offset(set, prepacked->n, p0) + jb / set.nr * kc * set.nr;
            } else {
                const std::int64_t count = panel_count(set, nc);
                float* packed = thread_scratch<float, GemmPacking>(0, count * kc * set.nr);
                for (std::int64_t panel = 0; panel < count; ++panel)
                    pack_panel(packed + panel * kc * set.nr, b, p0, kc, jb + panel * set.nr,
                               std::min<std::int64_t>(set.nr, nc - panel * set.nr), set.nr);
                panels = packed;
            }
            run_tiles(set, i0, i1, jb, nc, p0, kc, a, panels, c, ldc, accumulate || p0 > 0, finish);
        }
    }
}

inline void pack_all(const KernelSet& set, std::int64_t k, std::int64_t n, const StridedMatrix& b,
                     float* packed) {
    for (std::int64_t p0 = 0; p0 < k; p0 += kDepth) {
        const std::int64_t kc = std::min(kDepth, k - p0);
        for (std::int64_t panel = 0; panel < panel_count(set, n); ++panel)
            pack_panel(packed + block_offset(set, n, p0) + panel * kc * set.nr, b, p0, kc,
                       panel * set.nr, std::min<std::int64_t>(set.nr, n - panel * set.nr), set.nr);
    }
}
// c[i0:i1, :] (+)= A[i0:i1, :] B with B from pack_all, on the calling thread: the same sums
// as sgemm_with (the same blocks of kDepth, in order).
inline void multiply_packed(const KernelSet& set, std::int64_t i0, std::int64_t i1,
                            std::int64_t n, std::int64_t k, const StridedMatrix& a,
                            const float* packed, float* c, std::int64_t ldc, bool accumulate,
                            const Epilogue* epilogue) {
    for (std::int64_t p0 = 0; p0 < k; p0 += kDepth) {
        const std::int64_t kc = std::min(kDepth, k - p0);
        run_tiles(set, i0, i1, 0, n, p0, kc, a, packed + block_offset(set, n, p0), c, ldc,
                  accumulate || p0 > 0, p0 + kc == k ? epilogue : nullptr);
    }
}

// Slices per thread, and the fewest rows or columns in one: enough slices that a thread the
// machine's other work holds back leaves its share to the others (a fixed slice per thread made
// the whole product wait for the slowest), few enough that repacking B per slice stays small.
constexpr std::int64_t kSlicesPerThread = 4;
constexpr std::int64_t kMinSliceExtent = 96;

// sgemm with a given kernel set (the tests run every set the CPU has). c is cut into slices of
// whole MR-row tiles (when m >= n) or whole NR-column panels; the threads take slices in turn
// (schedule(dynamic)), each running the full loop nest on its slice with its own packing. Which
// thread computes a slice does not change its sums.
inline void sgemm_with(const KernelSet& set, std::int64_t m, std::int64_t n, std::int64_t k,
                       const StridedMatrix& a, const StridedMatrix& b, float* c, std::int64_t ldc,
                       bool accumulate, const Epilogue* epilogue = nullptr,
                       const PackedB* prepacked = nullptr) {
    if (m <= 0 || n <= 0) return;
    AGCNN_CHECK(!prepacked || (set.mr != 0 && prepacked->n == n), "sgemm: B prepacked for another product");
    if (set.mr == 0 || k <= 0) {
        if (k > 0 || !accumulate) eigen_sgemm(m, n, k, a, b, c, ldc, accumulate);
        if (epilogue) apply_epilogue(*epilogue, c, ldc, 0, m, 0, n);
        return;
    }
    const bool split_rows = m >= n;
    const std::int64_t unit = split_rows ? set.mr : set.nr, extent = split_rows ? m : n;
    const std::int64_t units = (extent + unit - 1) / unit;
    const std::int64_t threads = m * n * k > 262144 ? std::min<std::int64_t>(num_threads(), units) : 1;
    // At most `units` slices (unit <= kMinSliceExtent, threads <= units): none is empty.
    const std::int64_t slices = threads == 1 ? 1
        : std::clamp(units * unit / kMinSliceExtent, threads, threads * kSlicesPerThread);
#pragma omp parallel for schedule(dynamic) num_threads(int(threads)) if (threads > 1)
    for (std::int64_t s = 0; s < slices; ++s) {
        const std::int64_t begin = units * s / slices * unit;
        const std::int64_t end = std::min(extent, units * (s + 1) / slices * unit);
        if (split_rows)
            sgemm_block(set, begin, end, 0, n, k, a, b, c, ldc, accumulate, epilogue, prepacked);
        else
            sgemm_block(set, 0, m, begin, end, k, a, b, c, ldc, accumulate, epilogue, prepacked);
    }
}

}  // namespace gemm_detail

inline void sgemm(std::int64_t m, std::int64_t n, std::int64_t k, const StridedMatrix& a,
                  const StridedMatrix& b, float* c, std::int64_t ldc, bool accumulate,
                  const Epilogue* epilogue = nullptr) {
    gemm_detail::sgemm_with(gemm_detail::kernels_for(n), m, n, k, a, b, c, ldc, accumulate, epilogue);
}

// sgemm with B [k, n] given packed (gemm_detail::pack_all for kernels_for(n), e.g. by
// ops/cpu/packed_filters.hpp): the same sums, without packing B again.
inline void sgemm_prepacked(std::int64_t m, std::int64_t n, std::int64_t k, const StridedMatrix& a,
                            const float* packed, float* c, std::int64_t ldc, bool accumulate,
                            const Epilogue* epilogue = nullptr) {
    const gemm_detail::PackedB b{packed, n};
    gemm_detail::sgemm_with(gemm_detail::kernels_for(n), m, n, k, a, {nullptr, 0, 0}, c, ldc,
                            accumulate, epilogue, &b);
}

}  // namespace agcnn::cpu
