// kernels/math/batch_norm_math.hpp — batch normalisation over the channel (last) dimension,
// as reductions that are deterministic on a GPU (the specification is ops/batch_norm.hpp).
//
// Per-channel sums over `rows` rows of [rows, C] data are formed in three fixed-order steps:
//   1. rows are cut into chunks of bn_chunk_rows(rows); in a chunk, lane t of kBnLanes sums rows
//      t, t + kBnLanes, ... in float (bn_lane_sums);
//   2. the lanes of a chunk are added in lane order, in float;
//   3. the chunks are added in chunk order, in double (bn_* finalisers).
// No atomics, so a given input gives the same bits every run. Two sums come out of one pass:
//   s1 = sum a,   s2 = sum (a - a_offset) * (b - b_offset)
// which gives the mean (a = x), the centred sum of squares (a = b = x, offsets = mean: the
// two-pass variance of the CPU, free of cancellation) and the backward sums (a = dy, b = x,
// b_offset = mean).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/math/hd.hpp"

namespace agcnn::cuda::math {

constexpr int kBnChannelsPerBlock = 32;  // threadIdx.x: consecutive channels, coalesced loads
constexpr int kBnLanes = 8;              // threadIdx.y: rows interleaved within a chunk

// Rows per chunk: at least 256, and at most about 1024 chunks.
AGCNN_HD std::int64_t bn_chunk_rows(std::int64_t rows) {
    const std::int64_t spread = (rows + 1023) / 1024;
    return spread > 256 ? spread : 256;
}

// Step 1 for channel k and one lane: rows begin, begin + kBnLanes, ... below end. b may be null
// (then s2 is left at 0).
AGCNN_HD void bn_lane_sums(const float* a, const float* b, float a_offset, float b_offset,
                           std::int64_t begin, std::int64_t end, std::int64_t k, std::int64_t c,
                           float& s1, float& s2) {
    s1 = 0.0f;
    s2 = 0.0f;
    for (std::int64_t r = begin; r < end; r += kBnLanes) {
        const float av = a[r * c + k];
        s1 += av;
        if (b) s2 += (av - a_offset) * (b[r * c + k] - b_offset);
    }
}

// Training statistics of channel k from the chunk-summed s1 = sum x and s2 = sum (x - mean)^2;
// updates the running estimates (unbiased variance in the running estimate, as PyTorch).
AGCNN_HD void bn_train_stats(double sum, double centered_sq, std::int64_t rows, double momentum,
                             double eps, float& mean_used, float& invstd_used,
                             float& running_mean, float& running_var) {
    const double mean = sum / double(rows);
    const double var = centered_sq / double(rows);
    mean_used = static_cast<float>(mean);
    invstd_used = static_cast<float>(1.0 / sqrt(var + eps));
    running_mean = static_cast<float>((1.0 - momentum) * running_mean + momentum * mean);
    running_var = static_cast<float>((1.0 - momentum) * running_var +
                                     momentum * var * double(rows) / double(rows - 1));
}

AGCNN_HD void bn_eval_stats(float running_mean, float running_var, double eps, float& mean_used,
                            float& invstd_used) {
    mean_used = running_mean;
    invstd_used = static_cast<float>(1.0 / sqrt(double(running_var) + eps));
}

// y = x * scale + shift.
AGCNN_HD void bn_scale_shift(float gamma, float beta, float mean_used, float invstd_used,
                             float& scale, float& shift) {
    scale = gamma * invstd_used;
    shift = beta - mean_used * scale;
}

// From s1 = sum dy and s2 = sum dy * (x - mean): the parameter gradients and the coefficients
// of dx = a * dy + b * x + bias.
AGCNN_HD void bn_backward_coefficients(double sum_dy, double sum_dy_xc, float gamma,
                                       float mean_used, float invstd_used, std::int64_t rows,
                                       bool training, float& dgamma, float& dbeta, float& a,
                                       float& b, float& bias) {
    const double dg = invstd_used * sum_dy_xc;
    dgamma = static_cast<float>(dg);
    dbeta = static_cast<float>(sum_dy);
    if (training) {
        const double gi = double(gamma) * invstd_used;
        const double m = double(rows);
        a = static_cast<float>(gi);
        b = static_cast<float>(-gi / m * dg * invstd_used);
        bias = static_cast<float>(-gi / m * (sum_dy - dg * invstd_used * mean_used));
    } else {
        a = gamma * invstd_used;
        b = 0.0f;
        bias = 0.0f;
    }
}

}  // namespace agcnn::cuda::math

namespace agcnn::cuda::math {

// Step 2: the kBnLanes lane sums of one channel, stored `stride` apart, added in lane order.
AGCNN_HD float bn_sum_lanes(const float* lane_sums, std::int64_t stride) {
    float total = 0.0f;
    for (int lane = 0; lane < kBnLanes; ++lane) total += lane_sums[lane * stride];
    return total;
}

// Step 3: chunk sums partial[chunk * c + k] of channel k, added in chunk order in double.
AGCNN_HD double bn_sum_chunks(const float* partial, std::int64_t chunks, std::int64_t k,
                              std::int64_t c) {
    double total = 0.0;
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) total += partial[chunk * c + k];
    return total;
}

}  // namespace agcnn::cuda::math
