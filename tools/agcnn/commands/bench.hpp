// agcnn bench — CPU speed of ResNet-50 training and inference, and of its convolutions alone.
//
//   agcnn bench --model resnet50 --batch B --size S --threads T [--train|--infer]
//               [--steps K] [--warmup W] [--base-width W]
//     Runs W untimed steps, then K timed ones, and prints images/s (median, min, max),
//     achieved GFLOP/s (4.09 GMACs per image forward at 224, scaled by (S/224)^2; a training
//     step counts as three forwards; printed for the real base width 64 only: --base-width 8 is
//     the demo's network, whose FLOPs do not scale by one factor), the peak resident memory of
//     the process, and the time per op (profiler.hpp; backward closures as "<op>.backward";
//     on a GPU each op's device time, from K more steps with the device synchronised around
//     every op, so that the timed steps keep host and device overlapped). The last line is JSON.
//     Also the process's CPU time (user + system, all threads) per step: on a shared machine
//     wall time depends on the other processes' load, CPU time much less so;
//     "cpu_bound_images_per_s" = batch * threads / CPU seconds is the rate the step would have
//     with the cores to itself (an estimate: OpenMP threads waiting at a barrier also count).
//     Training step: forward (train mode), BCE-with-logits on random 0/1 targets, backward,
//     Adam step. Inference: eval mode, no autograd, batch-norm statistics calibrated on random
//     data first (a fresh network's mean 0 / variance 1 produces denormals and misleads); the
//     filters packed once as the Predictor does (ops/cpu/packed_filters.hpp; the warm-up packs
//     them), or on every call with --pack-each-call (what training does).
//   agcnn bench --convs --batch B --size S --threads T
//     Every distinct convolution of ResNet-50 (forward), timed against Eigen's SGEMM on the same
//     matrix sizes (rows = B*OH*OW, K = KH*KW*C, O), and the two halves of its backward pass
//     (dx, dw) alone; then the CPU's fused multiply-add peak measured on T threads (each runs
//     24 independent chains of AVX-512 or AVX2 FMAs), the yardstick for all of these rates;
//     last line JSON with the totals. Every pass runs under --conv (default auto). Before it, each 3x3
//     stride-1 convolution again under direct and Winograd alternately (same run, same inputs;
//     `repeats` pairs, medians): milliseconds of forward, dx and dw under each, what auto
//     picks for each pass, and the three passes summed over ResNet-50 under direct, Winograd
//     and auto.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/ops/cpu/gemm_kernels.hpp"  // AGCNN_X86_KERNELS
#if AGCNN_X86_KERNELS
#include <immintrin.h>
#endif

#include "commands/common.hpp"

namespace agcnn::cli {

struct BenchArgs {
    std::string model = "resnet50";
    std::int64_t batch = 8, size = 224, classes = 15, base_width = 64;
    int threads = 0, steps = 5, warmup = 2;
    bool train = false, infer = false, convs = false, pack_each_call = false;
    DeviceArgs device;
};

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// One train-mode pass (no autograd) from the initial running statistics (mean 0, variance 1),
// then each running estimate is solved for the batch statistic it was moved towards:
// r = (1 - m) r0 + m s  =>  s = (r - (1 - m) r0) / m.
inline void calibrate_batch_norm(nn::ResNet50& net, const Tensor& x) {
    constexpr double momentum = 0.1;  // nn::BatchNorm2d's
    net.train();
    {
        NoGradGuard no_grad;
        net.forward(x);
    }
    for (auto& entry : net.state()) {
        const bool is_mean = entry.name.ends_with("running_mean");
        if (!is_mean && !entry.name.ends_with("running_var")) continue;
        float* r = entry.tensor->data();
        const double initial = is_mean ? 0.0 : 1.0;
        for (std::int64_t i = 0; i < entry.tensor->numel(); ++i)
            r[i] = static_cast<float>((r[i] - (1.0 - momentum) * initial) / momentum);
    }
    net.eval();
}

inline double median_of(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

inline void print_summary(const std::vector<double>& images_per_s,
                          const std::vector<double>& cpu_bound_images_per_s,
                          double gflop_per_image, nlohmann::json& report) {
    std::vector<double> sorted = images_per_s;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const double cpu_bound = median_of(cpu_bound_images_per_s);
    std::printf("images/s: median %.2f  min %.2f  max %.2f\n", median, sorted.front(),
                sorted.back());
    if (gflop_per_image > 0) std::printf("GFLOP/s:  %.1f (median)\n", median * gflop_per_image);
    std::printf("CPU-bound estimate: %.2f images/s (batch * threads / CPU seconds)\n", cpu_bound);
    std::printf("peak RSS: %.0f MB\n", peak_rss_mb());
    report["cpu_bound_images_per_s"] = cpu_bound;
    report["images_per_s"] = {{"median", median}, {"min", sorted.front()}, {"max", sorted.back()}};
    if (gflop_per_image > 0) report["gflop_per_s"] = median * gflop_per_image;
    report["peak_rss_mb"] = peak_rss_mb();
}

inline void print_op_times(int steps, nlohmann::json& report) {
    std::vector<std::pair<std::string, profiler::Record>> ops(profiler::records().begin(),
                                                              profiler::records().end());
    std::sort(ops.begin(), ops.end(),
              [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double total = 0.0;
    for (const auto& [name, record] : ops) total += record.seconds;
    std::printf("%-28s %10s %8s %7s\n", "op", "ms/step", "calls", "share");
    for (const auto& [name, record] : ops) {
        std::printf("%-28s %10.2f %8lld %6.1f%%\n", name.c_str(), 1e3 * record.seconds / steps,
                    static_cast<long long>(record.calls / steps), 100.0 * record.seconds / total);
        report["ops_ms_per_step"][name] = 1e3 * record.seconds / steps;
    }
}

inline void run_network_bench(const BenchArgs& args) {
    const bool train = args.train || !args.infer;
    const Device device = select_device(args.device.device, args.device.precision());
    Rng rng(1);
    nn::ResNet50 net({args.classes, nn::GlobalPool::max, args.base_width, 0});
    const Tensor host_x = nn::normal_tensor({args.batch, args.size, args.size, 3}, 1.0, rng);
    if (!train) calibrate_batch_norm(net, host_x);  // on the CPU, before the move
    net.to(device);
    const Tensor x = host_x.to(device);
    Tensor host_targets = Tensor::empty({args.batch, args.classes});
    for (std::int64_t i = 0; i < host_targets.numel(); ++i)
        host_targets.data()[i] = rng.uniform() < 0.5 ? 0.0f : 1.0f;
    const Tensor targets = host_targets.to(device);
    std::unique_ptr<optim::Adam> adam;
    cpu::PackedFilters packed_filters;  // inference: the model's filters, packed once
    std::function<void()> step;
    if (train) {
        net.train();
        adam = std::make_unique<optim::Adam>(net.named_parameters(), optim::AdamOptions{});
        step = [&] {
            adam->zero_grad();
            backward(ops::bce_with_logits(net.forward(x), targets));
            adam->step();
        };
    } else {
        step = [&] {
            NoGradGuard no_grad;
            std::optional<cpu::PackedFiltersScope> scope;
            if (!args.pack_each_call) scope.emplace(packed_filters);
            net.forward(x);
        };
    }
    for (int i = 0; i < args.warmup; ++i) step();
    // On the CPU the op times come from the timed steps themselves. On a GPU an op's own time
    // needs the device synchronised around it (profiler.hpp), which would slow the timed steps:
    // those run unprofiled, and as many steps again give the op times.
    const bool ops_on_device = device.is_cuda();
    profiler::reset();
    profiler::enable(!ops_on_device);
    std::vector<double> images_per_s, cpu_bound_images_per_s;
    for (int i = 0; i < args.steps; ++i) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = process_cpu_seconds();
        step();
        synchronize(device);
        images_per_s.push_back(double(args.batch) / seconds_since(start));
        // num_threads() after the step: the CPU sharing may change it as a forward starts.
        cpu_bound_images_per_s.push_back(double(args.batch) * num_threads() /
                                         (process_cpu_seconds() - cpu_start));
    }
    if (ops_on_device) {
        profiler::set_synchronize([&] { synchronize(device); });
        profiler::enable();
        for (int i = 0; i < args.steps; ++i) step();
        profiler::set_synchronize(nullptr);
    }
    profiler::enable(false);
    const double scale = double(args.size * args.size) / (224.0 * 224.0);
    const double gflop_per_image = args.base_width == 64 ? 2 * 4.09 * scale * (train ? 3 : 1) : 0.0;
    std::printf("agcnn bench: resnet50 (base width %lld) %s, batch %lld, %lldx%lld, %d threads, %d steps, %s %s\n",
                static_cast<long long>(args.base_width), train ? "training step" : "inference",
                static_cast<long long>(args.batch),
                static_cast<long long>(args.size), static_cast<long long>(args.size),
                num_threads(), args.steps, device.str().c_str(), args.device.precision().c_str());
    nlohmann::json report = {{"model", args.model}, {"mode", train ? "train" : "infer"},
                             {"device", device.str()}, {"precision", args.device.precision()},
                              {"batch", args.batch}, {"size", args.size}, {"base_width", args.base_width},
                              {"threads", num_threads()}, {"steps", args.steps}};
    const CpuSharing& sharing = process_cpu_sharing();
    report["cpu_sharing"] = {{"on", cpu_sharing()}, {"cpus", sharing.cpus()}, {"changes", sharing.changes()}};
    if (cpu_sharing() && sharing.changes() > 0)
        std::printf("CPU sharing: other processes were busy on this process's CPUs: the threads moved %d "
                    "time(s), now on %s\n", sharing.changes(),
                    sharing.cpus().empty() ? "every CPU" : (std::to_string(sharing.cpus().size()) + " CPU(s)").c_str());
    if (!train) report["packed_filters_mb"] = double(packed_filters.floats()) * sizeof(float) / 1048576.0;
    if (ops_on_device)
        std::printf("op times: device time, each op synchronised, in %d steps of their own\n", args.steps);
    print_op_times(args.steps, report);
    print_summary(images_per_s, cpu_bound_images_per_s, gflop_per_image, report);
    std::printf("%s\n", report.dump().c_str());
}

// The convolutions of ResNet-50 of base width `base` (64: the real one) at batch n, size s:
// (geometry, how many times it occurs).
inline std::vector<std::pair<ConvGeometry, int>> resnet50_convs(std::int64_t n, std::int64_t s,
                                                                std::int64_t base) {
    std::vector<std::pair<ConvGeometry, int>> out;
    auto add = [&](std::int64_t h, std::int64_t c, std::int64_t o, std::int64_t k,
                   std::int64_t stride, int count) {
        out.emplace_back(conv_geometry({n, h, h, c}, {o, k, k, c}, stride, k / 2), count);
    };
    add(s, 3, base, 7, 2, 1);
    std::int64_t h = s / 4, in = base;
    const std::int64_t widths[] = {base, 2 * base, 4 * base, 8 * base};
    const int blocks[] = {3, 4, 6, 3};
    for (int layer = 0; layer < 4; ++layer) {
        const std::int64_t w = widths[layer], stride = layer == 0 ? 1 : 2;
        const std::int64_t oh = h / stride;
        add(h, in, w, 1, 1, 1);                // first block: conv1
        add(h, w, w, 3, stride, 1);            // conv2 (strided)
        add(oh, w, 4 * w, 1, 1, blocks[layer]);  // conv3 of every block
        add(h, in, 4 * w, 1, stride, 1);       // downsample
        add(oh, 4 * w, w, 1, 1, blocks[layer] - 1);
        add(oh, w, w, 3, 1, blocks[layer] - 1);
        h = oh;
        in = 4 * w;
    }
    return out;
}

struct Timing {
    double wall = 0, cpu = 0;  // seconds; cpu: the process's CPU time over all threads
};

// Medians of `repeats` timings of fn.
inline Timing median_timing(int repeats, const std::function<void()>& fn) {
    std::vector<double> wall, cpu;
    for (int i = 0; i < repeats; ++i) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = process_cpu_seconds();
        fn();
        wall.push_back(seconds_since(start));
        cpu.push_back(process_cpu_seconds() - cpu_start);
    }
    return {median_of(wall), median_of(cpu)};
}

#if AGCNN_X86_KERNELS
// FLOPs of `rounds` x 24 independent FMA chains of one vector width (2 FLOPs per lane). Written
// out once per width: each function carries its own target attribute, which neither a lambda nor
// a shared template inside it would inherit (the build is portable: no -march=native).
#define AGCNN_FMA_CHAINS(Vec, set1, fmadd, lanes)                                                  \
    Vec acc[24];                                                                                   \
    const Vec start = set1(1e-3f);                                                                 \
    Vec step = set1(0.999f);                                                                       \
    for (Vec& a : acc) a = start;                                                                  \
    for (long r = 0; r < rounds; ++r) {                                                            \
        _Pragma("GCC unroll 24") for (Vec& a : acc) a = fmadd(a, step, start);                     \
        __asm__ volatile("" : "+x"(step)); /* keeps the loop from being folded */                  \
    }                                                                                              \
    float lanes_out[sizeof(Vec) / sizeof(float)], total = 0;                                       \
    for (const Vec& a : acc) {                                                                     \
        std::memcpy(lanes_out, &a, sizeof lanes_out);                                              \
        for (float x : lanes_out) total += x;                                                      \
    }                                                                                              \
    if (total == 12345.0f) std::printf(" "); /* the result is used */                              \
    return 24.0 * 2.0 * (lanes) * double(rounds);

__attribute__((target("avx512f"))) inline double fma_flops_avx512(long rounds) {
    AGCNN_FMA_CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16)
}

__attribute__((target("avx2,fma"))) inline double fma_flops_avx2(long rounds) {
    AGCNN_FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8)
}
#undef AGCNN_FMA_CHAINS

// The fused multiply-add peak of this CPU on `threads` threads, GFLOP/s: each thread runs
// FMA chains for about 0.3 s on its own clock, and the rates are summed. 0 without AVX2.
inline double measure_fma_peak(int threads) {
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    std::vector<double> rates(static_cast<std::size_t>(threads), 0.0);
#pragma omp parallel num_threads(threads)
    {
        const int t = thread_index();
        const long rounds = 4000000;
        double flops = 0;
        const auto start = std::chrono::steady_clock::now();
        while (seconds_since(start) < 0.3)
            flops += avx512 ? fma_flops_avx512(rounds) : fma_flops_avx2(rounds);
        rates[static_cast<std::size_t>(t)] = flops / seconds_since(start) * 1e-9;
    }
    double total = 0;
    for (double r : rates) total += r;
    return total;
}
#else
inline double measure_fma_peak(int) { return 0; }  // the peak is measured with x86 vectors only
#endif

// The 3x3 stride-1 convolutions of ResNet-50 under direct and Winograd alternately; returns the
// totals for the JSON line.
inline nlohmann::json compare_conv_algorithms(const BenchArgs& args) {
    Rng rng(2);
    const cpu::ConvAlgorithm chosen = cpu::conv_algorithm();
    double total[3] = {0, 0, 0};  // ms of all 3x3 stride-1 passes: direct, winograd, auto
    std::printf("\n3x3 stride-1 convolutions, direct vs winograd alternately (ms, medians):\n");
    std::printf("%-26s %17s %17s %17s  %s\n", "conv (HxW C->O x count)", "forward d / w",
                "dx d / w", "dw d / w", "auto picks");
    for (const auto& [g, count] : resnet50_convs(args.batch, args.size, args.base_width)) {
        if (!cpu::winograd_applies(g)) continue;
        const Tensor x = nn::normal_tensor({g.n, g.h, g.w, g.c}, 1.0, rng);
        const Tensor w = nn::normal_tensor({g.o, g.kh, g.kw, g.c}, 1.0, rng);
        const Tensor dy = nn::normal_tensor({g.n, g.oh, g.ow, g.o}, 1.0, rng);
        Tensor y = Tensor::empty(dy.shape()), dx = Tensor::empty(x.shape()),
               dw = Tensor::empty(w.shape());
        const std::function<void()> passes[3] = {
            [&] { cpu::conv2d_forward_fast(y.data(), x.data(), w.data(), g); },
            [&] { cpu::conv2d_backward_fast(dx.data(), nullptr, dy.data(), x.data(), w.data(), g); },
            [&] { cpu::conv2d_backward_fast(nullptr, dw.data(), dy.data(), x.data(), w.data(), g); }};
        const cpu::ConvPass kinds[3] = {cpu::ConvPass::forward, cpu::ConvPass::input_gradient,
                                        cpu::ConvPass::weight_gradient};
        std::vector<double> ms[3][2];
        for (int r = 0; r < std::max(args.steps, 1) + 1; ++r)
            for (int pass = 0; pass < 3; ++pass)
                for (int a = 0; a < 2; ++a) {
                    cpu::set_conv_algorithm(a ? cpu::ConvAlgorithm::winograd : cpu::ConvAlgorithm::direct);
                    const auto start = std::chrono::steady_clock::now();
                    passes[pass]();
                    if (r > 0) ms[pass][a].push_back(seconds_since(start) * 1e3);  // r 0 warms up
                }
        cpu::set_conv_algorithm(chosen);
        char name[64], cells[3][32];
        std::string picks;
        for (int pass = 0; pass < 3; ++pass) {
            const double d = median_of(ms[pass][0]), wi = median_of(ms[pass][1]);
            std::snprintf(cells[pass], sizeof cells[pass], "%7.2f / %7.2f", d, wi);
            const bool winograd = cpu::use_winograd(g, kinds[pass]);
            picks += winograd ? " W" : " d";
            total[0] += d * count;
            total[1] += wi * count;
            total[2] += (winograd ? wi : d) * count;
        }
        std::snprintf(name, sizeof name, "%lldx%lld %lld->%lld x%d", static_cast<long long>(g.h),
                      static_cast<long long>(g.w), static_cast<long long>(g.c),
                      static_cast<long long>(g.o), count);
        std::printf("%-26s %17s %17s %17s %s\n", name, cells[0], cells[1], cells[2],
                    picks.c_str());
    }
    std::printf("all 3x3 stride-1 passes (forward + dx + dw): direct %.1f ms, winograd %.1f ms, "
                "auto %.1f ms\n", total[0], total[1], total[2]);
    return {{"direct_ms", total[0]}, {"winograd_ms", total[1]}, {"auto_ms", total[2]}};
}

inline void run_conv_bench(const BenchArgs& args) {
    Rng rng(1);
    Timing conv_total, gemm_total, dx_total, dw_total;
    double flop_total = 0;
    std::printf("%-26s %6s %6s %6s %9s %9s %6s %8s %8s %8s\n", "conv (HxW C->O k/s)", "rows", "K",
                "O", "conv GF/s", "sgemm GF/s", "ratio", "dx GF/s", "dw GF/s", "ms all");
    for (const auto& [g, count] : resnet50_convs(args.batch, args.size, args.base_width)) {
        const std::int64_t rows = g.n * g.oh * g.ow, k = g.k();
        const Tensor x = nn::normal_tensor({g.n, g.h, g.w, g.c}, 1.0, rng);
        const Tensor w = nn::normal_tensor({g.o, g.kh, g.kw, g.c}, 1.0, rng);
        const Tensor cols = nn::normal_tensor({rows, k}, 1.0, rng);
        Tensor y = Tensor::empty({rows, g.o});
        Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
        const int repeats = std::max(args.steps, 1) + 1;
        const Timing conv = median_timing(repeats, [&] {
            cpu::conv2d_forward_fast(y.data(), x.data(), w.data(), g);
        });
        const Timing gemm = median_timing(repeats, [&] {
            cpu::gemm_detail::eigen_sgemm(rows, g.o, k, {cols.data(), k, 1}, {w.data(), 1, k}, y.data(), g.o, false);
        });
        // The two halves of the backward pass, y standing in for dy.
        const Timing back_x = median_timing(repeats, [&] {
            cpu::conv2d_backward_fast(dx.data(), nullptr, y.data(), x.data(), w.data(), g);
        });
        const Timing back_w = median_timing(repeats, [&] {
            cpu::conv2d_backward_fast(nullptr, dw.data(), y.data(), x.data(), w.data(), g);
        });
        dx_total.wall += back_x.wall * count;
        dw_total.wall += back_w.wall * count;
        const double flop = 2.0 * double(rows) * double(k) * double(g.o);
        conv_total.wall += conv.wall * count;
        conv_total.cpu += conv.cpu * count;
        gemm_total.wall += gemm.wall * count;
        gemm_total.cpu += gemm.cpu * count;
        flop_total += flop * count;
        char name[64];
        std::snprintf(name, sizeof name, "%lldx%lld %lld->%lld %lld/%lld x%d",
                      static_cast<long long>(g.h), static_cast<long long>(g.w),
                      static_cast<long long>(g.c), static_cast<long long>(g.o),
                      static_cast<long long>(g.kh), static_cast<long long>(g.stride), count);
        // ms all: forward, dx and dw of every occurrence (a training step's time in this shape)
        std::printf("%-26s %6lld %6lld %6lld %9.1f %9.1f %5.0f%% %8.1f %8.1f %8.2f\n", name,
                    static_cast<long long>(rows), static_cast<long long>(k),
                    static_cast<long long>(g.o), flop / conv.wall * 1e-9, flop / gemm.wall * 1e-9,
                    100.0 * gemm.wall / conv.wall, flop / back_x.wall * 1e-9,
                    flop / back_w.wall * 1e-9, 1e3 * (conv.wall + back_x.wall + back_w.wall) * count);
    }
    const double conv_rate = flop_total / conv_total.wall * 1e-9;
    const double gemm_rate = flop_total / gemm_total.wall * 1e-9;
    const double cpu_ratio = gemm_total.cpu / conv_total.cpu;
    std::printf("all convolutions: %.1f GFLOP/s; Eigen SGEMM on the same sizes: %.1f GFLOP/s "
                "(%.0f%%); by CPU time: %.0f%%\n", conv_rate, gemm_rate,
                100.0 * conv_rate / gemm_rate, 100.0 * cpu_ratio);
    const double dx_rate = flop_total / dx_total.wall * 1e-9;
    const double dw_rate = flop_total / dw_total.wall * 1e-9;
    std::printf("backward: dx %.1f GFLOP/s, dw %.1f GFLOP/s\n", dx_rate, dw_rate);
    const double peak = measure_fma_peak(num_threads());
    if (peak > 0)
        std::printf("FMA peak of this CPU on %d threads: %.1f GFLOP/s; convolutions at %.0f%% of "
                    "it (forward), %.0f%% (dx), %.0f%% (dw)\n", num_threads(), peak,
                    100.0 * conv_rate / peak, 100.0 * dx_rate / peak, 100.0 * dw_rate / peak);
    else
        std::printf("FMA peak: not measured (this CPU has neither AVX-512 nor AVX2 + FMA)\n");
    const nlohmann::json algorithms = compare_conv_algorithms(args);
    const nlohmann::json report = {{"mode", "convs"}, {"batch", args.batch}, {"size", args.size},
                                   {"threads", num_threads()}, {"conv_gflop_per_s", conv_rate},
                                   {"sgemm_gflop_per_s", gemm_rate},
                                   {"conv_vs_sgemm", conv_rate / gemm_rate},
                                   {"conv_vs_sgemm_cpu_time", cpu_ratio},
                                   {"backward_dx_gflop_per_s", dx_rate},
                                   {"backward_dw_gflop_per_s", dw_rate},
                                   {"fma_peak_gflop_per_s", peak},
                                   {"conv3x3_stride1_passes", algorithms}};
    std::printf("%s\n", report.dump().c_str());
}

inline void add_bench_command(CLI::App& app) {
    auto args = std::make_shared<BenchArgs>();
    CLI::App* bench = app.add_subcommand("bench", "CPU speed of ResNet-50 (images/s, GFLOP/s, "
                                                  "memory, time per op)");
    bench->add_option("--model", args->model, "architecture (resnet50)")
        ->check(CLI::IsMember({"resnet50"}));
    bench->add_option("--batch", args->batch, "images per step")->check(CLI::PositiveNumber);
    bench->add_option("--size", args->size, "image height and width")->check(CLI::Range(32, 4096));
    bench->add_option("--steps", args->steps, "timed steps")->check(CLI::PositiveNumber);
    bench->add_option("--warmup", args->warmup, "untimed steps first")->check(CLI::Range(0, 1000000));
    bench->add_option("--base-width", args->base_width, "ResNet-50 base width (64 = the real one; the demo's is 8)")
        ->check(CLI::Range(1, 64));
    auto* train = bench->add_flag("--train", args->train, "time a training step (default)");
    bench->add_flag("--infer", args->infer, "time inference")->excludes(train);
    bench->add_flag("--pack-each-call", args->pack_each_call,
                    "inference: pack the filters on every forward pass instead of once")
        ->needs(bench->get_option("--infer"));
    bench->add_flag("--convs", args->convs,
                    "time each convolution alone against Eigen's SGEMM on its matrix sizes");
    add_threads_option(bench, args->threads);
    add_conv_option(bench);
    add_device_options(bench, args->device);
    bench->callback([args] {
        apply_threads(args->threads);
        if (args->convs)
            run_conv_bench(*args);
        else
            run_network_bench(*args);
    });
}

}  // namespace agcnn::cli
