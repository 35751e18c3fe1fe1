// The CUDA kernels' index and arithmetic logic (kernels/math/*.hpp), run on the CPU and checked
// against the CPU ops (include/agcnn/ops, model/attention.hpp), the specification. No GPU and
// no CUDA compiler are needed: the kernels call these same functions per element, so a GPU run
// confirms what is tested here. Where a kernel reduces in a particular order (batch norm's
// chunks and lanes, the heatmap's warp butterfly), the test replays that order.
//
// Tolerances: exact equality where the kernel does the CPU's operations in the CPU's order
// (pooling, relu, concat, crop, normalisation); 1e-6 relative where only the compiler's
// contraction into FMA can differ (optimizers, sigmoid, column sums); 1e-5 relative where the
// summation order differs (batch norm, GEMM emulation, heatmap L1/L2).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "agcnn/core/rng.hpp"
#include "agcnn/ops/batch_norm.hpp"
#include "agcnn/ops/concat.hpp"
#include "agcnn/ops/global_pool.hpp"
#include "agcnn/ops/linear.hpp"
#include "agcnn/ops/max_pool2d.hpp"
#include "agcnn/ops/relu.hpp"
#include "agcnn/ops/sigmoid.hpp"
#include "agcnn/optim/adam.hpp"
#include "agcnn/optim/sgd.hpp"
#include "agcnn/model/attention.hpp"
#include "kernels/math/attention_math.hpp"
#include "kernels/math/batch_norm_math.hpp"
#include "kernels/math/elementwise_math.hpp"
#include "kernels/math/gemm_math.hpp"
#include "kernels/math/image_math.hpp"
#include "kernels/math/optim_math.hpp"
#include "kernels/math/pool_math.hpp"

namespace math = agcnn::cuda::math;
using agcnn::Rng;

namespace {

std::vector<float> random_values(std::size_t n, std::uint64_t seed, double low = -1.0,
                                 double high = 1.0) {
    Rng rng(seed);
    std::vector<float> out(n);
    for (float& v : out) v = static_cast<float>(rng.uniform(low, high));
    return out;
}

// |a - b| <= tolerance * max(1, |b|) element by element, with the first failure reported.
void check_close(const std::vector<float>& actual, const std::vector<float>& expected,
                 double tolerance, const char* what) {
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double scale = std::max(1.0, std::fabs(double(expected[i])));
        if (std::fabs(double(actual[i]) - double(expected[i])) > tolerance * scale) {
            FAIL_CHECK(std::string(what) << "[" << i << "]: " << actual[i] << " vs CPU " << expected[i]
                            << " (tolerance " << tolerance << ")");
            return;
        }
    }
}

}  // namespace

TEST_CASE("max pool: window scan and gradient gather equal the CPU op bit for bit") {
    struct Case { std::int64_t kernel, stride, pad; };
    for (const Case k : {Case{3, 2, 1}, Case{2, 2, 0}, Case{3, 1, 1}, Case{1, 1, 0}}) {
        CAPTURE(k.kernel);
        CAPTURE(k.stride);
        const agcnn::PoolGeometry g = agcnn::pool_geometry({2, 7, 9, 5}, k.kernel, k.stride, k.pad);
        auto x = random_values(2 * 7 * 9 * 5, 1);
        x[7] = x[12];  // a tie: the first maximum must win on both sides
        const std::size_t outputs = std::size_t(g.n * g.oh * g.ow * g.c);
        std::vector<float> y_cpu(outputs), y_gpu(outputs);
        std::vector<std::int32_t> arg_cpu(outputs), arg_gpu(outputs);
        agcnn::cpu::max_pool2d_forward(y_cpu.data(), arg_cpu.data(), x.data(), g);
        for (std::int64_t i = 0; i < std::int64_t(outputs); ++i)
            math::max_pool_output(y_gpu.data(), arg_gpu.data(), x.data(), g, i);
        CHECK(y_gpu == y_cpu);
        CHECK(arg_gpu == arg_cpu);

        const auto dy = random_values(outputs, 2);
        std::vector<float> dx_cpu(x.size()), dx_gpu(x.size());
        agcnn::cpu::max_pool2d_backward(dx_cpu.data(), dy.data(), arg_cpu.data(), g);
        for (std::int64_t i = 0; i < std::int64_t(x.size()); ++i)
            dx_gpu[i] = math::max_pool_input_grad(dy.data(), arg_gpu.data(), g, i);
        CHECK(dx_gpu == dx_cpu);
    }
}

TEST_CASE("global max and average pooling equal the CPU ops") {
    const std::int64_t n = 3, hw = 10, c = 6;
    auto x = random_values(n * hw * c, 3);
    x[0 * c + 1] = x[4 * c + 1];  // tie in image 0, channel 1
    std::vector<float> y_cpu(n * c), y_gpu(n * c);
    std::vector<std::int32_t> arg_cpu(n * c), arg_gpu(n * c);
    agcnn::cpu::global_max_pool_forward(y_cpu.data(), arg_cpu.data(), x.data(), n, hw, c);
    for (std::int64_t i = 0; i < n * c; ++i)
        math::global_max_output(y_gpu.data(), arg_gpu.data(), x.data(), hw, c, i);
    CHECK(y_gpu == y_cpu);
    CHECK(arg_gpu == arg_cpu);

    const auto dy = random_values(n * c, 4);
    std::vector<float> dx_cpu(x.size()), dx_gpu(x.size());
    agcnn::cpu::global_max_pool_backward(dx_cpu.data(), dy.data(), arg_cpu.data(), n, hw, c);
    for (std::int64_t i = 0; i < n * hw * c; ++i)
        dx_gpu[i] = math::global_max_input_grad(dy.data(), arg_gpu.data(), hw, c, i);
    CHECK(dx_gpu == dx_cpu);

    agcnn::cpu::global_avg_pool_forward(y_cpu.data(), x.data(), n, hw, c);
    for (std::int64_t i = 0; i < n * c; ++i) y_gpu[i] = math::global_avg_output(x.data(), hw, c, i);
    CHECK(y_gpu == y_cpu);
    agcnn::cpu::global_avg_pool_backward(dx_cpu.data(), dy.data(), n, hw, c);
    for (std::int64_t i = 0; i < n * hw * c; ++i)
        dx_gpu[i] = math::global_avg_input_grad(dy.data(), hw, c, i);
    CHECK(dx_gpu == dx_cpu);
}

TEST_CASE("relu, sigmoid and concat equal the CPU ops") {
    auto x = random_values(1000, 5, -30.0, 30.0);
    x[0] = 0.0f;
    const auto dy = random_values(1000, 6);
    std::vector<float> cpu(x.size()), gpu(x.size()), dcpu(x.size()), dgpu(x.size());
    agcnn::cpu::relu_forward(cpu.data(), x.data(), 1000);
    for (std::size_t i = 0; i < x.size(); ++i) gpu[i] = math::relu(x[i]);
    CHECK(gpu == cpu);
    agcnn::cpu::relu_backward(dcpu.data(), dy.data(), cpu.data(), 1000);
    for (std::size_t i = 0; i < x.size(); ++i) dgpu[i] = math::relu_grad(dy[i], cpu[i]);
    CHECK(dgpu == dcpu);

    agcnn::cpu::sigmoid_forward(cpu.data(), x.data(), 1000);
    for (std::size_t i = 0; i < x.size(); ++i) gpu[i] = math::sigmoid(x[i]);
    check_close(gpu, cpu, 1e-6, "sigmoid");
    agcnn::cpu::sigmoid_backward(dcpu.data(), dy.data(), cpu.data(), 1000);
    for (std::size_t i = 0; i < x.size(); ++i) dgpu[i] = math::sigmoid_grad(dy[i], cpu[i]);
    check_close(dgpu, dcpu, 1e-6, "sigmoid backward");

    const std::int64_t rows = 4, ca = 3, cb = 5;
    const auto a = random_values(rows * ca, 7), b = random_values(rows * cb, 8);
    std::vector<float> y_cpu(rows * (ca + cb)), y_gpu(y_cpu.size());
    agcnn::cpu::concat_forward(y_cpu.data(), a.data(), b.data(), rows, ca, cb);
    std::vector<float> da(a.size()), db(b.size());
    for (std::int64_t i = 0; i < rows * (ca + cb); ++i) {
        const math::ConcatSource s = math::concat_source(i, ca, cb);
        y_gpu[i] = s.from_a ? a[s.index] : b[s.index];
        (s.from_a ? da : db)[s.index] = y_cpu[i];  // the backward kernel's scatter of dy = y
    }
    CHECK(y_gpu == y_cpu);
    CHECK(da == a);
    CHECK(db == b);
}

TEST_CASE("Adam and SGD element updates equal the CPU optimizers") {
    const std::int64_t n = 257;
    const auto g = random_values(n, 9);
    auto p_cpu = random_values(n, 10), m_cpu = random_values(n, 11, 0, 0.1),
         v_cpu = random_values(n, 12, 0, 0.1);
    auto p_gpu = p_cpu, m_gpu = m_cpu, v_gpu = v_cpu;
    for (std::int64_t step = 1; step <= 3; ++step) {
        agcnn::cpu::adam_update(p_cpu.data(), m_cpu.data(), v_cpu.data(), g.data(), n, 1e-3, 0.9,
                                0.999, 1e-8, 1e-4, step);
        const auto s = math::adam_scalars(1e-3, 0.9, 0.999, 1e-8, 1e-4, step);
        for (std::int64_t i = 0; i < n; ++i) math::adam_step(p_gpu[i], m_gpu[i], v_gpu[i], g[i], s);
    }
    check_close(p_gpu, p_cpu, 1e-6, "adam p");
    check_close(m_gpu, m_cpu, 1e-6, "adam m");
    check_close(v_gpu, v_cpu, 1e-6, "adam v");

    for (const bool nesterov : {false, true}) {
        auto q_cpu = random_values(n, 13), buf_cpu = std::vector<float>(n, 0.0f);
        auto q_gpu = q_cpu, buf_gpu = buf_cpu;
        for (int step = 0; step < 3; ++step) {
            agcnn::cpu::sgd_update(q_cpu.data(), buf_cpu.data(), g.data(), n, 0.01, 0.9, 0.1,
                                   1e-4, nesterov, step == 0);
            const auto s = math::sgd_scalars(0.01, 0.9, 0.1, 1e-4, nesterov, step == 0);
            for (std::int64_t i = 0; i < n; ++i) math::sgd_step(q_gpu[i], buf_gpu[i], g[i], s);
        }
        check_close(q_gpu, q_cpu, 1e-6, "sgd p");
        check_close(buf_gpu, buf_cpu, 1e-6, "sgd momentum");
    }
}

namespace {

// The batch-norm kernels' reduction replayed on the CPU: per chunk, kBnLanes interleaved lane
// sums, added in lane order; chunks added in order in double by the finalisers.
struct ChunkSums {
    std::int64_t chunks;
    std::vector<float> s1, s2;  // [chunks, c]
};

ChunkSums chunk_sums(const float* a, const float* b, const float* a_offset, const float* b_offset,
                     std::int64_t rows, std::int64_t c) {
    const std::int64_t chunk_rows = math::bn_chunk_rows(rows);
    ChunkSums out{(rows + chunk_rows - 1) / chunk_rows, {}, {}};
    out.s1.resize(out.chunks * c);
    out.s2.resize(out.chunks * c);
    for (std::int64_t chunk = 0; chunk < out.chunks; ++chunk) {
        const std::int64_t begin = chunk * chunk_rows, end = std::min(begin + chunk_rows, rows);
        for (std::int64_t k = 0; k < c; ++k) {
            float lane1[math::kBnLanes], lane2[math::kBnLanes];
            for (int t = 0; t < math::kBnLanes; ++t)
                math::bn_lane_sums(a, b, a_offset ? a_offset[k] : 0.0f,
                                   b_offset ? b_offset[k] : 0.0f, begin + t, end, k, c, lane1[t],
                                   lane2[t]);
            out.s1[chunk * c + k] = math::bn_sum_lanes(lane1, 1);
            out.s2[chunk * c + k] = math::bn_sum_lanes(lane2, 1);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("batch norm: the chunked reduction matches the CPU op, forward and backward") {
    const std::int64_t rows = 3001, c = 5;  // 12 chunks, the last one short
    auto x = random_values(rows * c, 14, 2.0, 4.0);  // an offset mean: tests the two-pass variance
    const auto gamma = random_values(c, 15, 0.5, 1.5), beta = random_values(c, 16);
    const auto dy = random_values(rows * c, 17);
    for (const bool training : {true, false}) {
        CAPTURE(training);
        std::vector<float> rm_cpu = random_values(c, 18), rv_cpu = random_values(c, 19, 0.5, 2);
        std::vector<float> rm_gpu = rm_cpu, rv_gpu = rv_cpu;
        std::vector<float> y_cpu(rows * c), mean_cpu(c), inv_cpu(c);
        agcnn::cpu::batch_norm_forward(y_cpu.data(), mean_cpu.data(), inv_cpu.data(), x.data(),
                                       gamma.data(), beta.data(), rm_cpu.data(), rv_cpu.data(),
                                       rows, c, training, 0.1, 1e-5);

        std::vector<float> mean(c), inv(c), scale(c), shift(c), y(rows * c);
        if (training) {
            const ChunkSums sums = chunk_sums(x.data(), nullptr, nullptr, nullptr, rows, c);
            for (std::int64_t k = 0; k < c; ++k)  // bn_mean_kernel
                mean[k] = float(math::bn_sum_chunks(sums.s1.data(), sums.chunks, k, c) / rows);
            const ChunkSums sq = chunk_sums(x.data(), x.data(), mean.data(), mean.data(), rows, c);
            for (std::int64_t k = 0; k < c; ++k)
                math::bn_train_stats(math::bn_sum_chunks(sq.s1.data(), sq.chunks, k, c),
                                     math::bn_sum_chunks(sq.s2.data(), sq.chunks, k, c), rows,
                                     0.1, 1e-5, mean[k], inv[k], rm_gpu[k], rv_gpu[k]);
        } else {
            for (std::int64_t k = 0; k < c; ++k)
                math::bn_eval_stats(rm_gpu[k], rv_gpu[k], 1e-5, mean[k], inv[k]);
        }
        for (std::int64_t k = 0; k < c; ++k)
            math::bn_scale_shift(gamma[k], beta[k], mean[k], inv[k], scale[k], shift[k]);
        for (std::int64_t i = 0; i < rows * c; ++i) y[i] = x[i] * scale[i % c] + shift[i % c];
        check_close(mean, mean_cpu, 1e-5, "mean");
        check_close(inv, inv_cpu, 1e-5, "invstd");
        check_close(rm_gpu, rm_cpu, 1e-5, "running mean");
        check_close(rv_gpu, rv_cpu, 1e-5, "running var");
        check_close(y, y_cpu, 1e-5, "y");

        std::vector<float> dx_cpu(rows * c), dg_cpu(c), db_cpu(c);
        agcnn::cpu::batch_norm_backward(dx_cpu.data(), dg_cpu.data(), db_cpu.data(), dy.data(),
                                        x.data(), gamma.data(), mean_cpu.data(), inv_cpu.data(),
                                        rows, c, training);
        const ChunkSums sums = chunk_sums(dy.data(), x.data(), nullptr, mean.data(), rows, c);
        std::vector<float> dg(c), db(c), a(c), b(c), bias(c), dx(rows * c);
        for (std::int64_t k = 0; k < c; ++k)
            math::bn_backward_coefficients(math::bn_sum_chunks(sums.s1.data(), sums.chunks, k, c),
                                           math::bn_sum_chunks(sums.s2.data(), sums.chunks, k, c),
                                           gamma[k], mean[k], inv[k], rows, training, dg[k],
                                           db[k], a[k], b[k], bias[k]);
        for (std::int64_t i = 0; i < rows * c; ++i)
            dx[i] = a[i % c] * dy[i] + b[i % c] * x[i] + bias[i % c];
        check_close(dg, dg_cpu, 1e-5, "dgamma");
        check_close(db, db_cpu, 1e-5, "dbeta");
        check_close(dx, dx_cpu, 1e-5, "dx");
    }
}

TEST_CASE("linear as column-major GEMMs equals the CPU op") {
    const std::int64_t n = 3, in = 5, out = 4;
    const auto x = random_values(n * in, 20), w = random_values(out * in, 21),
               bias = random_values(out, 22), dy = random_values(n * out, 23);
    // cuBLAS's contract, on column-major storage: C = op(A) op(B).
    auto gemm = [](const math::GemmCall& g, const float* a, const float* b, float* c) {
        for (std::int64_t i = 0; i < g.m; ++i)
            for (std::int64_t j = 0; j < g.n; ++j) {
                double sum = 0;
                for (std::int64_t p = 0; p < g.k; ++p) {
                    const float av = g.transpose_a ? a[i * g.lda + p] : a[p * g.lda + i];
                    const float bv = g.transpose_b ? b[p * g.ldb + j] : b[j * g.ldb + p];
                    sum += double(av) * bv;
                }
                c[j * g.ldc + i] = float(sum);
            }
    };
    std::vector<float> y_cpu(n * out), y(n * out);
    agcnn::cpu::linear_forward(y_cpu.data(), x.data(), w.data(), bias.data(), n, in, out);
    gemm(math::linear_forward_gemm(n, in, out), w.data(), x.data(), y.data());
    for (std::int64_t i = 0; i < n * out; ++i) y[i] += bias[i % out];  // add_bias_kernel
    check_close(y, y_cpu, 1e-5, "y");

    std::vector<float> dx_cpu(n * in), dw_cpu(out * in), db_cpu(out), dx(n * in), dw(out * in),
        db(out);
    agcnn::cpu::linear_backward(dx_cpu.data(), dw_cpu.data(), db_cpu.data(), dy.data(), x.data(),
                                w.data(), n, in, out);
    gemm(math::linear_dx_gemm(n, in, out), w.data(), dy.data(), dx.data());
    gemm(math::linear_dw_gemm(n, in, out), x.data(), dy.data(), dw.data());
    for (std::int64_t o = 0; o < out; ++o) db[o] = math::column_sum(dy.data(), n, out, o);
    check_close(dx, dx_cpu, 1e-5, "dx");
    check_close(dw, dw_cpu, 1e-5, "dw");
    CHECK(db == db_cpu);
}

TEST_CASE("attention heatmap: the warp reduction equals model::channel_statistic") {
    using agcnn::HeatmapStatistic;
    const int h = 3, w = 2;
    const std::int64_t c = 70;  // not a multiple of the 32 lanes
    const auto f = random_values(h * w * c, 24, -3, 3);
    struct Case { HeatmapStatistic statistic; double tolerance; };
    for (const Case s : {Case{HeatmapStatistic::max, 0.0}, Case{HeatmapStatistic::l1, 1e-6},
                         Case{HeatmapStatistic::l2, 1e-6}}) {
        const auto expected = agcnn::model::channel_statistic(f.data(), h, w, c, s.statistic);
        std::vector<float> heat(h * w);
        for (int p = 0; p < h * w; ++p) {
            double lanes[32];
            for (int lane = 0; lane < 32; ++lane)
                lanes[lane] = math::heatmap_lane(f.data() + p * c, c, lane, 32, s.statistic);
            for (int offset = 16; offset > 0; offset /= 2) {  // __shfl_xor_sync butterfly
                double next[32];
                for (int lane = 0; lane < 32; ++lane)
                    next[lane] = math::heatmap_merge(lanes[lane], lanes[lane ^ offset], s.statistic);
                std::copy(next, next + 32, lanes);
            }
            heat[p] = math::heatmap_finish(lanes[0], s.statistic);
        }
        check_close(heat, expected, s.tolerance, "heatmap");
    }
}

TEST_CASE("crop and resize equals resizing the crop with model::resize_bilinear") {
    using agcnn::Box;
    // PyTorch: F.interpolate([[0, 1], [2, 3]], size=4, mode="bilinear", align_corners=False).
    const std::vector<float> square{0, 1, 2, 3};
    const std::vector<float> expected{0,   0.25, 0.75, 1,   0.5, 0.75, 1.25, 1.5,
                                      1.5, 1.75, 2.25, 2.5, 2,   2.25, 2.75, 3};
    const Box whole{0, 0, 2, 2};
    std::vector<float> y(16);
    for (int i = 0; i < 16; ++i) y[i] = math::crop_resize_output(square.data(), &whole, 2, 2, 1, 4, 4, i);
    check_close(y, expected, 1e-7, "2x2 -> 4x4");

    // Two images [2, 9, 11, 2], boxes inside them, resized to 5 x 7.
    const std::int64_t h = 9, w = 11, c = 2, oh = 5, ow = 7;
    const auto x = random_values(2 * h * w * c, 25);
    const Box boxes[2] = {{2, 1, 9, 8}, {0, 3, 11, 4}};  // x0, y0, x1, y1
    std::vector<float> out(2 * oh * ow * c);
    for (std::int64_t i = 0; i < 2 * oh * ow * c; ++i)
        out[i] = math::crop_resize_output(x.data(), boxes, h, w, c, oh, ow, i);
    for (int n = 0; n < 2; ++n)
        for (int k = 0; k < c; ++k) {
            const Box& b = boxes[n];
            std::vector<float> crop;
            for (int yy = int(b.y0); yy < int(b.y1); ++yy)
                for (int xx = int(b.x0); xx < int(b.x1); ++xx) crop.push_back(x[((n * h + yy) * w + xx) * c + k]);
            const auto ref = agcnn::model::resize_bilinear(crop, int(b.height()), int(b.width()), oh, ow);
            std::vector<float> got;
            for (int p = 0; p < oh * ow; ++p) got.push_back(out[(n * oh * ow + p) * c + k]);
            check_close(got, ref, 1e-6, "crop");
        }
}

TEST_CASE("image normalisation with horizontal flip") {
    const std::int64_t n = 2, h = 2, w = 3, c = 3;
    std::vector<std::uint8_t> x(n * h * w * c);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint8_t>(i * 7 % 256);
    const std::uint8_t flip[2] = {0, 1};
    agcnn::ImageNormalization norm;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
    for (int k = 0; k < 3; ++k) norm.mean[k] = mean[k], norm.std[k] = stdev[k];
    for (std::int64_t i = 0; i < n * h * w * c; ++i) {
        const std::int64_t k = i % c, col = (i / c) % w, row = (i / (c * w)) % h, img = i / (c * w * h);
        const std::int64_t src_col = img == 1 ? w - 1 - col : col;
        const float v = x[((img * h + row) * w + src_col) * c + k];
        CHECK(math::normalize_output(x.data(), flip, norm, h, w, c, i) ==
              (v / 255.0f - mean[k]) / stdev[k]);
    }
    CHECK(math::normalize_output(x.data(), nullptr, norm, h, w, c, 0) ==
          (x[0] / 255.0f - mean[0]) / stdev[0]);
}
