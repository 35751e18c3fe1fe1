// agcnn/ops/conv2d.hpp — 2-D convolution without bias, torch.nn.functional.conv2d (NHWC).
//
// conv2d(x, w, stride, pad): x [N, H, W, C], w [O, KH, KW, C] (OHWI: the engine's layout;
//   PyTorch's OIHW is transposed on load and save) -> y [N, OH, OW, O] with
//   OH = (H + 2 pad - KH) / stride + 1, OW = (W + 2 pad - KW) / stride + 1.
//   Square stride and padding, no dilation, no groups: everything ResNet-50 uses.
// backward:  dx [N, H, W, C] and dw [O, KH, KW, C].
//
// Method: im2col + GEMM. Row r = (n, oy, ox) of the column matrix holds the input patch in
// (ky, kx, c) order, so with K = KH*KW*C:
//   y[rows, O]   = cols[rows, K] * w[O, K]^T
//   dw[O, K]     = dy[rows, O]^T * cols[rows, K]
//   dcols[rows, K] = dy[rows, O] * w[O, K], scattered back into dx (col2im).
// A 1x1 stride-1 convolution needs no column matrix: cols is x itself. Images are processed in
// chunks so the column matrix stays under kColumnBudget floats; dw sums the chunks in order.
// The templates are the reference (the double-precision tests run them); float tensors take
// conv2d_forward_fast / conv2d_backward_fast: the same method, with the GEMMs on cpu::sgemm
// (ops/cpu/gemm.hpp, own AVX-512/AVX2 kernels) and the column matrix in a reused workspace,
// tested against the templates in tests/test_cpu_kernels.cpp. 3x3 stride-1 convolutions may go
// to Winograd instead (ops/cpu/winograd.hpp; which, and when: ops/cpu/winograd_choice.hpp); on
// x86 the others' forward pass and (where the image's output is whole GEMM blocks) their
// transposed weight gradient read the patches in place instead of from a column matrix, and
// their input gradient (up to 256 outputs, from 8 inputs) is added tap by tap into dx without
// one (ops/cpu/conv_in_place.hpp: the same bits).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/geometry.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/ops/cpu/conv_in_place.hpp"
#include "agcnn/ops/cpu/gemm.hpp"
#include "agcnn/ops/cpu/im2col.hpp"
#include "agcnn/ops/cpu/packed_filters.hpp"
#include "agcnn/ops/cpu/winograd_choice.hpp"
#include "agcnn/ops/eigen_maps.hpp"

namespace agcnn::cpu {

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const ConvGeometry& g) {
    const std::int64_t k = g.k(), out_rows_per_image = g.oh * g.ow;
    const auto W = matrix(w, g.o, k);
    if (g.is_pointwise()) {
        matrix(y, g.n * out_rows_per_image, g.o).noalias() =
            matrix(x, g.n * out_rows_per_image, k) * W.transpose();
        return;
    }
    const std::int64_t chunk = images_per_chunk(g);
    std::vector<T> cols(static_cast<std::size_t>(chunk * out_rows_per_image * k));
    for (std::int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const std::int64_t images = std::min(chunk, g.n - n0);
        const std::int64_t rows = images * out_rows_per_image;
        im2col(cols.data(), x + n0 * g.h * g.w * g.c, images, g);
        matrix(y + n0 * out_rows_per_image * g.o, rows, g.o).noalias() =
            matrix(static_cast<const T*>(cols.data()), rows, k) * W.transpose();
    }
}

// Either of dx, dw may be null (not wanted).
template <class T>
void conv2d_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const ConvGeometry& g) {
    const std::int64_t k = g.k(), out_rows_per_image = g.oh * g.ow;
    const auto W = matrix(w, g.o, k);
    if (g.is_pointwise()) {
        const std::int64_t rows = g.n * out_rows_per_image;
        if (dx) matrix(dx, rows, k).noalias() = matrix(dy, rows, g.o) * W;
        if (dw) matrix(dw, g.o, k).noalias() = matrix(dy, rows, g.o).transpose() * matrix(x, rows, k);
        return;
    }
    const std::int64_t chunk = images_per_chunk(g);
    std::vector<T> cols(static_cast<std::size_t>(chunk * out_rows_per_image * k));
    if (dw) matrix(dw, g.o, k).setZero();
    for (std::int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const std::int64_t images = std::min(chunk, g.n - n0);
        const std::int64_t rows = images * out_rows_per_image;
        const auto DY = matrix(dy + n0 * out_rows_per_image * g.o, rows, g.o);
        auto COLS = matrix(cols.data(), rows, k);
        if (dw) {
            im2col(cols.data(), x + n0 * g.h * g.w * g.c, images, g);
            matrix(dw, g.o, k).noalias() += DY.transpose() * COLS;
        }
        if (dx) {
            COLS.noalias() = DY * W;
            col2im(dx + n0 * g.h * g.w * g.c, static_cast<const T*>(cols.data()), images, g);
        }
    }
}

// Scratch memory of the fast path (thread_scratch.hpp): slot 0 holds the column matrix, slot 1
// the transposed weight gradient.
struct ConvWorkspace;
inline float* workspace(int slot, std::int64_t floats) {
    return thread_scratch<float, ConvWorkspace, 2>(slot, floats);
}
inline float* column_workspace(std::int64_t floats) { return workspace(0, floats); }

// dw [O, K] += (accumulate) or = dy^T [O, rows] cols [rows, K], for one chunk of rows. The GEMM
// packs its B operand into panels (one copy per thread) and reads A in place, and packing an
// element costs about as much as 60 multiply-adds, so it matters when the GEMM's m is small:
// m = O here. When K > O and O <= 256 (3x3 convolutions of the first three stages, the stem,
// 1x1 with more inputs than outputs) the product is formed transposed, dw^T [K, O] = cols^T dy:
// the narrower dy is packed and m = K. Measured (`agcnn bench --convs`, column dw GF/s;
// docs/benchmarks.md, change 12): with O = 512 (layer 4) the transposed form is slower (330-410
// against 450-480 GFLOP/s), and so it is with few rows (196 at batch 1: 290-380 against
// 385-445), where there is little packing to save.
inline bool weight_gradient_transposed(std::int64_t rows, std::int64_t k, std::int64_t o) {
    return k > o && o <= 256 && rows >= 1024;
}
// The transposed form writes `transposed` [K, O]; finish_weight_gradient copies it into dw
// after the last chunk.
inline void weight_gradient_chunk(float* dw, float* transposed, const float* dy, const float* cols,
                                  std::int64_t rows, std::int64_t k, std::int64_t o,
                                  bool accumulate) {
    if (transposed)
        sgemm(k, o, rows, {cols, 1, k}, {dy, o, 1}, transposed, o, accumulate);
    else
        sgemm(o, k, rows, {dy, 1, o}, {cols, k, 1}, dw, k, accumulate);
}
inline void finish_weight_gradient(float* dw, const float* transposed, std::int64_t k,
                                   std::int64_t o) {
    if (!transposed) return;
    constexpr std::int64_t B = 32;  // 32 x 32 blocks: both sides of a block stay in L1
#pragma omp parallel for collapse(2) schedule(static) if (k * o > 65536)
    for (std::int64_t o0 = 0; o0 < o; o0 += B)
        for (std::int64_t i0 = 0; i0 < k; i0 += B)
            for (std::int64_t oc = o0; oc < std::min(o, o0 + B); ++oc)
                for (std::int64_t i = i0; i < std::min(k, i0 + B); ++i)
                    dw[oc * k + i] = transposed[i * o + oc];
}

// epilogue (optional): applied to y as the GEMM finishes each tile; its residual is [N, OH, OW, O].
// pass: forward, or inference (winograd_choice.hpp) for conv2d_affine.
// packed (optional): w already packed (ops/cpu/packed_filters.hpp), its form fixing the path.
inline void conv2d_forward_fast(float* y, const float* x, const float* w, const ConvGeometry& g,
                                const Epilogue* epilogue = nullptr,
                                const PackedFilter* packed = nullptr,
                                ConvPass pass = ConvPass::forward) {
    const float* prepacked = packed ? packed->data : nullptr;
    if (packed ? packed->winograd : use_winograd(g, pass))
        return winograd_forward(y, x, w, g, epilogue, prepacked);
    const std::int64_t k = g.k(), out_rows_per_image = g.oh * g.ow;
    // y rows = A [rows, K] w^T, w^T [K, O] from w or from the pack.
    auto product = [&](std::int64_t rows, const StridedMatrix& a, float* out, const Epilogue* e) {
        if (prepacked)
            sgemm_prepacked(rows, g.o, k, a, prepacked, out, g.o, false, e);
        else
            sgemm(rows, g.o, k, a, {w, 1, k}, out, g.o, false, e);
    };
    if (g.is_pointwise()) return product(g.n * out_rows_per_image, {x, k, 1}, y, epilogue);
    if (conv_in_place_applies(g)) return conv2d_forward_in_place(y, x, w, g, epilogue, prepacked);
    const std::int64_t chunk = images_per_chunk(g);
    float* cols = column_workspace(chunk * out_rows_per_image * k);
    for (std::int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const std::int64_t images = std::min(chunk, g.n - n0);
        const std::int64_t offset = n0 * out_rows_per_image * g.o;
        Epilogue chunk_epilogue = epilogue ? *epilogue : Epilogue{};
        if (chunk_epilogue.residual) chunk_epilogue.residual += offset;
        im2col(cols, x + n0 * g.h * g.w * g.c, images, g);
        product(images * out_rows_per_image, {cols, k, 1}, y + offset, epilogue ? &chunk_epilogue : nullptr);
    }
}

inline void conv2d_backward_fast(float* dx, float* dw, const float* dy, const float* x,
                                 const float* w, const ConvGeometry& g) {
    const bool winograd_dx = dx && use_winograd(g, ConvPass::input_gradient);  // winograd_choice.hpp
    const bool winograd_dw = dw && use_winograd(g, ConvPass::weight_gradient);
    if (winograd_dx || winograd_dw) {
        winograd_backward(winograd_dx ? dx : nullptr, winograd_dw ? dw : nullptr, dy, x, w, g);
        if (winograd_dx) dx = nullptr;
        if (winograd_dw) dw = nullptr;
        if (!dx && !dw) return;
    }
    const std::int64_t k = g.k(), out_rows_per_image = g.oh * g.ow;
    const std::int64_t chunk = g.is_pointwise() ? g.n : images_per_chunk(g);
    float* transposed = dw && weight_gradient_transposed(chunk * out_rows_per_image, k, g.o)
                            ? workspace(1, k * g.o)
                            : nullptr;
    if (transposed && weight_gradient_in_place_applies(g)) {  // conv_in_place.hpp: same bits
        weight_gradient_in_place(transposed, dy, x, g);
        finish_weight_gradient(dw, transposed, k, g.o);
        dw = nullptr;
        if (!dx) return;
    }
    if (dx && input_gradient_in_place_applies(g)) {  // conv_in_place.hpp: same bits
        input_gradient_in_place(dx, dy, w, g);
        dx = nullptr;
        if (!dw) return;
    }
    if (g.is_pointwise()) {
        const std::int64_t rows = g.n * out_rows_per_image;
        if (dx) sgemm(rows, k, g.o, {dy, g.o, 1}, {w, k, 1}, dx, k, false);
        if (dw) {  // dy^T x
            weight_gradient_chunk(dw, transposed, dy, x, rows, k, g.o, false);
            finish_weight_gradient(dw, transposed, k, g.o);
        }
        return;
    }
    float* cols = column_workspace(chunk * out_rows_per_image * k);
    for (std::int64_t n0 = 0; n0 < g.n; n0 += chunk) {
        const std::int64_t images = std::min(chunk, g.n - n0);
        const std::int64_t rows = images * out_rows_per_image;
        const float* dy_chunk = dy + n0 * out_rows_per_image * g.o;
        if (dw) {
            im2col(cols, x + n0 * g.h * g.w * g.c, images, g);
            weight_gradient_chunk(dw, transposed, dy_chunk, cols, rows, k, g.o, n0 > 0);
        }
        if (dx) {
            sgemm(rows, k, g.o, {dy_chunk, g.o, 1}, {w, k, 1}, cols, k, false);
            col2im(dx + n0 * g.h * g.w * g.c, cols, images, g);
        }
    }
    if (dw) finish_weight_gradient(dw, transposed, k, g.o);
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

inline Tensor conv2d(const Tensor& x, const Tensor& w, std::int64_t stride, std::int64_t pad) {
    profiler::Scope timer("conv2d");
    check_same_device(x, w, "conv2d");
    const ConvGeometry g = conv_geometry(x.shape(), w.shape(), stride, pad);
    Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.o}, x.device());
    dispatch(
        "conv2d", x.device(), [&] { cpu::conv2d_forward_fast(y.data(), x.data(), w.data(), g); },
        [&] { cuda::conv2d_forward(y.data(), x.data(), w.data(), g); });
    const Tensor saved_x = x.detach(), saved_w = w.detach();
    record_op(y, "conv2d", {x, w}, [=](const Tensor& dy, const std::vector<bool>& needs) {
        Tensor dx = needs[0] ? Tensor::empty(saved_x.shape(), dy.device()) : Tensor();
        Tensor dw = needs[1] ? Tensor::empty(saved_w.shape(), dy.device()) : Tensor();
        float* pdx = dx.defined() ? dx.data() : nullptr;
        float* pdw = dw.defined() ? dw.data() : nullptr;
        dispatch(
            "conv2d backward", dy.device(),
            [&] {
                cpu::conv2d_backward_fast(pdx, pdw, dy.data(), saved_x.data(), saved_w.data(), g);
            },
            [&] { cuda::conv2d_backward(pdx, pdw, dy.data(), saved_x.data(), saved_w.data(), g); });
        return std::vector<Tensor>{dx, dw};
    });
    return y;
}

// Inference only (no autograd, CPU): a convolution followed by an eval-mode batch norm given as
// its per-channel affine map, an optional residual add and an optional ReLU, all applied in the
// GEMM's epilogue instead of three more passes over memory.
//   conv2d_affine(x, w, stride, pad, scale, shift, residual, relu):
//   x [N, H, W, C], w [O, KH, KW, C], scale, shift [O], residual undefined or [N, OH, OW, O]
//   -> y [N, OH, OW, O] = act(conv2d(x, w) * scale + shift + residual), act = ReLU or identity.
// The same float operations in the same order as conv2d, batch_norm, add and relu run apart,
// except where the convolution's path chosen for inference (winograd_choice.hpp's
// ConvPass::inference) differs from the forward pass's: then equal up to rounding.
// Inside a cpu::PackedFiltersScope (ops/cpu/packed_filters.hpp) w is packed once, in its store.
inline Tensor conv2d_affine(const Tensor& x, const Tensor& w, std::int64_t stride,
                            std::int64_t pad, const Tensor& scale, const Tensor& shift,
                            const Tensor& residual, bool relu) {
    profiler::Scope timer("conv2d_affine");
    AGCNN_CHECK(x.device().is_cpu(), "conv2d_affine: CPU only, got a tensor on ",
                x.device().str());
    AGCNN_CHECK(!grad_enabled() || !(x.requires_grad() || w.requires_grad()),
                "conv2d_affine: inference only, but an input requires a gradient");
    check_same_device(x, w, "conv2d_affine");
    const ConvGeometry g = conv_geometry(x.shape(), w.shape(), stride, pad);
    for (const Tensor* t : {&scale, &shift})
        AGCNN_CHECK(t->rank() == 1 && t->dim(0) == g.o, "conv2d_affine: scale/shift of shape ",
                    shape_str(t->shape()), " for ", g.o, " output channels");
    Tensor y = Tensor::empty({g.n, g.oh, g.ow, g.o}, x.device());
    if (residual.defined()) check_same_shape(y, residual, "conv2d_affine residual");
    cpu::Epilogue epilogue{scale.data(), shift.data(),
                           residual.defined() ? residual.data() : nullptr, g.o, relu};
    cpu::PackedFilters* store = cpu::active_packed_filters();
    const cpu::PackedFilter* packed = store ? store->find(w.impl().storage, w.data(), g) : nullptr;
    cpu::conv2d_forward_fast(y.data(), x.data(), w.data(), g, &epilogue, packed,
                             cpu::ConvPass::inference);
    return y;
}

}  // namespace agcnn::ops
