// agcnn/ops/batch_norm.hpp — batch normalization over the channel (last) dimension,
// torch.nn.functional.batch_norm for NHWC data, optionally followed by a residual add and a ReLU
// (ResNet's "bn, += identity, relu", in one pass over memory).
//
// batch_norm(x, gamma, beta, running_mean, running_var, options, residual):
//   x [N, H, W, C] (any rank >= 2; the last dimension is the channel), gamma, beta,
//   running_mean, running_var [C], residual undefined or x's shape -> y same shape as x.
//   M = numel(x) / C values per channel.
//   training: mean, var = batch mean and biased variance per channel;
//             running_mean = (1 - momentum) running_mean + momentum mean
//             running_var  = (1 - momentum) running_var  + momentum var * M / (M - 1)
//             (PyTorch: momentum 0.1, eps 1e-5, unbiased variance in the running estimate)
//   eval:     mean, var = running_mean, running_var.
//   z = (x - mean) / sqrt(var + eps) * gamma + beta [+ residual];  y = options.relu ? max(z, 0) : z
// backward (x_hat = (x - mean) * invstd, g = dy masked by y > 0 when relu, else dy):
//   dresidual = g
//   dgamma = sum g * x_hat,  dbeta = sum g
//   training: dx = gamma * invstd / M * (M g - dbeta - x_hat dgamma)
//   eval:     dx = gamma * invstd * g
// Per-channel sums: blocks of kSumBlock rows summed in T, the block sums accumulated in double,
// in a fixed order whatever the thread count (channel_sums).
// The batch variance is computed about a shift (each channel's first value), so one pass gives
// both sums without the cancellation of sum x^2 - (sum x)^2 / M when |mean| >> std.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/core/threads.hpp"
#include "agcnn/ops/add.hpp"
#include "agcnn/ops/relu.hpp"

namespace agcnn::cpu {

constexpr std::int64_t kSumBlock = 16;

// s1[c] = sum over rows r of u(r, c), s2[c] = sum of v(r, c), where terms(i, k, u, v) sets u and
// v for element i = r * c + k of channel k. The rows are cut into chunks of a size fixed by the
// shape (a multiple of kSumBlock, about kSumChunk values), spread over the threads; each chunk's
// sums are kept apart and added in chunk order, so the result is the same for any thread count.
template <class T, class Terms>
void channel_sums(std::vector<double>& s1, std::vector<double>& s2, std::int64_t rows,
                  std::int64_t c, Terms terms) {
    constexpr std::int64_t kSumChunk = 65536;
    const std::int64_t chunk_rows =
        std::max<std::int64_t>(1, kSumChunk / (c * kSumBlock)) * kSumBlock;
    const std::int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
    std::vector<double> partial(static_cast<std::size_t>(chunks * 2 * c), 0.0);
    for_each_chunk(rows, chunk_rows, rows * c > kSumChunk, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
        double* mine = partial.data() + chunk * 2 * c;
        std::vector<T> block(static_cast<std::size_t>(2 * c));
        T* b1 = block.data();
        T* b2 = b1 + c;
        for (std::int64_t r0 = begin; r0 < end; r0 += kSumBlock) {
            std::fill(block.begin(), block.end(), T(0));
            for (std::int64_t r = r0; r < std::min(end, r0 + kSumBlock); ++r) {
                const std::int64_t base = r * c;
#pragma omp simd
                for (std::int64_t k = 0; k < c; ++k) {
                    T u, v;
                    terms(base + k, k, u, v);
                    b1[k] += u;
                    b2[k] += v;
                }
            }
            for (std::int64_t k = 0; k < c; ++k) {
                mine[k] += b1[k];
                mine[c + k] += b2[k];
            }
        }
    });
    s1.assign(static_cast<std::size_t>(c), 0.0);
    s2.assign(static_cast<std::size_t>(c), 0.0);
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
        const double* mine = partial.data() + chunk * 2 * c;
        for (std::int64_t k = 0; k < c; ++k) {
            s1[k] += mine[k];
            s2[k] += mine[c + k];
        }
    }
}

// What follows the normalisation: an optional residual (x's shape) and an optional ReLU.
template <class T>
struct BnTail {
    const T* residual = nullptr;
    bool relu = false;
};

// scale = gamma * invstd, shift = beta - mean * scale per channel: batch norm as the affine map
// y = x * scale + shift, for the batch or the running statistics.
template <class T>
void batch_norm_scale_shift(T* scale, T* shift, const T* gamma, const T* beta, const T* mean,
                            const T* invstd, std::int64_t c) {
    for (std::int64_t k = 0; k < c; ++k) {
        scale[k] = gamma[k] * invstd[k];
        shift[k] = beta[k] - mean[k] * scale[k];
    }
}

// invstd = 1 / sqrt(var + eps) per channel, in double, rounded once to T.
template <class T>
void batch_norm_invstd(T* invstd, const T* var, std::int64_t c, double eps) {
    for (std::int64_t k = 0; k < c; ++k)
        invstd[k] = static_cast<T>(1.0 / std::sqrt(double(var[k]) + eps));
}

// Eval-mode batch norm's scale and shift [C] from gamma, beta and the running statistics [C]:
// the same helpers, so the same float operations, as the eval branch of batch_norm_forward.
// ops::batch_norm_eval_affine runs it for nn::conv_bn, which hands the result to the GEMM
// epilogue of ops::conv2d_affine.
template <class T>
void batch_norm_eval_affine(T* scale, T* shift, const T* gamma, const T* beta, const T* mean,
                            const T* var, std::int64_t c, double eps) {
    std::vector<T> invstd(static_cast<std::size_t>(c));
    batch_norm_invstd(invstd.data(), var, c, eps);
    batch_norm_scale_shift(scale, shift, gamma, beta, mean, invstd.data(), c);
}

// y = x * scale + shift per channel [+ residual] [then ReLU], the tail compiled in or out so
// each variant is one plain vectorised loop.
template <class T, bool Residual, bool Relu>
void apply_batch_norm(T* y, const T* x, const T* scale, const T* shift, const T* residual,
                      std::int64_t rows, std::int64_t c) {
#pragma omp parallel for schedule(static) if (rows * c > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* x_row = x + r * c;
        T* y_row = y + r * c;
        for (std::int64_t k = 0; k < c; ++k) {
            T z = x_row[k] * scale[k] + shift[k];
            if constexpr (Residual) z += residual[r * c + k];
            if constexpr (Relu) z = std::max(z, T(0));
            y_row[k] = z;
        }
    }
}

// Writes y and the per-channel mean and invstd used (batch or running statistics).
// In training also updates running_mean/running_var in place.
template <class T>
void batch_norm_forward(T* y, T* mean_used, T* invstd_used, const T* x, const T* gamma,
                        const T* beta, T* running_mean, T* running_var, std::int64_t rows,
                        std::int64_t c, bool training, double momentum, double eps,
                        BnTail<T> tail = {}) {
    if (training) {
        AGCNN_CHECK(rows > 1, "batch_norm: training needs more than one value per channel, got ",
                    rows);
        const std::vector<T> shift_by(x, x + c);  // the first row
        std::vector<double> s1, s2;
        channel_sums<T>(s1, s2, rows, c, [&](std::int64_t i, std::int64_t k, T& u, T& v) {
            const T d = x[i] - shift_by[k];
            u = d;
            v = d * d;
        });
        for (std::int64_t k = 0; k < c; ++k) {
            const double d_mean = s1[k] / double(rows);
            const double mean = double(shift_by[k]) + d_mean;
            const double var = std::max(0.0, s2[k] / double(rows) - d_mean * d_mean);
            mean_used[k] = static_cast<T>(mean);
            invstd_used[k] = static_cast<T>(1.0 / std::sqrt(var + eps));
            running_mean[k] = static_cast<T>((1.0 - momentum) * running_mean[k] + momentum * mean);
            running_var[k] = static_cast<T>((1.0 - momentum) * running_var[k] +
                                            momentum * var * double(rows) / double(rows - 1));
        }
    } else {
        std::copy_n(running_mean, c, mean_used);
        batch_norm_invstd(invstd_used, running_var, c, eps);
    }
    std::vector<T> scale(static_cast<std::size_t>(c)), shift(static_cast<std::size_t>(c));
    batch_norm_scale_shift(scale.data(), shift.data(), gamma, beta, mean_used, invstd_used, c);
    const T *sc = scale.data(), *sh = shift.data(), *res = tail.residual;
    if (res && tail.relu)
        apply_batch_norm<T, true, true>(y, x, sc, sh, res, rows, c);
    else if (res)
        apply_batch_norm<T, true, false>(y, x, sc, sh, res, rows, c);
    else if (tail.relu)
        apply_batch_norm<T, false, true>(y, x, sc, sh, res, rows, c);
    else
        apply_batch_norm<T, false, false>(y, x, sc, sh, res, rows, c);
}

// The gradient that reaches batch norm: dy, or with a ReLU after it dy where y > 0, else 0.
template <bool Relu, class T>
inline T masked_gradient(const T* dy, const T* relu_output, std::int64_t i) {
    const T g = dy[i];  // loaded either way, then selected
    if constexpr (Relu) return relu_output[i] > T(0) ? g : T(0);
    return g;
}

// batch_norm_backward with the ReLU mask (g = dy where relu_output > 0) compiled in or out, so
// both loops vectorise.
template <class T, bool Relu>
void batch_norm_backward_masked(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                const T* gamma, const T* mean_used, const T* invstd_used,
                                std::int64_t rows, std::int64_t c, bool training,
                                const T* relu_output, T* dresidual) {
    // sum g and sum g*(x - mean); dgamma = invstd * sum g*(x - mean).
    std::vector<double> sum_g, sum_g_xc;
    channel_sums<T>(sum_g, sum_g_xc, rows, c, [=](std::int64_t i, std::int64_t k, T& u, T& v) {
        const T g = masked_gradient<Relu>(dy, relu_output, i);
        u = g;
        v = g * (x[i] - mean_used[k]);
    });
    // training: dx = gamma*invstd * (g - sum_g/M - x_hat * dgamma/M), x_hat from the centred
    //           x (not expanded into a*x + b, which cancels badly when |mean| >> std);
    // eval:     dx = gamma*invstd * g.
    std::vector<T> scale(static_cast<std::size_t>(c)), mean_g(static_cast<std::size_t>(c)),
        xhat_coef(static_cast<std::size_t>(c));
    for (std::int64_t k = 0; k < c; ++k) {
        const double dg = invstd_used[k] * sum_g_xc[k];
        dgamma[k] = static_cast<T>(dg);
        dbeta[k] = static_cast<T>(sum_g[k]);
        scale[k] = gamma[k] * invstd_used[k];
        mean_g[k] = training ? static_cast<T>(sum_g[k] / double(rows)) : T(0);
        xhat_coef[k] = training ? static_cast<T>(dg * invstd_used[k] / double(rows)) : T(0);
    }
    const T* sc = scale.data();
    const T* mg = mean_g.data();
    const T* xc = xhat_coef.data();
#pragma omp parallel for schedule(static) if (rows * c > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const T* dy_row = dy + r * c;
        const T* x_row = x + r * c;
        const T* y_row = Relu ? relu_output + r * c : nullptr;
        if (dresidual) {
            T* out = dresidual + r * c;
#pragma omp simd
            for (std::int64_t k = 0; k < c; ++k) out[k] = masked_gradient<Relu>(dy_row, y_row, k);
        }
        if (dx) {
            T* out = dx + r * c;
#pragma omp simd
            for (std::int64_t k = 0; k < c; ++k) {
                const T g = masked_gradient<Relu>(dy_row, y_row, k);
                out[k] = sc[k] * (g - mg[k] - (x_row[k] - mean_used[k]) * xc[k]);
            }
        }
    }
}

// dx and dresidual may be null (not wanted); dgamma, dbeta are always written. relu_output: the
// forward's y when it ended in a ReLU (its sign masks dy), else null.
template <class T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                         const T* mean_used, const T* invstd_used, std::int64_t rows,
                         std::int64_t c, bool training, const T* relu_output = nullptr,
                         T* dresidual = nullptr) {
    if (relu_output)
        batch_norm_backward_masked<T, true>(dx, dgamma, dbeta, dy, x, gamma, mean_used,
                                            invstd_used, rows, c, training, relu_output,
                                            dresidual);
    else
        batch_norm_backward_masked<T, false>(dx, dgamma, dbeta, dy, x, gamma, mean_used,
                                             invstd_used, rows, c, training, nullptr, dresidual);
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

struct BatchNormOptions {
    bool training = true;
    double momentum = 0.1;
    double eps = 1e-5;
    bool relu = false;  // end with a ReLU (after the residual, when there is one)
};

inline Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var,
                         const BatchNormOptions& options, const Tensor& residual = Tensor()) {
    AGCNN_CHECK(x.rank() >= 2, "batch_norm: expected [..., C], got ", shape_str(x.shape()));
    const std::int64_t c = x.dim(-1), rows = x.numel() / std::max<std::int64_t>(c, 1);
    for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var}) {
        AGCNN_CHECK(t->rank() == 1 && t->dim(0) == c, "batch_norm: parameter of shape ",
                    shape_str(t->shape()), " does not match input ", shape_str(x.shape()));
        check_same_device(x, *t, "batch_norm");
    }
    if (residual.defined()) {
        check_same_shape(x, residual, "batch_norm residual");
        check_same_device(x, residual, "batch_norm residual");
    }
    if (x.device().is_cuda() && (options.relu || residual.defined())) {
        // The CUDA backend has the plain batch norm; the tail runs as the separate ops.
        BatchNormOptions plain = options;
        plain.relu = false;
        Tensor y = batch_norm(x, gamma, beta, running_mean, running_var, plain);
        if (residual.defined()) y = add(y, residual);
        return options.relu ? relu(y) : y;
    }
    profiler::Scope timer("batch_norm");
    Tensor y = Tensor::empty(x.shape(), x.device());
    Tensor mean_used = Tensor::empty({c}, x.device());
    Tensor invstd_used = Tensor::empty({c}, x.device());
    dispatch(
        "batch_norm", x.device(),
        [&] {
            cpu::batch_norm_forward(y.data(), mean_used.data(), invstd_used.data(), x.data(),
                                    gamma.data(), beta.data(), running_mean.data(),
                                    running_var.data(), rows, c, options.training,
                                    options.momentum, options.eps,
                                    {residual.defined() ? residual.data() : nullptr,
                                     options.relu});
        },
        [&] {
            cuda::batch_norm_forward(y.data(), mean_used.data(), invstd_used.data(), x.data(),
                                     gamma.data(), beta.data(), running_mean.data(),
                                     running_var.data(), rows, c, options.training,
                                     options.momentum, options.eps);
        });
    const Tensor saved_x = x.detach(), saved_gamma = gamma.detach();
    const Tensor saved_y = options.relu ? y.detach() : Tensor();
    const bool training = options.training;
    record_op(y, "batch_norm", {x, gamma, beta, residual},
              [=](const Tensor& dy, const std::vector<bool>& needs) {
                  Tensor dx = needs[0] ? Tensor::empty(dy.shape(), dy.device()) : Tensor();
                  Tensor dres = needs[3] ? Tensor::empty(dy.shape(), dy.device()) : Tensor();
                  Tensor dgamma = Tensor::empty({c}, dy.device());
                  Tensor dbeta = Tensor::empty({c}, dy.device());
                  float* pdx = dx.defined() ? dx.data() : nullptr;
                  dispatch(
                      "batch_norm backward", dy.device(),
                      [&] {
                          cpu::batch_norm_backward(pdx, dgamma.data(), dbeta.data(), dy.data(),
                                                   saved_x.data(), saved_gamma.data(),
                                                   mean_used.data(), invstd_used.data(), rows, c,
                                                   training,
                                                   saved_y.defined() ? saved_y.data() : nullptr,
                                                   dres.defined() ? dres.data() : nullptr);
                      },
                      [&] {
                          cuda::batch_norm_backward(pdx, dgamma.data(), dbeta.data(), dy.data(),
                                                    saved_x.data(), saved_gamma.data(),
                                                    mean_used.data(), invstd_used.data(), rows,
                                                    c, training);
                      });
                  return std::vector<Tensor>{dx, needs[1] ? dgamma : Tensor(),
                                             needs[2] ? dbeta : Tensor(), dres};
              });
    return y;
}

// Eval-mode batch norm as a per-channel affine map y = x * scale + shift, for the GEMM epilogue
// of ops::conv2d_affine (nn::conv_bn). CPU only, no autograd:
//   batch_norm_eval_affine(gamma, beta, running_mean, running_var, eps): all [C], on the CPU
//   -> {scale, shift} [C], scale = gamma / sqrt(running_var + eps),
//      shift = beta - running_mean * scale,
// with the same float operations as batch_norm's eval mode (cpu::batch_norm_eval_affine).
struct BatchNormAffine {
    Tensor scale, shift;
};

inline BatchNormAffine batch_norm_eval_affine(const Tensor& gamma, const Tensor& beta,
                                              const Tensor& running_mean,
                                              const Tensor& running_var, double eps) {
    const std::int64_t c = gamma.numel();
    for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var}) {
        AGCNN_CHECK(t->rank() == 1 && t->dim(0) == c, "batch_norm_eval_affine: parameter of shape ",
                    shape_str(t->shape()), ", expected [", c, "]");
        AGCNN_CHECK(t->device().is_cpu(), "batch_norm_eval_affine: CPU only, got a tensor on ",
                    t->device().str());
    }
    BatchNormAffine affine{Tensor::empty({c}), Tensor::empty({c})};
    cpu::batch_norm_eval_affine(affine.scale.data(), affine.shift.data(), gamma.data(),
                                beta.data(), running_mean.data(), running_var.data(), c, eps);
    return affine;
}

}  // namespace agcnn::ops
