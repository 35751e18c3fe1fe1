// agcnn/ops/batch_norm.hpp — batch normalization over the channel (last) dimension,
// torch.nn.functional.batch_norm for NHWC data.
//
// batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
//   x [N, H, W, C] (any rank >= 2; the last dimension is the channel), gamma, beta,
//   running_mean, running_var [C] -> y same shape as x.
//   M = numel(x) / C values per channel.
//   training: mean, var = batch mean and biased variance per channel;
//             running_mean = (1 - momentum) running_mean + momentum mean
//             running_var  = (1 - momentum) running_var  + momentum var * M / (M - 1)
//             (PyTorch: momentum 0.1, eps 1e-5, unbiased variance in the running estimate)
//   eval:     mean, var = running_mean, running_var.
//   y = (x - mean) / sqrt(var + eps) * gamma + beta
// backward (x_hat = (x - mean) * invstd):
//   dgamma = sum dy * x_hat,  dbeta = sum dy
//   training: dx = gamma * invstd / M * (M dy - dbeta - x_hat dgamma)
//   eval:     dx = gamma * invstd * dy
// Per-channel sums are accumulated in double.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "agcnn/core/threads.hpp"
#include "agcnn/ops/dispatch.hpp"

namespace agcnn::cpu {

// sum[c] = sum over rows of a[r, c], and, when b is given,
// sum_product[c] = sum over rows of (a[r, c] - a_offset[c]) * (b[r, c] - b_offset[c])
// (a null offset is zero). Threads take fixed blocks of rows; their partial sums are combined
// in thread order.
template <class T>
void channel_sums(std::vector<double>& sum, std::vector<double>* sum_product, const T* a,
                  const double* a_offset, const T* b, const double* b_offset, std::int64_t rows,
                  std::int64_t c) {
    const int threads = rows * c > 65536 ? num_threads() : 1;
    const std::vector<double> zeros(static_cast<std::size_t>(c), 0.0);
    if (!a_offset) a_offset = zeros.data();
    if (!b_offset) b_offset = zeros.data();
    std::vector<std::vector<double>> partial(static_cast<std::size_t>(threads),
                                             std::vector<double>(2 * c, 0.0));
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        std::vector<double>& mine = partial[static_cast<std::size_t>(t)];
        const std::int64_t begin = rows * t / threads, end = rows * (t + 1) / threads;
        for (std::int64_t r = begin; r < end; ++r) {
            const T* row_a = a + r * c;
            for (std::int64_t k = 0; k < c; ++k) mine[k] += row_a[k];
            if (b) {
                const T* row_b = b + r * c;
                for (std::int64_t k = 0; k < c; ++k)
                    mine[c + k] += (row_a[k] - a_offset[k]) * (row_b[k] - b_offset[k]);
            }
        }
    }
    sum.assign(static_cast<std::size_t>(c), 0.0);
    if (sum_product) sum_product->assign(static_cast<std::size_t>(c), 0.0);
    for (const auto& mine : partial)
        for (std::int64_t k = 0; k < c; ++k) {
            sum[k] += mine[k];
            if (sum_product) (*sum_product)[k] += mine[c + k];
        }
}

// Writes y and the per-channel mean and invstd used (batch or running statistics).
// In training also updates running_mean/running_var in place.
template <class T>
void batch_norm_forward(T* y, T* mean_used, T* invstd_used, const T* x, const T* gamma,
                        const T* beta, T* running_mean, T* running_var, std::int64_t rows,
                        std::int64_t c, bool training, double momentum, double eps) {
    if (training) {
        AGCNN_CHECK(rows > 1, "batch_norm: training needs more than one value per channel, got ",
                    rows);
        std::vector<double> sum, mean(static_cast<std::size_t>(c)), centered_sq;
        channel_sums<T>(sum, nullptr, x, nullptr, nullptr, nullptr, rows, c);
        for (std::int64_t k = 0; k < c; ++k) mean[k] = sum[k] / double(rows);
        // Two-pass variance: the sum of squared deviations from the mean (no cancellation).
        channel_sums<T>(sum, &centered_sq, x, mean.data(), x, mean.data(), rows, c);
        for (std::int64_t k = 0; k < c; ++k) {
            const double var = centered_sq[k] / double(rows);
            mean_used[k] = static_cast<T>(mean[k]);
            invstd_used[k] = static_cast<T>(1.0 / std::sqrt(var + eps));
            running_mean[k] =
                static_cast<T>((1.0 - momentum) * running_mean[k] + momentum * mean[k]);
            running_var[k] = static_cast<T>((1.0 - momentum) * running_var[k] +
                                            momentum * var * double(rows) / double(rows - 1));
        }
    } else {
        for (std::int64_t k = 0; k < c; ++k) {
            mean_used[k] = running_mean[k];
            invstd_used[k] = static_cast<T>(1.0 / std::sqrt(double(running_var[k]) + eps));
        }
    }
    std::vector<T> scale(static_cast<std::size_t>(c)), shift(static_cast<std::size_t>(c));
    for (std::int64_t k = 0; k < c; ++k) {
        scale[k] = gamma[k] * invstd_used[k];
        shift[k] = beta[k] - mean_used[k] * scale[k];
    }
#pragma omp parallel for schedule(static) if (rows * c > 65536)
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t k = 0; k < c; ++k) y[r * c + k] = x[r * c + k] * scale[k] + shift[k];
}

// dx may be null (input needs no gradient); dgamma, dbeta are always written.
template <class T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                         const T* mean_used, const T* invstd_used, std::int64_t rows,
                         std::int64_t c, bool training) {
    // sum dy and sum dy*(x - mean); dgamma = invstd * sum dy*(x - mean).
    std::vector<double> sum_dy, sum_dy_xc;
    const std::vector<double> mean(mean_used, mean_used + c);
    channel_sums<T>(sum_dy, &sum_dy_xc, dy, nullptr, x, mean.data(), rows, c);
    // training: dx = gamma*invstd * (dy - sum_dy/M - x_hat * dgamma/M), x_hat from the centred
    //           x (not expanded into a*x + b, which cancels badly when |mean| >> std);
    // eval:     dx = gamma*invstd * dy.
    std::vector<T> scale(static_cast<std::size_t>(c)), mean_dy(static_cast<std::size_t>(c)),
        xhat_coef(static_cast<std::size_t>(c));
    for (std::int64_t k = 0; k < c; ++k) {
        const double dg = invstd_used[k] * sum_dy_xc[k];
        dgamma[k] = static_cast<T>(dg);
        dbeta[k] = static_cast<T>(sum_dy[k]);
        scale[k] = gamma[k] * invstd_used[k];
        mean_dy[k] = training ? static_cast<T>(sum_dy[k] / double(rows)) : T(0);
        xhat_coef[k] = training ? static_cast<T>(dg * invstd_used[k] / double(rows)) : T(0);
    }
    if (!dx) return;
#pragma omp parallel for schedule(static) if (rows * c > 65536)
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t k = 0; k < c; ++k)
            dx[r * c + k] = scale[k] * (dy[r * c + k] - mean_dy[k] -
                                        (x[r * c + k] - mean_used[k]) * xhat_coef[k]);
}

}  // namespace agcnn::cpu

namespace agcnn::ops {

struct BatchNormOptions {
    bool training = true;
    double momentum = 0.1;
    double eps = 1e-5;
};

inline Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var,
                         const BatchNormOptions& options) {
    profiler::Scope timer("batch_norm");
    AGCNN_CHECK(x.rank() >= 2, "batch_norm: expected [..., C], got ", shape_str(x.shape()));
    const std::int64_t c = x.dim(-1), rows = x.numel() / std::max<std::int64_t>(c, 1);
    for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var}) {
        AGCNN_CHECK(t->rank() == 1 && t->dim(0) == c, "batch_norm: parameter of shape ",
                    shape_str(t->shape()), " does not match input ", shape_str(x.shape()));
        check_same_device(x, *t, "batch_norm");
    }
    Tensor y = Tensor::empty(x.shape(), x.device());
    Tensor mean_used = Tensor::empty({c}, x.device());
    Tensor invstd_used = Tensor::empty({c}, x.device());
    if (x.device().is_cuda()) {
        require_cuda_build("batch_norm");
#ifdef AGCNN_WITH_CUDA
        cuda::batch_norm_forward(y.data(), mean_used.data(), invstd_used.data(), x.data(),
                                 gamma.data(), beta.data(), running_mean.data(),
                                 running_var.data(), rows, c, options.training,
                                 options.momentum, options.eps);
#endif
    } else {
        cpu::batch_norm_forward(y.data(), mean_used.data(), invstd_used.data(), x.data(),
                                gamma.data(), beta.data(), running_mean.data(),
                                running_var.data(), rows, c, options.training, options.momentum,
                                options.eps);
    }
    const Tensor saved_x = x.detach(), saved_gamma = gamma.detach();
    const bool training = options.training;
    record_op(y, "batch_norm", {x, gamma, beta},
              [=](const Tensor& dy, const std::vector<bool>& needs) {
                  Tensor dx = needs[0] ? Tensor::empty(dy.shape(), dy.device()) : Tensor();
                  Tensor dgamma = Tensor::empty({c}, dy.device());
                  Tensor dbeta = Tensor::empty({c}, dy.device());
                  float* pdx = dx.defined() ? dx.data() : nullptr;
                  if (dy.device().is_cuda()) {
#ifdef AGCNN_WITH_CUDA
                      cuda::batch_norm_backward(pdx, dgamma.data(), dbeta.data(), dy.data(),
                                                saved_x.data(), saved_gamma.data(),
                                                mean_used.data(), invstd_used.data(), rows, c,
                                                training);
#endif
                  } else {
                      cpu::batch_norm_backward(pdx, dgamma.data(), dbeta.data(), dy.data(),
                                               saved_x.data(), saved_gamma.data(),
                                               mean_used.data(), invstd_used.data(), rows, c,
                                               training);
                  }
                  return std::vector<Tensor>{dx, needs[1] ? dgamma : Tensor(),
                                             needs[2] ? dbeta : Tensor()};
              });
    return y;
}

}  // namespace agcnn::ops
