// kernels/batch_norm.cuh — batch normalisation over the channel (last) dimension, forward and
// backward (ops/batch_norm.hpp). Deterministic: per-channel sums are fixed-order reductions
// without atomics (math/batch_norm_math.hpp explains the three steps). Parameter gradients
// (dgamma, dbeta) and dx are assigned (=).
//
// Forward, training: sums of x -> mean; sums of (x - mean)^2 -> variance, running estimates,
// scale and shift; y = x * scale + shift. Eval: scale and shift from the running estimates.
// Backward: sums of dy and dy * (x - mean) -> dgamma, dbeta and dx = a dy + b x + bias.
#pragma once

#include <cstdint>

#include "agcnn/backend/cuda.hpp"
#include "kernels/math/batch_norm_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

// grid (ceil(c / kBnChannelsPerBlock), chunks), block (kBnChannelsPerBlock, kBnLanes).
// part_s1/part_s2 [chunks, c] = per-chunk sums (math::bn_lane_sums); b, a_offset, b_offset may
// be null (no second sum, zero offsets).
__global__ void bn_partial_sums_kernel(float* part_s1, float* part_s2, const float* a,
                                       const float* b, const float* a_offset,
                                       const float* b_offset, std::int64_t rows, std::int64_t c,
                                       std::int64_t chunk_rows) {
    using namespace math;
    __shared__ float lanes_s1[kBnLanes][kBnChannelsPerBlock];
    __shared__ float lanes_s2[kBnLanes][kBnChannelsPerBlock];
    const std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * kBnChannelsPerBlock + threadIdx.x;
    const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * chunk_rows;
    const std::int64_t end = begin + chunk_rows < rows ? begin + chunk_rows : rows;
    float s1 = 0.0f, s2 = 0.0f;
    if (k < c)
        bn_lane_sums(a, b, a_offset ? a_offset[k] : 0.0f, b_offset ? b_offset[k] : 0.0f,
                     begin + threadIdx.y, end, k, c, s1, s2);
    lanes_s1[threadIdx.y][threadIdx.x] = s1;
    lanes_s2[threadIdx.y][threadIdx.x] = s2;
    __syncthreads();
    if (threadIdx.y == 0 && k < c) {
        part_s1[blockIdx.y * c + k] = bn_sum_lanes(&lanes_s1[0][threadIdx.x], kBnChannelsPerBlock);
        part_s2[blockIdx.y * c + k] = bn_sum_lanes(&lanes_s2[0][threadIdx.x], kBnChannelsPerBlock);
    }
}

// One thread per channel: mean_used = sum / rows (the offset of the variance pass).
__global__ void bn_mean_kernel(float* mean_used, const float* part_sum, std::int64_t chunks,
                               std::int64_t rows, std::int64_t c) {
    const std::int64_t k = thread_index();
    if (k < c) mean_used[k] = static_cast<float>(math::bn_sum_chunks(part_sum, chunks, k, c) / double(rows));
}

// One thread per channel: statistics, running estimates, and scale/shift of y.
__global__ void bn_train_stats_kernel(float* mean_used, float* invstd_used, float* running_mean,
                                      float* running_var, float* scale, float* shift,
                                      const float* part_sum, const float* part_sq,
                                      const float* gamma, const float* beta, std::int64_t chunks,
                                      std::int64_t rows, std::int64_t c, double momentum,
                                      double eps) {
    const std::int64_t k = thread_index();
    if (k >= c) return;
    math::bn_train_stats(math::bn_sum_chunks(part_sum, chunks, k, c),
                         math::bn_sum_chunks(part_sq, chunks, k, c), rows, momentum, eps,
                         mean_used[k], invstd_used[k], running_mean[k], running_var[k]);
    math::bn_scale_shift(gamma[k], beta[k], mean_used[k], invstd_used[k], scale[k], shift[k]);
}

__global__ void bn_eval_stats_kernel(float* mean_used, float* invstd_used, float* scale,
                                     float* shift, const float* running_mean,
                                     const float* running_var, const float* gamma,
                                     const float* beta, std::int64_t c, double eps) {
    const std::int64_t k = thread_index();
    if (k >= c) return;
    math::bn_eval_stats(running_mean[k], running_var[k], eps, mean_used[k], invstd_used[k]);
    math::bn_scale_shift(gamma[k], beta[k], mean_used[k], invstd_used[k], scale[k], shift[k]);
}

// out[r, k] = a[k] * u[r, k] + b[k] * v[r, k] + bias[k]; v and b may be null (forward: y =
// scale * x + shift).
__global__ void bn_affine_kernel(float* out, const float* u, const float* v, const float* a,
                                 const float* b, const float* bias, std::int64_t c,
                                 std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i >= total) return;
    const std::int64_t k = i % c;
    out[i] = v ? a[k] * u[i] + b[k] * v[i] + bias[k] : u[i] * a[k] + bias[k];
}

__global__ void bn_backward_coefficients_kernel(float* dgamma, float* dbeta, float* a, float* b,
                                                float* bias, const float* part_sum_dy,
                                                const float* part_sum_dy_xc, const float* gamma,
                                                const float* mean_used, const float* invstd_used,
                                                std::int64_t chunks, std::int64_t rows,
                                                std::int64_t c, bool training) {
    const std::int64_t k = thread_index();
    if (k >= c) return;
    math::bn_backward_coefficients(math::bn_sum_chunks(part_sum_dy, chunks, k, c),
                                   math::bn_sum_chunks(part_sum_dy_xc, chunks, k, c), gamma[k],
                                   mean_used[k], invstd_used[k], rows, training, dgamma[k],
                                   dbeta[k], a[k], b[k], bias[k]);
}

// ---- kernel launchers -----------------------------------------------------------------------

namespace {

// Scratch of one batch-norm call: the chunk sums and per-channel coefficients.
struct BnScratch {
    BnScratch(std::int64_t rows, std::int64_t c, int device)
        : chunks((rows + math::bn_chunk_rows(rows) - 1) / math::bn_chunk_rows(rows)),
          memory(static_cast<std::size_t>((2 * (chunks > 0 ? chunks : 1) + 3) * c) *
                     sizeof(float),
                 device),
          s1(memory.as<float>()), s2(s1 + chunks * c), coef_a(s2 + chunks * c),
          coef_b(coef_a + c), coef_bias(coef_b + c) {}
    std::int64_t chunks;
    Scratch memory;
    float *s1, *s2, *coef_a, *coef_b, *coef_bias;
};

void partial_sums(const BnScratch& s, const float* a, const float* b, const float* a_offset,
                  const float* b_offset, std::int64_t rows, std::int64_t c, int device) {
    if (s.chunks == 0) return;
    const dim3 grid(static_cast<unsigned>((c + math::kBnChannelsPerBlock - 1) /
                                          math::kBnChannelsPerBlock),
                    static_cast<unsigned>(s.chunks));
    const dim3 block(math::kBnChannelsPerBlock, math::kBnLanes);
    DeviceScope scope(device);
    bn_partial_sums_kernel<<<grid, block, 0, stream(device)>>>(
        s.s1, s.s2, a, b, a_offset, b_offset, rows, c, math::bn_chunk_rows(rows));
    AGCNN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void batch_norm_forward(float* y, float* mean_used, float* invstd_used, const float* x,
                        const float* gamma, const float* beta, float* running_mean,
                        float* running_var, std::int64_t rows, std::int64_t c, bool training,
                        double momentum, double eps) {
    AGCNN_CHECK(y && mean_used && invstd_used && x && gamma && beta && running_mean &&
                    running_var && rows >= 0 && c > 0,
                "batch_norm_forward: bad arguments");
    AGCNN_CHECK(!training || rows > 1,
                "batch_norm: training needs more than one value per channel, got ", rows);
    const int device = device_of(x);
    BnScratch s(rows, c, device);
    float* scale = s.coef_a;
    float* shift = s.coef_bias;
    if (training) {
        partial_sums(s, x, nullptr, nullptr, nullptr, rows, c, device);
        launch(bn_mean_kernel, c, device, mean_used, s.s1, s.chunks, rows, c);
        partial_sums(s, x, x, mean_used, mean_used, rows, c, device);
        launch(bn_train_stats_kernel, c, device, mean_used, invstd_used, running_mean,
               running_var, scale, shift, s.s1, s.s2, gamma, beta, s.chunks, rows, c, momentum,
               eps);
    } else {
        launch(bn_eval_stats_kernel, c, device, mean_used, invstd_used, scale, shift,
               running_mean, running_var, gamma, beta, c, eps);
    }
    launch(bn_affine_kernel, rows * c, device, y, x, nullptr, scale, nullptr, shift, c, rows * c);
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* mean_used, const float* invstd_used,
                         std::int64_t rows, std::int64_t c, bool training) {
    AGCNN_CHECK(dgamma && dbeta && dy && x && gamma && mean_used && invstd_used && rows >= 0 &&
                    c > 0,
                "batch_norm_backward: bad arguments");
    const int device = device_of(dy);
    BnScratch s(rows, c, device);
    partial_sums(s, dy, x, nullptr, mean_used, rows, c, device);
    launch(bn_backward_coefficients_kernel, c, device, dgamma, dbeta, s.coef_a, s.coef_b,
           s.coef_bias, s.s1, s.s2, gamma,
           mean_used, invstd_used, s.chunks, rows, c, training);
    if (dx)
        launch(bn_affine_kernel, rows * c, device, dx, dy, x, s.coef_a, s.coef_b, s.coef_bias, c,
               rows * c);
}

}  // namespace agcnn::cuda
