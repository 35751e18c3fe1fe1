// The CPU fast path against the plain reference: cpu::sgemm (every kernel set this CPU has, and
// the Eigen fallback) against a double-precision product, and the float conv2d fast path against
// the templated im2col + Eigen reference run in double.
//
// Tolerances: a float32 dot product of k terms has a rounding error of at most about k * 6e-8
// times sum |a_i b_i| (usually sqrt(k) * 6e-8); with k <= 1200 we allow 1e-5 * sum |a_i b_i|
// per element for sgemm, and 1e-5 relative to the largest output for the conv (the same
// 1e-5 the op tests use for the float forward). Results must not depend on the thread count
// (bit-identical with 1, 2 and 4 threads). Winograd F(2x2, 3x3) (ops/cpu/winograd.hpp) is held to
// the same 1e-5 against the same double reference, and must be bit-identical for 1, 2 and 3
// threads. The forward convolution that reads its patches in place (ops/cpu/conv_in_place.hpp)
// must give im2col + sgemm's bits exactly.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
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
                                      {30, 600, 40}, {25, 8, 300}, {40, 24, 70}};
    for (const auto& s : shapes)
        for (int flags = 0; flags < 8; ++flags)
            cases.push_back({s[0], s[1], s[2], bool(flags & 1), bool(flags & 2), bool(flags & 4)});
    return cases;
}

}  // namespace

TEST_CASE("sgemm: every kernel set of this CPU matches double sums, all strides and edges") {
    const auto sets = cpu::gemm_detail::available_kernels();
    MESSAGE("kernel sets on this CPU: ", sets.size());
    // kernels_for: the widest tile for wide products (n a multiple of 64 or large), a narrower
    // one for few columns.
    if (!sets.empty()) {
        CHECK(cpu::gemm_detail::kernels_for(1000).nr == cpu::gemm_detail::kernels().nr);
        CHECK(cpu::gemm_detail::kernels_for(64).nr == cpu::gemm_detail::kernels().nr);
        CHECK(cpu::gemm_detail::kernels_for(8).nr < cpu::gemm_detail::kernels().nr);
    }
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
    // Every tile shape and instruction set forms each element by the same FMA chain
    // (gemm_kernels.hpp), so kernels_for may pick any of them: the same bits from all.
    for (std::size_t s = 1; s + 1 < sets.size(); ++s) {
        INFO("tile ", sets[s].isa, " ", sets[s].mr, "x", sets[s].nr, " against ", sets[0].mr, "x", sets[0].nr);
        CHECK(one.first[s] == one.first[0]);
    }
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

TEST_CASE("CPU sharing: /proc/stat read per CPU") {
    const auto cpus = parse_proc_stat(
        "cpu  300 0 100 1600 20 10 10 6 0 0\n"
        "cpu0 100 0 50 800 10 5 5 3 0 0\n"
        "cpu1 200 0 50 800 10 5 5 3 0 0\n"
        "cpu7 10 1 2 30\n"  // an old kernel's four fields
        "intr 12345 1 2\nctxt 99\n");
    REQUIRE(cpus.size() == 3);
    CHECK(cpus.at(0).busy == 160);
    CHECK(cpus.at(0).total == 973);
    CHECK(cpus.at(1).busy == 260);
    CHECK(cpus.at(7).busy == 13);
    CHECK(cpus.at(7).total == 43);
    CHECK(parse_proc_stat("").empty());
    CHECK(parse_proc_stat("cpu0 x y\ncpu\n").empty());
}

TEST_CASE("CPU sharing: the team is kept on the CPUs the other processes leave, evenly, and spread when they go") {
    const std::vector<int> two = {0, 1};
    auto plan = [](const std::vector<int>& allowed, const std::vector<double>& busy, double ours,
                   const std::vector<int>& current, int threads, unsigned seed = 0) {
        return plan_cpu_sharing(allowed, busy, ours, current, threads, seed);
    };
    // Idle, or others under half a core: spread.
    CHECK(plan(two, {0.9, 0.9}, 1.8, {}, 2).cpus.empty());
    CHECK(plan(two, {1.0, 1.0}, 1.6, {}, 2).cpus.empty());
    // One competitor per core, our threads spread beside them (0.67 cores): both on one CPU.
    SharingPlan p = plan(two, {1.0, 1.0}, 0.67, {}, 2);
    CHECK(p.cpus.size() == 1);
    CHECK(p.threads == 2);
    // Ties between equally busy CPUs go by the seed: two processes can pick different CPUs.
    CHECK(plan(two, {1.0, 1.0}, 0.67, {}, 2, 0).cpus != plan(two, {1.0, 1.0}, 0.67, {}, 2, 1).cpus);
    // The least busy CPU is kept.
    CHECK(plan(two, {1.0, 0.7}, 0.6, {}, 2).cpus == std::vector<int>{1});
    // Confined with the CPU to ourselves and the competitors on the other: stay.
    CHECK(plan(two, {1.0, 1.0}, 1.0, {1}, 2).cpus == std::vector<int>{1});
    // The others left (the other CPU idle): spread.
    CHECK(plan(two, {0.1, 1.0}, 1.0, {1}, 2).cpus.empty());
    // A competitor runs on our CPU (we got 0.6 of it, 0.67 when spread): spread again.
    p = plan_cpu_sharing(two, {1.0, 1.0}, 0.6, {0}, 2, 0, 0.67);
    CHECK(p.cpus.empty());
    CHECK(p.worse);
    // Confined did as well as spread, or no spread figure yet: stay.
    CHECK(plan_cpu_sharing(two, {1.0, 1.0}, 0.67, {0}, 2, 0, 0.67).cpus == std::vector<int>{0});
    CHECK(plan_cpu_sharing(two, {1.0, 1.0}, 0.6, {0}, 2, 0, -1).cpus == std::vector<int>{0});
    // While the caller backs off, a spread team stays spread.
    CHECK(plan_cpu_sharing(two, {1.0, 1.0}, 0.67, {}, 2, 0, 0.67, false).cpus.empty());
    // 16 CPUs, one competitor: 15 CPUs, 15 threads (16 would put two on one CPU and every
    // barrier would wait for it), the busiest CPU left out.
    std::vector<int> sixteen(16);
    for (int i = 0; i < 16; ++i) sixteen[i] = i;
    std::vector<double> busy(16, 0.94);
    busy[5] = 1.0;
    p = plan(sixteen, busy, 16 * 0.94 + 0.06 - 1.0, {}, 16);
    CHECK(p.cpus.size() == 15);
    CHECK(std::find(p.cpus.begin(), p.cpus.end(), 5) == p.cpus.end());
    CHECK(p.threads == 15);
    // 16 CPUs, others on 8 cores' worth: 8 CPUs, two threads on each.
    p = plan(sixteen, std::vector<double>(16, 1.0), 8.0, {}, 16);
    CHECK(p.cpus.size() == 8);
    CHECK(p.threads == 16);
    // Three threads asked on two CPUs left: two (a multiple of the CPUs, not more than asked).
    std::vector<int> four = {0, 1, 2, 3};
    p = plan(four, {1, 1, 1, 1}, 2.0, {}, 3);
    CHECK(p.cpus.size() == 2);
    CHECK(p.threads == 2);
    // One thread, one CPU, or a busy list that does not match: nothing to do.
    CHECK(plan(two, {1.0, 1.0}, 0.5, {}, 1).cpus.empty());
    CHECK(plan({0}, {1.0}, 0.5, {}, 2).cpus.empty());
    CHECK(plan(two, {1.0}, 0.5, {}, 2).cpus.empty());
}

namespace {

// Runs fill(out) on 1, 2 and 3 threads, each time into a buffer of NaNs the size of `expected`,
// and checks that it wrote expected's bits; the default thread count is restored after.
template <class Fill>
void check_bits_on_any_thread_count(const std::vector<float>& expected, Fill fill) {
    for (int threads : {1, 2, 3}) {
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        std::vector<float> got(expected.size(), std::nanf(""));
        fill(got.data());
        INFO("threads ", threads);
        CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
    }
    set_num_threads(0);
}

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

TEST_CASE("conv2d in place: the bits of im2col + sgemm, with and without the epilogue, any thread count") {
    struct Case {
        Shape x, w;
        std::int64_t stride, pad;
    };
    const Case cases[] = {
        {{2, 37, 41, 3}, {8, 7, 7, 3}, 2, 3},      // the demo's stem: border rows and columns
        {{1, 20, 20, 3}, {64, 7, 7, 3}, 2, 3},     // ResNet-50's stem
        {{2, 9, 12, 16}, {24, 3, 3, 16}, 2, 1},    // strided 3x3
        {{2, 7, 7, 32}, {64, 1, 1, 32}, 2, 0},     // strided 1x1: no border at all
        {{2, 6, 9, 5}, {70, 3, 3, 5}, 1, 1},       // 3x3, odd channel counts, two panels
        {{1, 8, 7, 16}, {20, 5, 5, 16}, 1, 0},     // K = 400: two GEMM blocks of kDepth
        {{1, 11, 10, 40}, {12, 3, 3, 40}, 3, 2},   // K = 360, a stride of 3
        {{3, 2, 2, 6}, {9, 3, 3, 6}, 1, 1},        // no window inside the image
    };
    Rng rng(17);
    for (const Case& t : cases) {
        const ConvGeometry g = conv_geometry(t.x, t.w, t.stride, t.pad);
        INFO("x ", shape_str(t.x), " w ", shape_str(t.w), " stride ", t.stride, " pad ", t.pad);
        if (cpu::gemm_detail::kernels().mr == 0) break;  // not x86: the column matrix only
        const std::int64_t rows = g.n * g.oh * g.ow;
        const std::vector<float> x = random_floats(shape_numel(t.x), rng),
                                 w = random_floats(shape_numel(t.w), rng),
                                 scale = random_floats(g.o, rng), shift = random_floats(g.o, rng),
                                 residual = random_floats(rows * g.o, rng);
        std::vector<float> cols(rows * g.k());
        cpu::im2col(cols.data(), x.data(), g.n, g);
        const cpu::Epilogue epilogue{scale.data(), shift.data(), residual.data(), g.o, true};
        for (const cpu::Epilogue* e : {static_cast<const cpu::Epilogue*>(nullptr), &epilogue}) {
            std::vector<float> expected(rows * g.o);
            cpu::sgemm(rows, g.o, g.k(), {cols.data(), g.k(), 1}, {w.data(), 1, g.k()},
                       expected.data(), g.o, false, e);
            INFO("epilogue ", e != nullptr);
            check_bits_on_any_thread_count(expected, [&](float* y) {
                cpu::conv2d_forward_in_place(y, x.data(), w.data(), g, e);
            });
        }
    }
    // Where conv2d_forward_fast takes it (x86): the demo's stem and ResNet-50's, not the 7- and
    // 14-pixel rows of layers 3 and 4 with their 2.4 MB of filters, never a 1x1 stride-1.
    const bool x86 = cpu::gemm_detail::kernels().mr != 0;
    CHECK(cpu::conv_in_place_applies(conv_geometry({16, 128, 128, 3}, {8, 7, 7, 3}, 2, 3)) == x86);
    CHECK(cpu::conv_in_place_applies(conv_geometry({1, 224, 224, 3}, {64, 7, 7, 3}, 2, 3)) == x86);
    CHECK_FALSE(cpu::conv_in_place_applies(conv_geometry({1, 14, 14, 512}, {512, 3, 3, 512}, 2, 1)));
    CHECK_FALSE(cpu::conv_in_place_applies(conv_geometry({1, 7, 7, 512}, {512, 3, 3, 512}, 1, 1)));
    CHECK_FALSE(cpu::conv_in_place_applies(conv_geometry({1, 56, 56, 64}, {64, 1, 1, 64}, 1, 0)));
}

TEST_CASE("conv2d in place: the transposed weight gradient has the column matrix's bits, any thread count") {
    struct Case {
        Shape x, w;
        std::int64_t stride, pad;
    };
    const Case cases[] = {
        {{2, 32, 32, 3}, {8, 7, 7, 3}, 2, 3},     // the demo's stem (16 x 16 outputs: one block an image)
        {{3, 16, 32, 8}, {8, 3, 3, 8}, 1, 1},     // the demo's first stage, two blocks an image
        {{2, 32, 32, 16}, {16, 3, 3, 16}, 2, 1},  // strided 3x3
        {{1, 16, 16, 6}, {70, 5, 5, 6}, 1, 2},    // two panels of columns, KW*C = 30 rows a tile row
    };
    Rng rng(19);
    for (const Case& t : cases) {
        const ConvGeometry g = conv_geometry(t.x, t.w, t.stride, t.pad);
        INFO("x ", shape_str(t.x), " w ", shape_str(t.w), " stride ", t.stride, " pad ", t.pad);
        REQUIRE((g.oh * g.ow) % cpu::gemm_detail::kDepth == 0);
        if (!cpu::weight_gradient_in_place_applies(g)) break;  // not x86: the column matrix only
        const std::int64_t rows = g.n * g.oh * g.ow, k = g.k();
        const std::vector<float> x = random_floats(shape_numel(t.x), rng),
                                 dy = random_floats(rows * g.o, rng);
        std::vector<float> cols(rows * k), expected(k * g.o);
        cpu::im2col(cols.data(), x.data(), g.n, g);
        cpu::sgemm(k, g.o, rows, {cols.data(), 1, k}, {dy.data(), g.o, 1}, expected.data(), g.o, false);
        check_bits_on_any_thread_count(expected, [&](float* got) {
            cpu::weight_gradient_in_place(got, dy.data(), x.data(), g);
        });
    }
    // Not where a block of kDepth pixels would span two images.
    CHECK_FALSE(cpu::weight_gradient_in_place_applies(conv_geometry({2, 14, 14, 8}, {8, 3, 3, 8}, 1, 1)));
}

TEST_CASE("conv2d in place: the input gradient has the bits of sgemm + col2im, any thread count") {
    struct Case {
        Shape x, w;
        std::int64_t stride, pad;
    };
    const Case cases[] = {
        {{2, 16, 16, 8}, {8, 3, 3, 8}, 1, 1},       // the demo's first stage
        {{2, 9, 7, 16}, {24, 3, 3, 16}, 2, 1},      // strided 3x3, odd sizes
        {{2, 8, 8, 32}, {64, 1, 1, 32}, 2, 0},      // a downsampling 1x1
        {{1, 20, 18, 3}, {8, 7, 7, 3}, 2, 3},       // a stem: taps past both edges (correct,
                                                    // though not used: slower at 3 channels)
        {{1, 6, 11, 70}, {256, 5, 5, 70}, 1, 2},    // O = kDepth; two panels of columns
        {{3, 5, 5, 6}, {5, 3, 3, 6}, 3, 0},         // stride 3, no padding: pixels no tap reaches
    };
    Rng rng(23);
    for (const Case& t : cases) {
        const ConvGeometry g = conv_geometry(t.x, t.w, t.stride, t.pad);
        INFO("x ", shape_str(t.x), " w ", shape_str(t.w), " stride ", t.stride, " pad ", t.pad);
        if (cpu::gemm_detail::kernels().mr == 0) break;  // not x86: the column matrix only
        const std::int64_t rows = g.n * g.oh * g.ow, k = g.k();
        const std::vector<float> w = random_floats(shape_numel(t.w), rng),
                                 dy = random_floats(rows * g.o, rng);
        std::vector<float> cols(rows * k), expected(shape_numel(t.x));
        cpu::sgemm(rows, k, g.o, {dy.data(), g.o, 1}, {w.data(), k, 1}, cols.data(), k, false);
        cpu::col2im(expected.data(), cols.data(), g.n, g);
        check_bits_on_any_thread_count(expected, [&](float* got) {
            cpu::input_gradient_in_place(got, dy.data(), w.data(), g);
        });
    }
    // Not where the sum over the outputs would be two blocks of the column GEMM.
    CHECK_FALSE(cpu::input_gradient_in_place_applies(conv_geometry({1, 8, 8, 8}, {257, 3, 3, 8}, 1, 1)));
    CHECK_FALSE(cpu::input_gradient_in_place_applies(conv_geometry({1, 8, 8, 8}, {8, 1, 1, 8}, 1, 0)));
    CHECK_FALSE(cpu::input_gradient_in_place_applies(conv_geometry({1, 32, 32, 3}, {8, 7, 7, 3}, 2, 3)));
}

TEST_CASE("winograd: forward, dx and dw against the double-precision reference; any thread count") {
    struct Case {
        Shape x, w;
        std::int64_t pad;
    };
    const Case cases[] = {
        {{2, 6, 5, 16}, {33, 3, 3, 16}, 1},    // odd output width: a half-empty column of tiles
        {{1, 7, 7, 8}, {5, 3, 3, 8}, 0},       // no padding, 5x5 output
        {{2, 5, 6, 3}, {4, 3, 3, 3}, 2},       // pad 2: dx with pad 0
        {{1, 1, 1, 2}, {3, 3, 3, 2}, 1},       // one pixel
        {{3, 22, 22, 256}, {256, 3, 3, 256}, 1},  // two chunks of tiles
    };
    {
        const cpu::winograd_detail::Tiling s = cpu::winograd_detail::forward_tiling(
            conv_geometry(cases[4].x, cases[4].w, 1, cases[4].pad));
        CHECK(s.chunk() < s.tiles());  // the last case does cross a chunk boundary
    }
    Rng rng(12);
    for (const Case& t : cases) {
        const ConvGeometry g = conv_geometry(t.x, t.w, 1, t.pad);
        REQUIRE(cpu::winograd_applies(g));
        const std::vector<float> x = random_floats(shape_numel(t.x), rng),
                                 w = random_floats(shape_numel(t.w), rng),
                                 dy = random_floats(g.n * g.oh * g.ow * g.o, rng);
        std::vector<float> y[3], dx[3], dw[3];
        for (int threads = 1; threads <= 3; ++threads) {
            set_num_threads(threads);
            std::vector<float>& yt = y[threads - 1];
            std::vector<float>& dxt = dx[threads - 1];
            std::vector<float>& dwt = dw[threads - 1];
            // NaN first: a value the kernels forget to write cannot pass.
            yt.assign(dy.size(), NAN), dxt.assign(x.size(), NAN), dwt.assign(w.size(), NAN);
            cpu::winograd_forward(yt.data(), x.data(), w.data(), g);
            cpu::winograd_backward(dxt.data(), dwt.data(), dy.data(), x.data(), w.data(), g);
        }
        set_num_threads(2);
        const std::vector<double> xd = widen(x), wd = widen(w), dyd = widen(dy);
        std::vector<double> yd(dy.size()), dxd(x.size()), dwd(w.size());
        cpu::conv2d_forward<double>(yd.data(), xd.data(), wd.data(), g);
        cpu::conv2d_backward<double>(dxd.data(), dwd.data(), dyd.data(), xd.data(), wd.data(), g);
        INFO("x ", shape_str(t.x), " w ", shape_str(t.w), " pad ", t.pad, ": errors ",
             relative_error(y[0], yd), " ", relative_error(dx[0], dxd), " ",
             relative_error(dw[0], dwd));
        CHECK(relative_error(y[0], yd) <= 1e-5);
        CHECK(relative_error(dx[0], dxd) <= 1e-5);
        CHECK(relative_error(dw[0], dwd) <= 1e-5);
        for (int i = 1; i < 3; ++i) {
            CHECK(y[i] == y[0]);
            CHECK(dx[i] == dx[0]);
            CHECK(dw[i] == dw[0]);
        }
    }
}

TEST_CASE("winograd: the epilogue gives the same floats as the convolution followed by it") {
    Rng rng(13);
    const ConvGeometry g = conv_geometry({2, 9, 7, 24}, {40, 3, 3, 24}, 1, 1);
    const std::vector<float> x = random_floats(shape_numel({2, 9, 7, 24}), rng),
                             w = random_floats(40 * 9 * 24, rng),
                             scale = random_floats(40, rng), shift = random_floats(40, rng),
                             residual = random_floats(g.n * g.oh * g.ow * g.o, rng);
    std::vector<float> fused(residual.size()), apart(residual.size());
    const cpu::Epilogue epilogue{scale.data(), shift.data(), residual.data(), g.o, true};
    cpu::winograd_forward(fused.data(), x.data(), w.data(), g, &epilogue);
    cpu::winograd_forward(apart.data(), x.data(), w.data(), g);
    cpu::gemm_detail::apply_epilogue(epilogue, apart.data(), g.o, 0, g.n * g.oh * g.ow, 0, g.o);
    CHECK(fused == apart);
}

TEST_CASE("conv algorithm choice: --conv names, the fast path's dispatch, auto's model") {
    CHECK(cpu::parse_conv_algorithm("direct") == cpu::ConvAlgorithm::direct);
    CHECK(cpu::parse_conv_algorithm("winograd") == cpu::ConvAlgorithm::winograd);
    CHECK(cpu::parse_conv_algorithm("auto") == cpu::ConvAlgorithm::automatic);
    CHECK_THROWS_WITH_AS(cpu::parse_conv_algorithm("fft"),
                         "--conv: expected direct, winograd or auto, got 'fft'", Error);
    const ConvGeometry strided = conv_geometry({1, 8, 8, 64}, {64, 3, 3, 64}, 2, 1);
    const ConvGeometry pointwise = conv_geometry({1, 8, 8, 64}, {64, 1, 1, 64}, 1, 0);
    const ConvGeometry layer1 = conv_geometry({8, 56, 56, 64}, {64, 3, 3, 64}, 1, 1);
    const ConvGeometry layer4_batch1 = conv_geometry({1, 7, 7, 512}, {512, 3, 3, 512}, 1, 1);
    {
        const cpu::ConvAlgorithmScope winograd(cpu::ConvAlgorithm::winograd);
        CHECK_FALSE(cpu::use_winograd(strided, cpu::ConvPass::forward));
        CHECK_FALSE(cpu::use_winograd(pointwise, cpu::ConvPass::forward));
        CHECK(cpu::use_winograd(layer4_batch1, cpu::ConvPass::forward));
    }
    {
        const cpu::ConvAlgorithmScope direct(cpu::ConvAlgorithm::direct);
        CHECK_FALSE(cpu::use_winograd(layer1, cpu::ConvPass::forward));
    }
    // auto (measured, docs/benchmarks.md): Winograd for layer 1 at batch 8, direct for layer 4
    // at batch 1, where the filter transform outweighs the saved products; but Winograd there
    // for inference, whose filters are transformed once.
    CHECK(cpu::conv_algorithm() == cpu::ConvAlgorithm::automatic);
    for (cpu::ConvPass pass : {cpu::ConvPass::forward, cpu::ConvPass::input_gradient,
                               cpu::ConvPass::weight_gradient}) {
        CHECK(cpu::use_winograd(layer1, pass));
        CHECK_FALSE(cpu::use_winograd(layer4_batch1, pass));
    }
    CHECK(cpu::use_winograd(layer1, cpu::ConvPass::inference));
    CHECK(cpu::use_winograd(layer4_batch1, cpu::ConvPass::inference));
    // Under --conv winograd the float fast path is Winograd: the same floats as calling it.
    Rng rng(14);
    const ConvGeometry g = conv_geometry({2, 6, 6, 8}, {8, 3, 3, 8}, 1, 1);
    const std::vector<float> x = random_floats(2 * 36 * 8, rng), w = random_floats(8 * 9 * 8, rng),
                             dy = random_floats(2 * 36 * 8, rng);
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), y2 = y, dx2 = dx, dw2 = dw;
    {
        const cpu::ConvAlgorithmScope winograd(cpu::ConvAlgorithm::winograd);
        cpu::conv2d_forward_fast(y.data(), x.data(), w.data(), g);
        cpu::conv2d_backward_fast(dx.data(), dw.data(), dy.data(), x.data(), w.data(), g);
    }
    cpu::winograd_forward(y2.data(), x.data(), w.data(), g);
    cpu::winograd_backward(dx2.data(), dw2.data(), dy.data(), x.data(), w.data(), g);
    CHECK(y == y2);
    CHECK(dx == dx2);
    CHECK(dw == dw2);
}

TEST_CASE("sgemm with B prepacked: sgemm's bits, every kernel set, row and column slices, any thread count") {
    Rng rng(19);
    // Row slices (m >= n), column slices (m < n) with n past kWidth and not a whole panel, two
    // and three blocks of kDepth, B stored either way.
    const std::array<std::int64_t, 3> shapes[] = {{200, 64, 600}, {7, 530, 300}, {13, 48, 40}, {100, 100, 257}};
    for (const auto& set : cpu::gemm_detail::available_kernels())
        for (const auto& [m, n, k] : shapes)
            for (int flags = 0; flags < 4; ++flags) {
                const bool b_transposed = flags & 1, with_epilogue = flags & 2;
                const std::vector<float> a = random_floats(m * k, rng), b = random_floats(k * n, rng),
                                         scale = random_floats(n, rng), shift = random_floats(n, rng),
                                         residual = random_floats(m * n, rng);
                const cpu::StridedMatrix B{b.data(), b_transposed ? 1 : n, b_transposed ? k : 1};
                const cpu::Epilogue epilogue{scale.data(), shift.data(), residual.data(), n, true};
                const cpu::Epilogue* e = with_epilogue ? &epilogue : nullptr;
                std::vector<float> expected(m * n);
                cpu::gemm_detail::sgemm_with(set, m, n, k, {a.data(), k, 1}, B, expected.data(), n, false, e);
                std::vector<float> packed(cpu::gemm_detail::packed_size(set, k, n));
                cpu::gemm_detail::pack_all(set, k, n, B, packed.data());
                const cpu::gemm_detail::PackedB prepacked{packed.data(), n};
                INFO("tile ", set.mr, "x", set.nr, " m=", m, " n=", n, " k=", k, " b_t=", b_transposed,
                     " epilogue ", with_epilogue);
                check_bits_on_any_thread_count(expected, [&](float* c) {
                    cpu::gemm_detail::sgemm_with(set, m, n, k, {a.data(), k, 1}, {nullptr, 0, 0}, c, n,
                                                 false, e, &prepacked);
                });
            }
}

#if AGCNN_X86_KERNELS
TEST_CASE("epilogue: the AVX-512 and AVX2 versions give the portable loop's bits (NaN, -0, tails)") {
    Rng rng(23);
    const std::int64_t rows = 3, ldc = 40;
    std::vector<float> c0 = random_floats(rows * ldc, rng), scale = random_floats(ldc, rng),
                       shift = random_floats(ldc, rng), residual = random_floats(rows * ldc, rng);
    c0[1] = -0.0f, c0[2] = std::nanf(""), c0[45] = -std::numeric_limits<float>::infinity();
    residual[5] = -0.0f, scale[3] = 0.0f, shift[3] = -0.0f;  // c[3] = -0 after the affine step
    using Vector = void (*)(const cpu::Epilogue&, float*, std::int64_t, std::int64_t, std::int64_t);
    std::vector<std::pair<const char*, Vector>> versions;
    if (__builtin_cpu_supports("avx512f")) versions.emplace_back("AVX-512", &cpu::gemm_kernels::epilogue_avx512);
    if (__builtin_cpu_supports("avx2")) versions.emplace_back("AVX2", &cpu::gemm_kernels::epilogue_avx2);
    for (const auto& [name, vector] : versions)
        for (std::int64_t cols : {1, 7, 8, 15, 16, 17, 33, 40})
            for (int flags = 0; flags < 8; ++flags) {
                const bool affine = flags & 1, with_residual = flags & 2, relu = flags & 4;
                const cpu::Epilogue e{affine ? scale.data() : nullptr, affine ? shift.data() : nullptr,
                                      with_residual ? residual.data() : nullptr, ldc, relu};
                std::vector<float> expected = c0, got = c0;
                cpu::gemm_detail::apply_epilogue_portable(e, expected.data(), ldc, 0, rows, 0, cols);
                vector(e, got.data(), ldc, rows, cols);
                INFO(name, " cols ", cols, " affine ", affine, " residual ", with_residual, " relu ", relu);
                CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
            }
}
#endif

TEST_CASE("packed filters: conv2d_affine's bits inside a PackedFiltersScope; a new filter is packed anew") {
    struct Case {
        Shape x, w;
        std::int64_t stride, pad;
        cpu::ConvAlgorithm algorithm;
    };
    const Case cases[] = {
        {{2, 7, 7, 64}, {96, 1, 1, 64}, 1, 0, cpu::ConvAlgorithm::automatic},   // pointwise
        {{1, 14, 14, 32}, {80, 3, 3, 32}, 2, 1, cpu::ConvAlgorithm::automatic}, // column matrix
        {{1, 34, 34, 8}, {16, 3, 3, 8}, 2, 1, cpu::ConvAlgorithm::automatic},   // in place
        {{1, 40, 40, 3}, {64, 7, 7, 3}, 2, 3, cpu::ConvAlgorithm::automatic},   // a stem, in place
        {{2, 10, 9, 16}, {24, 3, 3, 16}, 1, 1, cpu::ConvAlgorithm::winograd},   // Winograd
        {{2, 10, 9, 16}, {24, 3, 3, 16}, 1, 1, cpu::ConvAlgorithm::direct},     // the same, direct
    };
    Rng rng(29);
    for (const Case& t : cases) {
        INFO("x ", shape_str(t.x), " w ", shape_str(t.w), " stride ", t.stride, " algorithm ", int(t.algorithm));
        cpu::ConvAlgorithmScope algorithm(t.algorithm);
        const ConvGeometry g = conv_geometry(t.x, t.w, t.stride, t.pad);
        const Tensor x = Tensor::from_vector(t.x, random_floats(shape_numel(t.x), rng));
        const Tensor scale = Tensor::from_vector({g.o}, random_floats(g.o, rng));
        const Tensor shift = Tensor::from_vector({g.o}, random_floats(g.o, rng));
        const Tensor residual = Tensor::from_vector({g.n, g.oh, g.ow, g.o}, random_floats(g.n * g.oh * g.ow * g.o, rng));
        cpu::PackedFilters store;
        for (int filter = 0; filter < 3; ++filter) {  // each a new tensor, maybe at a freed one's address
            const Tensor w = Tensor::from_vector(t.w, random_floats(shape_numel(t.w), rng));
            const std::vector<float> expected = ops::conv2d_affine(x, w, t.stride, t.pad, scale, shift, residual, true).to_vector();
            for (int call = 0; call < 2; ++call) {  // the first packs, the second reuses
                std::vector<float> got;
                {
                    cpu::PackedFiltersScope scope(store);
                    got = ops::conv2d_affine(x, w, t.stride, t.pad, scale, shift, residual, true).to_vector();
                }
                INFO("filter ", filter, " call ", call);
                CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
            }
        }
        CHECK((store.floats() > 0) == (cpu::gemm_detail::kernels().mr != 0));
        CHECK(cpu::active_packed_filters() == nullptr);  // the scopes restored it
    }
}
