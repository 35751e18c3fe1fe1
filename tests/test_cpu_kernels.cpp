// The CPU fast path against the plain reference: cpu::sgemm (every kernel set this CPU has, and
// the Eigen fallback) against a double-precision product, and the float conv2d fast path against
// the templated im2col + Eigen reference run in double.
//
// Tolerances: a float32 dot product of k terms has a rounding error of at most about k * 6e-8
// times sum |a_i b_i| (usually sqrt(k) * 6e-8); with k <= 1200 we allow 1e-5 * sum |a_i b_i|
// per element for sgemm, and 1e-5 relative to the largest output for the conv (the same
// 1e-5 the op tests use for the float forward). Results must not depend on the thread count
// (bit-identical with 1, 2 and 4 threads).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "agcnn/agcnn.hpp"
#include "temp_files.hpp"

using namespace agcnn;

namespace {

std::vector<float> random_floats(std::size_t n, Rng& rng) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.uniform(-1.0, 1.0));
    return v;
}

struct GemmCase {
    std::int64_t m, n, k;
    bool a_transposed, b_transposed, accumulate;
};

// Runs `gemm` on a case and checks it against double sums, element by element.
template <class Gemm>
void check_gemm(const GemmCase& t, Rng& rng, Gemm gemm) {
    const std::vector<float> a = random_floats(t.m * t.k, rng), b = random_floats(t.k * t.n, rng);
    std::vector<float> c = random_floats(t.m * t.n, rng);
    const std::vector<float> c0 = c;
    // A stored [m, k] or, transposed, [k, m]; B stored [k, n] or [n, k].
    const cpu::StridedMatrix A{a.data(), t.a_transposed ? 1 : t.k, t.a_transposed ? t.m : 1};
    const cpu::StridedMatrix B{b.data(), t.b_transposed ? 1 : t.n, t.b_transposed ? t.k : 1};
    gemm(t.m, t.n, t.k, A, B, c.data(), t.n, t.accumulate);
    double worst = 0.0;
    for (std::int64_t i = 0; i < t.m; ++i)
        for (std::int64_t j = 0; j < t.n; ++j) {
            double sum = t.accumulate ? c0[i * t.n + j] : 0.0, magnitude = std::abs(sum);
            for (std::int64_t p = 0; p < t.k; ++p) {
                const double term = double(A.data[i * A.row_stride + p * A.col_stride]) *
                                    B.data[p * B.row_stride + j * B.col_stride];
                sum += term;
                magnitude += std::abs(term);
            }
            worst = std::max(worst, std::abs(c[i * t.n + j] - sum) / (magnitude + 1e-30));
        }
    INFO("m=", t.m, " n=", t.n, " k=", t.k, " a_t=", t.a_transposed, " b_t=", t.b_transposed,
         " accumulate=", t.accumulate, " worst relative error ", worst);
    CHECK(worst <= 1e-5);
}

std::vector<GemmCase> gemm_cases() {
    std::vector<GemmCase> cases;
    const std::int64_t shapes[][3] = {{1, 1, 1},   {5, 17, 3},    {6, 64, 256}, {7, 65, 257},
                                      {13, 130, 600}, {49, 64, 576}, {64, 147, 1200},
                                      {30, 600, 40}};
    for (const auto& s : shapes)
        for (int flags = 0; flags < 8; ++flags)
            cases.push_back({s[0], s[1], s[2], bool(flags & 1), bool(flags & 2), bool(flags & 4)});
    return cases;
}

}  // namespace

TEST_CASE("sgemm: every kernel set of this CPU matches double sums, all strides and edges") {
    const auto sets = cpu::gemm_detail::available_kernels();
    MESSAGE("kernel sets on this CPU: ", sets.size());
    Rng rng(7);
    for (const auto& set : sets)
        for (const GemmCase& t : gemm_cases())
            check_gemm(t, rng, [&](auto... args) { cpu::gemm_detail::sgemm_with(set, args...); });
}

TEST_CASE("sgemm: the Eigen fallback matches double sums") {
    Rng rng(8);
    for (const GemmCase& t : gemm_cases())
        check_gemm(t, rng, [](auto... args) { cpu::gemm_detail::eigen_sgemm(args...); });
}

TEST_CASE("sgemm epilogue: scale, shift, residual and ReLU on the finished product") {
    std::vector<cpu::gemm_detail::KernelSet> sets = cpu::gemm_detail::available_kernels();
    sets.push_back({});  // the Eigen fallback
    Rng rng(10);
    // k = 600 spans three packed blocks: the epilogue must run once, after the last.
    for (const auto& set : sets)
        for (const auto& [m, n, k] : {std::array<std::int64_t, 3>{7, 65, 600}, {13, 130, 40}})
            for (int flags = 0; flags < 8; ++flags) {
                const bool affine = flags & 1, with_residual = flags & 2, relu = flags & 4;
                const std::vector<float> a = random_floats(m * k, rng), b = random_floats(k * n, rng),
                                         scale = random_floats(n, rng), shift = random_floats(n, rng),
                                         residual = random_floats(m * n, rng);
                std::vector<float> c(m * n);
                const cpu::Epilogue e{affine ? scale.data() : nullptr,
                                      affine ? shift.data() : nullptr,
                                      with_residual ? residual.data() : nullptr, n, relu};
                cpu::gemm_detail::sgemm_with(set, m, n, k, {a.data(), k, 1}, {b.data(), n, 1},
                                             c.data(), n, false, &e);
                double worst = 0.0;
                for (std::int64_t i = 0; i < m; ++i)
                    for (std::int64_t j = 0; j < n; ++j) {
                        double sum = 0.0, magnitude = 0.0;
                        for (std::int64_t p = 0; p < k; ++p) {
                            sum += double(a[i * k + p]) * b[p * n + j];
                            magnitude += std::abs(double(a[i * k + p]) * b[p * n + j]);
                        }
                        if (affine) {
                            sum = sum * scale[j] + shift[j];
                            magnitude = magnitude * std::abs(scale[j]) + std::abs(shift[j]);
                        }
                        if (with_residual) {
                            sum += residual[i * n + j];
                            magnitude += std::abs(residual[i * n + j]);
                        }
                        if (relu) sum = std::max(sum, 0.0);
                        worst = std::max(worst, std::abs(c[i * n + j] - sum) / (magnitude + 1e-30));
                    }
                INFO("kernel rows ", set.mr, " m=", m, " n=", n, " k=", k, " affine ", affine,
                     " residual ", with_residual, " relu ", relu, ": worst ", worst);
                CHECK(worst <= 1e-5);
            }
}

TEST_CASE("sgemm and batch-norm sums: the result does not depend on the thread count") {
    // 1, 2 and 4 threads (4 set through OpenMP directly: set_num_threads caps the count at the
    // cores, and this machine may have 2), every kernel set and the Eigen fallback, whose
    // parallel product would otherwise size its blocks by the thread count.
    Rng rng(9);
    const std::int64_t m = 300, n = 200, k = 700;
    const std::vector<float> a = random_floats(m * k, rng), b = random_floats(k * n, rng);
    std::vector<cpu::gemm_detail::KernelSet> sets = cpu::gemm_detail::available_kernels();
    sets.push_back({});
    const std::int64_t rows = 4099, c = 48;  // channel_sums: more than one chunk, a ragged end
    const std::vector<float> x = random_floats(rows * c, rng);
    auto run = [&](int threads) {
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        std::vector<std::vector<float>> out;
        for (const auto& set : sets) {
            out.emplace_back(m * n);
            cpu::gemm_detail::sgemm_with(set, m, n, k, {a.data(), k, 1}, {b.data(), 1, k}, out.back().data(), n,
                                         false);
        }
        std::vector<double> s1, s2;
        cpu::channel_sums<float>(s1, s2, rows, c, [&](std::int64_t i, std::int64_t, float& u, float& v) {
            u = x[i];
            v = x[i] * x[i];
        });
        std::vector<double> sums = s1;
        sums.insert(sums.end(), s2.begin(), s2.end());
        return std::make_pair(out, sums);
    };
    const auto one = run(1), two = run(2), four = run(4);
    set_num_threads(0);
    CHECK(one.first == two.first);
    CHECK(one.first == four.first);
    CHECK(std::memcmp(one.second.data(), two.second.data(), one.second.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(one.second.data(), four.second.data(), one.second.size() * sizeof(double)) == 0);
}

TEST_CASE("the default thread count: a cgroup's CPU quota caps the cores (v2 at any level, v1)") {
    testing::TempDir root("cgroup");
    auto write = [&](const std::string& name, const std::string& text) {
        std::filesystem::create_directories(std::filesystem::path(root.file(name)).parent_path());
        testing::write_text(root.file(name), text);
    };
    CHECK(cgroup_cpu_quota("0::/a/b\n", root.path.string()) == 0);  // no files: no quota
    write("a/b/cpu.max", "max 100000\n");
    CHECK(cgroup_cpu_quota("0::/a/b\n", root.path.string()) == 0);
    write("a/cpu.max", "250000 100000\n");  // 2.5 cores at the parent: 3 threads
    CHECK(cgroup_cpu_quota("0::/a/b\n", root.path.string()) == 3);
    write("cpu.max", "150000 100000\n");  // the root's, and a container's own group
    CHECK(cgroup_cpu_quota("0::/a/b\n", root.path.string()) == 2);
    CHECK(cgroup_cpu_quota("0::/\n", root.path.string()) == 2);
    write("cpu,cpuacct/job/cpu.cfs_quota_us", "50000\n");  // v1: half a core is one thread
    write("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
    CHECK(cgroup_cpu_quota("4:cpu,cpuacct:/job\n1:memory:/x\n", root.path.string()) == 1);
    write("cpu/cpu.cfs_quota_us", "-1\n");
    write("cpu/cpu.cfs_period_us", "100000\n");
    CHECK(cgroup_cpu_quota("3:cpu:/elsewhere\n", root.path.string()) == 0);
    CHECK(core_count() >= 1);
    CHECK(threads_for(1000) == core_count());  // never more threads than cores
    CHECK(threads_for(1) == 1);
}

namespace {

double max_abs(const std::vector<double>& v) {
    double m = 0.0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

// Largest |fast - reference| relative to the largest |reference|.
double relative_error(const std::vector<float>& fast, const std::vector<double>& reference) {
    double worst = 0.0;
    for (std::size_t i = 0; i < fast.size(); ++i)
        worst = std::max(worst, std::abs(fast[i] - reference[i]));
    return worst / std::max(max_abs(reference), 1e-30);
}

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("conv2d fast path matches the double-precision reference, forward and backward") {
    struct Case {
        Shape x, w;
        std::int64_t stride, pad;
    };
    const Case cases[] = {
        {{2, 5, 6, 64}, {70, 1, 1, 64}, 1, 0},   // pointwise
        {{2, 7, 7, 32}, {64, 1, 1, 32}, 2, 0},   // strided 1x1 (downsample)
        {{2, 6, 5, 16}, {33, 3, 3, 16}, 1, 1},   // 3x3
        {{3, 9, 9, 24}, {40, 3, 3, 24}, 2, 1},   // strided 3x3
        {{1, 15, 13, 3}, {64, 7, 7, 3}, 2, 3},   // the stem
        // The weight gradient formed transposed (cpu::weight_gradient_transposed), 3x3 with the
        // column matrix built in three chunks, and 1x1:
        {{3, 48, 48, 64}, {16, 3, 3, 64}, 1, 1},
        {{2, 24, 24, 96}, {32, 1, 1, 96}, 1, 0},
    };
    {  // those two cases do reach the paths they are here for
        const ConvGeometry chunked = conv_geometry({3, 48, 48, 64}, {16, 3, 3, 64}, 1, 1);
        CHECK(cpu::images_per_chunk(chunked) == 1);
        CHECK(cpu::weight_gradient_transposed(48 * 48, chunked.k(), chunked.o));
        CHECK(cpu::weight_gradient_transposed(2 * 24 * 24, 96, 32));
    }
    Rng rng(11);
    for (const Case& t : cases) {
        const ConvGeometry g = conv_geometry(t.x, t.w, t.stride, t.pad);
        const std::vector<float> x = random_floats(shape_numel(t.x), rng),
                                 w = random_floats(shape_numel(t.w), rng),
                                 dy = random_floats(g.n * g.oh * g.ow * g.o, rng);
        std::vector<float> y(dy.size()), dx(x.size()), dw(w.size());
        cpu::conv2d_forward_fast(y.data(), x.data(), w.data(), g);
        cpu::conv2d_backward_fast(dx.data(), dw.data(), dy.data(), x.data(), w.data(), g);

        const std::vector<double> xd = widen(x), wd = widen(w), dyd = widen(dy);
        std::vector<double> yd(y.size()), dxd(x.size()), dwd(w.size());
        cpu::conv2d_forward<double>(yd.data(), xd.data(), wd.data(), g);
        cpu::conv2d_backward<double>(dxd.data(), dwd.data(), dyd.data(), xd.data(), wd.data(), g);
        INFO("x ", shape_str(t.x), " w ", shape_str(t.w), " stride ", t.stride);
        CHECK(relative_error(y, yd) <= 1e-5);
        CHECK(relative_error(dx, dxd) <= 1e-5);
        CHECK(relative_error(dw, dwd) <= 1e-5);
    }
}
