// Every op: (a) the float32 forward against a plain double-precision reference written here
// (direct loops, independent of the kernels), (b) a finite-difference gradient check of the
// CPU kernels run in double, (c) parameter gradients accumulate across two backward passes.
//
// Tolerances: float32 forward vs double reference 1e-5 relative (float32 rounding of sums of
// up to a few hundred terms gives about 1e-7..1e-6); gradients in double 1e-6 (see gradcheck.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>

#include "agcnn/agcnn.hpp"
#include "gradcheck.hpp"

using namespace agcnn;
using namespace agcnn::test;

namespace {

constexpr double kForwardTolerance = 1e-5;

// Keeps values away from 0 so relu's kink is never within h of an input.
Vec away_from_zero(Vec v) {
    for (auto& x : v)
        if (std::abs(x) < 0.05) x = x < 0 ? x - 0.05 : x + 0.05;
    return v;
}

// Distinct values spaced apart, shuffled: no ties, so max-type ops have a unique winner.
Vec distinct_values(std::size_t n, Rng& rng) {
    Vec v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = -1.0 + 2.0 * double(i) / double(n);
    for (std::size_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
    return v;
}

// Runs backward twice on fresh graphs and checks every leaf's gradient doubled exactly.
void check_accumulation(const std::vector<Tensor*>& leaves, const std::function<Tensor()>& build) {
    for (Tensor* t : leaves) t->set_grad(Tensor());
    Tensor out = build();
    Rng rng(7);
    const Tensor r = tensor_from(out.shape(), random_vec(static_cast<std::size_t>(out.numel()), rng));
    backward(out, r);
    std::vector<std::vector<float>> once;
    for (Tensor* t : leaves) once.push_back(t->grad().to_vector());
    backward(build(), r);
    for (std::size_t k = 0; k < leaves.size(); ++k) {
        const std::vector<float> twice = leaves[k]->grad().to_vector();
        REQUIRE(twice.size() == once[k].size());
        for (std::size_t i = 0; i < twice.size(); ++i) CHECK(twice[i] == 2.0f * once[k][i]);
    }
}

// cpu::batch_norm_forward in double on in[0] (x, rows x c), in[1] (gamma), in[2] (beta), from
// the running statistics rm0, rv0 (copied; the update is not kept), with an optional tail.
// Returns y; mean and invstd receive the statistics used.
Vec batch_norm_double(const std::vector<Vec>& in, const Vec& rm0, const Vec& rv0,
                      std::int64_t rows, std::int64_t c, bool training, Vec& mean, Vec& invstd,
                      cpu::BnTail<double> tail = {}) {
    Vec y(static_cast<std::size_t>(rows * c)), rm = rm0, rv = rv0;
    mean.assign(static_cast<std::size_t>(c), 0);
    invstd.assign(static_cast<std::size_t>(c), 0);
    cpu::batch_norm_forward(y.data(), mean.data(), invstd.data(), in[0].data(), in[1].data(),
                            in[2].data(), rm.data(), rv.data(), rows, c, training, 0.1, 1e-5,
                            tail);
    return y;
}

}  // namespace

TEST_CASE("relu") {
    Rng rng(1);
    const Vec x = away_from_zero(random_vec(60, rng));
    Vec expected(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) expected[i] = std::max(x[i], 0.0);
    check_close("relu forward", to_double(ops::relu(tensor_from({60}, x))), expected, 1e-7);
    check_gradients(
        "relu", {x},
        [](const std::vector<Vec>& in) {
            Vec y(in[0].size());
            cpu::relu_forward(y.data(), in[0].data(), std::int64_t(y.size()));
            return y;
        },
        [](const std::vector<Vec>& in, const Vec& dy) {
            Vec y(in[0].size()), dx(in[0].size());
            cpu::relu_forward(y.data(), in[0].data(), std::int64_t(y.size()));
            cpu::relu_backward(dx.data(), dy.data(), y.data(), std::int64_t(y.size()));
            return std::vector<Vec>{dx};
        });
    Tensor leaf = tensor_from({60}, x);
    leaf.set_requires_grad(true);
    check_accumulation({&leaf}, [&] { return ops::relu(leaf); });
}

TEST_CASE("add and residual reuse") {
    Rng rng(2);
    const Vec a = random_vec(24, rng), b = random_vec(24, rng);
    Vec expected(24);
    for (int i = 0; i < 24; ++i) expected[i] = a[i] + b[i];
    check_close("add forward", to_double(ops::add(tensor_from({2, 12}, a), tensor_from({2, 12}, b))),
                expected, 1e-7);
    // y = relu(x) + x uses x twice: dx = dy * (x > 0) + dy.
    Tensor x = tensor_from({24}, away_from_zero(a));
    x.set_requires_grad(true);
    Tensor y = ops::add(ops::relu(x), x);
    const Tensor dy = tensor_from({24}, b);
    backward(y, dy);
    const auto g = x.grad().to_vector();
    const auto xv = x.to_vector();
    for (int i = 0; i < 24; ++i) CHECK(g[i] == doctest::Approx((xv[i] > 0 ? b[i] : 0.0) + b[i]));
    CHECK_THROWS_WITH_AS(ops::add(tensor_from({2, 12}, a), tensor_from({3, 8}, b)),
                         "add: shapes differ: [2, 12] vs [3, 8]", Error);
}

TEST_CASE("sigmoid") {
    Rng rng(3);
    const Vec x = random_vec(40, rng, 3.0);
    Vec expected(40);
    for (int i = 0; i < 40; ++i) expected[i] = 1.0 / (1.0 + std::exp(-x[i]));
    check_close("sigmoid forward", to_double(ops::sigmoid(tensor_from({40}, x))), expected, 1e-6);
    // Extreme logits stay finite.
    const auto extreme = ops::sigmoid(Tensor::from_vector({2}, {-1000.f, 1000.f})).to_vector();
    CHECK(extreme[0] == 0.0f);
    CHECK(extreme[1] == 1.0f);
    check_gradients(
        "sigmoid", {x},
        [](const std::vector<Vec>& in) {
            Vec y(in[0].size());
            cpu::sigmoid_forward(y.data(), in[0].data(), std::int64_t(y.size()));
            return y;
        },
        [](const std::vector<Vec>& in, const Vec& dy) {
            Vec y(in[0].size()), dx(y.size());
            cpu::sigmoid_forward(y.data(), in[0].data(), std::int64_t(y.size()));
            cpu::sigmoid_backward(dx.data(), dy.data(), y.data(), std::int64_t(y.size()));
            return std::vector<Vec>{dx};
        });
}

TEST_CASE("concat_channels") {
    Rng rng(4);
    const Vec a = random_vec(2 * 3, rng), b = random_vec(2 * 5, rng);
    Vec expected;
    for (int r = 0; r < 2; ++r) {
        for (int k = 0; k < 3; ++k) expected.push_back(a[r * 3 + k]);
        for (int k = 0; k < 5; ++k) expected.push_back(b[r * 5 + k]);
    }
    check_close("concat forward",
                to_double(ops::concat_channels(tensor_from({2, 3}, a), tensor_from({2, 5}, b))),
                expected, 1e-7);
    check_gradients(
        "concat", {a, b},
        [](const std::vector<Vec>& in) {
            Vec y(16);
            cpu::concat_forward(y.data(), in[0].data(), in[1].data(), 2, 3, 5);
            return y;
        },
        [](const std::vector<Vec>&, const Vec& dy) {
            Vec da(6), db(10);
            cpu::concat_backward(da.data(), db.data(), dy.data(), 2, 3, 5);
            return std::vector<Vec>{da, db};
        });
    CHECK_THROWS_AS(ops::concat_channels(tensor_from({2, 3}, a), tensor_from({5, 2}, b)), Error);
}

TEST_CASE("global max and average pooling") {
    Rng rng(5);
    const std::int64_t n = 2, h = 3, w = 4, c = 5;
    const Vec x = distinct_values(std::size_t(n * h * w * c), rng);
    Vec max_ref(n * c, -1e9), avg_ref(n * c, 0.0);
    for (int i = 0; i < n; ++i)
        for (int p = 0; p < h * w; ++p)
            for (int k = 0; k < c; ++k) {
                max_ref[i * c + k] = std::max(max_ref[i * c + k], x[(i * h * w + p) * c + k]);
                avg_ref[i * c + k] += x[(i * h * w + p) * c + k] / double(h * w);
            }
    check_close("global max forward", to_double(ops::global_max_pool(tensor_from({n, h, w, c}, x))),
                max_ref, 1e-7);
    check_close("global avg forward", to_double(ops::global_avg_pool(tensor_from({n, h, w, c}, x))),
                avg_ref, 1e-6);
    check_gradients(
        "global max pool", {x},
        [&](const std::vector<Vec>& in) {
            Vec y(n * c);
            std::vector<std::int32_t> arg(n * c);
            cpu::global_max_pool_forward(y.data(), arg.data(), in[0].data(), n, h * w, c);
            return y;
        },
        [&](const std::vector<Vec>& in, const Vec& dy) {
            Vec y(n * c), dx(in[0].size());
            std::vector<std::int32_t> arg(n * c);
            cpu::global_max_pool_forward(y.data(), arg.data(), in[0].data(), n, h * w, c);
            cpu::global_max_pool_backward(dx.data(), dy.data(), arg.data(), n, h * w, c);
            return std::vector<Vec>{dx};
        });
    check_gradients(
        "global avg pool", {x},
        [&](const std::vector<Vec>& in) {
            Vec y(n * c);
            cpu::global_avg_pool_forward(y.data(), in[0].data(), n, h * w, c);
            return y;
        },
        [&](const std::vector<Vec>& in, const Vec& dy) {
            Vec dx(in[0].size());
            cpu::global_avg_pool_backward(dx.data(), dy.data(), n, h * w, c);
            return std::vector<Vec>{dx};
        });
}

TEST_CASE("linear") {
    Rng rng(6);
    const std::int64_t n = 3, in = 7, out = 4;
    const Vec x = random_vec(n * in, rng), w = random_vec(out * in, rng), b = random_vec(out, rng);
    Vec expected(n * out);
    for (int i = 0; i < n; ++i)
        for (int o = 0; o < out; ++o) {
            double s = b[o];
            for (int k = 0; k < in; ++k) s += x[i * in + k] * w[o * in + k];
            expected[i * out + o] = s;
        }
    Tensor X = tensor_from({n, in}, x), W = tensor_from({out, in}, w), B = tensor_from({out}, b);
    check_close("linear forward", to_double(ops::linear(X, W, B)), expected, kForwardTolerance);
    check_gradients(
        "linear", {x, w, b},
        [&](const std::vector<Vec>& v) {
            Vec y(n * out);
            cpu::linear_forward(y.data(), v[0].data(), v[1].data(), v[2].data(), n, in, out);
            return y;
        },
        [&](const std::vector<Vec>& v, const Vec& dy) {
            Vec dx(n * in), dw(out * in), db(out);
            cpu::linear_backward(dx.data(), dw.data(), db.data(), dy.data(), v[0].data(),
                                 v[1].data(), n, in, out);
            return std::vector<Vec>{dx, dw, db};
        });
    W.set_requires_grad(true);
    B.set_requires_grad(true);
    check_accumulation({&W, &B}, [&] { return ops::linear(X, W, B); });
    CHECK_THROWS_AS(ops::linear(tensor_from({n, in + 1}, random_vec(n * (in + 1), rng)), W, B),
                    Error);
}

TEST_CASE("bce_with_logits") {
    Rng rng(7);
    const std::int64_t n = 4, c = 3;
    const Vec x = random_vec(n * c, rng, 4.0);
    Vec t(n * c), p = {0.5, 2.0, 7.0};
    for (auto& v : t) v = rng.uniform() < 0.4 ? 1.0 : 0.0;
    for (const bool weighted : {false, true}) {
        double expected = 0;
        for (int i = 0; i < n; ++i)
            for (int k = 0; k < c; ++k) {
                const double s = 1.0 / (1.0 + std::exp(-x[i * c + k]));
                const double pw = weighted ? p[k] : 1.0;
                expected -= pw * t[i * c + k] * std::log(s) + (1 - t[i * c + k]) * std::log(1 - s);
            }
        expected /= double(n * c);
        const Tensor loss = ops::bce_with_logits(tensor_from({n, c}, x), tensor_from({n, c}, t),
                                                 weighted ? tensor_from({c}, p) : Tensor());
        check_close("bce forward", {loss.item()}, {expected}, 1e-6);
        check_gradients(
            "bce_with_logits", {x},
            [&](const std::vector<Vec>& v) {
                return Vec{cpu::bce_with_logits_forward(v[0].data(), t.data(),
                                                        weighted ? p.data() : nullptr, n, c)};
            },
            [&](const std::vector<Vec>& v, const Vec& dy) {
                Vec dx(n * c);
                cpu::bce_with_logits_backward(dx.data(), dy[0], v[0].data(), t.data(),
                                              weighted ? p.data() : nullptr, n, c);
                return std::vector<Vec>{dx};
            });
    }
    // Huge logits: finite loss.
    const Tensor big = ops::bce_with_logits(Tensor::from_vector({1, 2}, {1e4f, -1e4f}),
                                            Tensor::from_vector({1, 2}, {0.f, 1.f}));
    CHECK(big.item() == doctest::Approx(1e4));
}

TEST_CASE("max_pool2d 3x3 stride 2 pad 1") {
    Rng rng(8);
    const std::int64_t n = 2, h = 7, w = 6, c = 3;
    const Vec x = distinct_values(std::size_t(n * h * w * c), rng);
    const PoolGeometry g = pool_geometry({n, h, w, c}, 3, 2, 1);
    CHECK(g.oh == 4);
    CHECK(g.ow == 3);
    Vec expected(n * g.oh * g.ow * c, -1e9);
    for (int i = 0; i < n; ++i)
        for (int oy = 0; oy < g.oh; ++oy)
            for (int ox = 0; ox < g.ow; ++ox)
                for (int k = 0; k < c; ++k)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            const int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            double& e = expected[((i * g.oh + oy) * g.ow + ox) * c + k];
                            e = std::max(e, x[((i * h + iy) * w + ix) * c + k]);
                        }
    check_close("max_pool2d forward", to_double(ops::max_pool2d(tensor_from({n, h, w, c}, x), 3, 2, 1)),
                expected, 1e-7);
    const auto run_forward = [&](const Vec& in, Vec& y, std::vector<std::int32_t>& arg) {
        y.assign(n * g.oh * g.ow * c, 0);
        arg.assign(y.size(), 0);
        cpu::max_pool2d_forward(y.data(), arg.data(), in.data(), g);
    };
    {  // the kernel with argmax (training) gives the same maxima as without (inference, above)
        Vec y;
        std::vector<std::int32_t> arg;
        run_forward(x, y, arg);
        check_close("max_pool2d forward with argmax", y, expected, 1e-7);
    }
    check_gradients(
        "max_pool2d", {x},
        [&](const std::vector<Vec>& in) {
            Vec y;
            std::vector<std::int32_t> arg;
            run_forward(in[0], y, arg);
            return y;
        },
        [&](const std::vector<Vec>& in, const Vec& dy) {
            Vec y, dx(in[0].size());
            std::vector<std::int32_t> arg;
            run_forward(in[0], y, arg);
            cpu::max_pool2d_backward(dx.data(), dy.data(), arg.data(), g);
            return std::vector<Vec>{dx};
        });
}

TEST_CASE("batch_norm train and eval") {
    Rng rng(9);
    const std::int64_t rows = 12, c = 4;  // e.g. N=3, H=2, W=2
    Vec x = random_vec(rows * c, rng, 2.0);
    for (auto& v : x) v += 3.0;  // a mean far from zero exercises the centred sums
    const Vec gamma = random_vec(c, rng), beta = random_vec(c, rng);
    const Vec rm0 = random_vec(c, rng), rv0 = {0.5, 1.5, 2.0, 0.8};
    for (const bool training : {true, false}) {
        // Double reference.
        Vec mean(c, 0), var(c, 0), expected(rows * c), rm = rm0, rv = rv0;
        for (int k = 0; k < c; ++k) {
            for (int r = 0; r < rows; ++r) mean[k] += x[r * c + k] / rows;
            for (int r = 0; r < rows; ++r) var[k] += std::pow(x[r * c + k] - mean[k], 2) / rows;
            if (training) {
                rm[k] = 0.9 * rm0[k] + 0.1 * mean[k];
                rv[k] = 0.9 * rv0[k] + 0.1 * var[k] * rows / (rows - 1);
            } else {
                mean[k] = rm0[k];
                var[k] = rv0[k];
            }
            for (int r = 0; r < rows; ++r)
                expected[r * c + k] =
                    (x[r * c + k] - mean[k]) / std::sqrt(var[k] + 1e-5) * gamma[k] + beta[k];
        }
        Tensor running_mean = tensor_from({c}, rm0), running_var = tensor_from({c}, rv0);
        const Tensor y = ops::batch_norm(tensor_from({3, 2, 2, c}, x), tensor_from({c}, gamma),
                                         tensor_from({c}, beta), running_mean, running_var,
                                         {training, 0.1, 1e-5});
        check_close(training ? "batch_norm train forward" : "batch_norm eval forward",
                    to_double(y), expected, kForwardTolerance);
        check_close("running mean", to_double(running_mean), rm, 1e-6);
        check_close("running var", to_double(running_var), rv, 1e-6);

        const auto forward = [&](const std::vector<Vec>& in, Vec& mean_used, Vec& invstd) {
            return batch_norm_double(in, rm0, rv0, rows, c, training, mean_used, invstd);
        };
        check_gradients(
            training ? "batch_norm train" : "batch_norm eval", {x, gamma, beta},
            [&](const std::vector<Vec>& in) {
                Vec m, s;
                return forward(in, m, s);
            },
            [&](const std::vector<Vec>& in, const Vec& dy) {
                Vec m, s, dx(rows * c), dg(c), db(c);
                forward(in, m, s);
                cpu::batch_norm_backward(dx.data(), dg.data(), db.data(), dy.data(),
                                         in[0].data(), in[1].data(), m.data(), s.data(), rows, c,
                                         training);
                return std::vector<Vec>{dx, dg, db};
            });
    }
    nn::BatchNorm2d bn(c);
    const Tensor input = tensor_from({3, 2, 2, c}, x);
    check_accumulation({bn.weight, bn.bias}, [&] { return bn.forward(input); });
    CHECK(bn.num_batches_tracked == 2);
}

TEST_CASE("batch_norm with a residual and ReLU: the tail of a bottleneck in one op") {
    Rng rng(19);
    const std::int64_t rows = 12, c = 4;
    Vec x = random_vec(rows * c, rng, 2.0);
    for (auto& v : x) v -= 1.0;
    const Vec gamma = random_vec(c, rng), beta = random_vec(c, rng);
    const Vec residual = random_vec(rows * c, rng);
    const Vec rm0 = random_vec(c, rng), rv0 = {0.7, 1.2, 2.5, 0.9};
    for (const bool training : {true, false}) {
        for (const bool with_residual : {true, false}) {
            CAPTURE(training);
            CAPTURE(with_residual);
            // Reference: the plain op (tested above) followed by add and relu, in double.
            const auto plain = [&](const std::vector<Vec>& in) {
                Vec mean, invstd;
                Vec y = batch_norm_double(in, rm0, rv0, rows, c, training, mean, invstd);
                for (std::int64_t i = 0; i < rows * c; ++i)
                    y[i] = std::max(y[i] + (with_residual ? in[3][i] : 0.0), 0.0);
                return y;
            };
            const auto fused = [&](const std::vector<Vec>& in, Vec& mean, Vec& invstd) {
                return batch_norm_double(in, rm0, rv0, rows, c, training, mean, invstd,
                                         {with_residual ? in[3].data() : nullptr, true});
            };
            const std::vector<Vec> inputs = {x, gamma, beta, residual};
            Vec m, s;
            check_close("fused forward (double)", fused(inputs, m, s), plain(inputs), 1e-12);
            check_gradients(
                "batch_norm + residual + relu", inputs,
                [&](const std::vector<Vec>& in) {
                    Vec mean, invstd;
                    return fused(in, mean, invstd);
                },
                [&](const std::vector<Vec>& in, const Vec& dy) {
                    Vec mean, invstd, dx(rows * c), dg(c), db(c), dres(rows * c);
                    const Vec y = fused(in, mean, invstd);
                    cpu::batch_norm_backward(dx.data(), dg.data(), db.data(), dy.data(),
                                             in[0].data(), in[1].data(), mean.data(),
                                             invstd.data(), rows, c, training, y.data(),
                                             with_residual ? dres.data() : nullptr);
                    return std::vector<Vec>{dx, dg, db, with_residual ? dres : Vec()};
                });

            // The float op through autograd equals batch_norm, add and relu run apart.
            Tensor X = tensor_from({3, 2, 2, c}, x).set_requires_grad(true);
            Tensor R = tensor_from({3, 2, 2, c}, residual).set_requires_grad(true);
            Tensor G = tensor_from({c}, gamma).set_requires_grad(true);
            Tensor B = tensor_from({c}, beta).set_requires_grad(true);
            const auto run = [&](bool one_op) {
                for (Tensor* t : {&X, &R, &G, &B}) t->set_grad(Tensor());
                Tensor rm = tensor_from({c}, rm0), rv = tensor_from({c}, rv0);
                Tensor y;
                if (one_op) {
                    y = ops::batch_norm(X, G, B, rm, rv, {training, 0.1, 1e-5, true},
                                        with_residual ? R : Tensor());
                } else {
                    y = ops::batch_norm(X, G, B, rm, rv, {training, 0.1, 1e-5});
                    if (with_residual) y = ops::add(y, R);
                    y = ops::relu(y);
                }
                Rng dy_rng(5);
                backward(y, tensor_from({3, 2, 2, c}, random_vec(rows * c, dy_rng)));
                return std::vector<Vec>{to_double(y), to_double(rm), to_double(rv),
                                        to_double(X.grad()), to_double(G.grad()),
                                        to_double(B.grad()),
                                        with_residual ? to_double(R.grad()) : Vec()};
            };
            const std::vector<Vec> one = run(true), apart = run(false);
            const char* names[] = {"y", "running mean", "running var", "dx", "dgamma", "dbeta",
                                   "dresidual"};
            for (std::size_t i = 0; i < one.size(); ++i)
                check_close(std::string("one op vs apart: ") + names[i], one[i], apart[i],
                            kForwardTolerance);
        }
    }
}

TEST_CASE("conv2d: every geometry ResNet-50 uses") {
    struct Case {
        std::int64_t n, h, w, c, o, k, stride, pad;
    };
    // 7x7/2 pad 3 (stem), 3x3/1 pad 1, 3x3/2 pad 1 (v1.5 downsampling), 1x1/1, 1x1/2
    // (downsample branch), and an odd size with a stride that leaves a remainder.
    const Case cases[] = {{2, 9, 8, 3, 4, 7, 2, 3}, {2, 5, 6, 3, 4, 3, 1, 1},
                          {1, 7, 7, 2, 3, 3, 2, 1}, {2, 4, 5, 3, 5, 1, 1, 0},
                          {2, 5, 5, 3, 4, 1, 2, 0}, {1, 6, 7, 2, 2, 3, 3, 0}};
    Rng rng(10);
    for (const Case& t : cases) {
        CAPTURE(t.k);
        CAPTURE(t.stride);
        CAPTURE(t.pad);
        const Vec x = random_vec(t.n * t.h * t.w * t.c, rng);
        const Vec w = random_vec(t.o * t.k * t.k * t.c, rng);
        const ConvGeometry g = conv_geometry({t.n, t.h, t.w, t.c}, {t.o, t.k, t.k, t.c}, t.stride,
                                             t.pad);
        // Direct convolution in double.
        Vec expected(t.n * g.oh * g.ow * t.o, 0.0);
        for (int i = 0; i < t.n; ++i)
            for (int oy = 0; oy < g.oh; ++oy)
                for (int ox = 0; ox < g.ow; ++ox)
                    for (int o = 0; o < t.o; ++o) {
                        double s = 0;
                        for (int ky = 0; ky < t.k; ++ky)
                            for (int kx = 0; kx < t.k; ++kx) {
                                const std::int64_t iy = oy * t.stride - t.pad + ky;
                                const std::int64_t ix = ox * t.stride - t.pad + kx;
                                if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                for (int ch = 0; ch < t.c; ++ch)
                                    s += x[((i * t.h + iy) * t.w + ix) * t.c + ch] *
                                         w[((o * t.k + ky) * t.k + kx) * t.c + ch];
                            }
                        expected[((i * g.oh + oy) * g.ow + ox) * t.o + o] = s;
                    }
        Tensor X = tensor_from({t.n, t.h, t.w, t.c}, x), W = tensor_from({t.o, t.k, t.k, t.c}, w);
        check_close("conv2d forward", to_double(ops::conv2d(X, W, t.stride, t.pad)), expected,
                    kForwardTolerance);
        check_gradients(
            "conv2d", {x, w},
            [&](const std::vector<Vec>& in) {
                Vec y(t.n * g.oh * g.ow * t.o);
                cpu::conv2d_forward(y.data(), in[0].data(), in[1].data(), g);
                return y;
            },
            [&](const std::vector<Vec>& in, const Vec& dy) {
                Vec dx(in[0].size()), dw(in[1].size());
                cpu::conv2d_backward(dx.data(), dw.data(), dy.data(), in[0].data(), in[1].data(),
                                     g);
                return std::vector<Vec>{dx, dw};
            });
        W.set_requires_grad(true);
        X.set_requires_grad(true);
        check_accumulation({&W, &X}, [&] { return ops::conv2d(X, W, t.stride, t.pad); });
    }
    CHECK_THROWS_WITH_AS(conv_geometry({1, 5, 5, 3}, {4, 3, 3, 2}, 1, 1),
                         "conv2d: input [1, 5, 5, 3] has 3 channels but weight [4, 3, 3, 2] expects 2",
                         Error);
}

TEST_CASE("conv2d by Winograd F(2x2, 3x3): gradient check in double, float op against direct") {
    struct Case {
        std::int64_t n, h, w, c, o, pad;
    };
    // pad 1 (ResNet-50), pad 0 and 2 (dx then runs with pad 2 and 0), odd sizes (partial tiles).
    const Case cases[] = {{2, 5, 6, 3, 4, 1}, {1, 6, 7, 2, 3, 0}, {2, 4, 3, 3, 2, 2},
                          {1, 3, 3, 4, 5, 1}};
    Rng rng(15);
    for (const Case& t : cases) {
        CAPTURE(t.pad);
        const ConvGeometry g = conv_geometry({t.n, t.h, t.w, t.c}, {t.o, 3, 3, t.c}, 1, t.pad);
        const Vec x = random_vec(t.n * t.h * t.w * t.c, rng), w = random_vec(t.o * 9 * t.c, rng);
        check_gradients(
            "winograd conv2d", {x, w},
            [&](const std::vector<Vec>& in) {
                Vec y(t.n * g.oh * g.ow * t.o);
                cpu::winograd_forward(y.data(), in[0].data(), in[1].data(), g);
                return y;
            },
            [&](const std::vector<Vec>& in, const Vec& dy) {
                Vec dx(in[0].size()), dw(in[1].size());
                cpu::winograd_backward(dx.data(), dw.data(), dy.data(), in[0].data(),
                                       in[1].data(), g);
                return std::vector<Vec>{dx, dw};
            });
        // The float op under --conv winograd against the direct reference in double.
        const cpu::ConvAlgorithmScope winograd(cpu::ConvAlgorithm::winograd);
        Vec expected(t.n * g.oh * g.ow * t.o);
        cpu::conv2d_forward(expected.data(), x.data(), w.data(), g);
        Tensor X = tensor_from({t.n, t.h, t.w, t.c}, x), W = tensor_from({t.o, 3, 3, t.c}, w);
        check_close("winograd conv2d forward", to_double(ops::conv2d(X, W, 1, t.pad)), expected,
                    kForwardTolerance);
        W.set_requires_grad(true);
        X.set_requires_grad(true);
        check_accumulation({&W, &X}, [&] { return ops::conv2d(X, W, 1, t.pad); });
    }
}

TEST_CASE("results do not depend on the thread count beyond rounding") {
    Rng rng(11);
    const Vec x = random_vec(4 * 10 * 10 * 8, rng), w = random_vec(16 * 3 * 3 * 8, rng);
    const Tensor X = tensor_from({4, 10, 10, 8}, x), W = tensor_from({16, 3, 3, 8}, w);
    set_num_threads(1);
    const Vec one = to_double(ops::conv2d(X, W, 1, 1));
    set_num_threads(2);
    const Vec two = to_double(ops::conv2d(X, W, 1, 1));
    check_close("conv2d 1 vs 2 threads", two, one, 1e-6);
}
