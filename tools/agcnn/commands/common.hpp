// Shared helpers of the agcnn commands: --threads, --conv, --device and the precision flags, thread
// set-up, and NCHW <-> NHWC conversion of .npy data.
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "agcnn/agcnn.hpp"
#include "agcnn/core/layout.hpp"
#include "agcnn/backend/device_select.hpp"
#include "agcnn/core/memory_reuse.hpp"
#include "agcnn/train/interrupt.hpp"

namespace agcnn::cli {

// Adds --threads to a command, 0..max_threads() (core/threads.hpp); the value is applied by
// apply_threads().
inline void add_threads_option(CLI::App* command, int& threads) {
    command->add_option("--threads", threads, "CPU threads (default: all cores)")
        ->check(CLI::Validator(
            [](const std::string& text) {
                long long n = 0;
                return CLI::detail::lexical_cast(text, n) ? thread_count_problem(n) : text + " is not a whole number";
            },
            "0.." + std::to_string(max_threads())));
}

// Adds --conv direct|winograd|auto (ops/cpu/winograd_choice.hpp), applied as it is parsed; not
// given, the process keeps auto.
inline void add_conv_option(CLI::App* command) {
    command
        ->add_option_function<std::string>(
            "--conv",
            [](const std::string& name) {
                cpu::set_conv_algorithm(cpu::parse_conv_algorithm(name));
            },
            "CPU 3x3 stride-1 convolutions: direct (im2col + GEMM), winograd (F(2x2,3x3)), or "
            "auto (Winograd where it is predicted faster; default)")
        ->check(CLI::IsMember({"direct", "winograd", "auto"}));
}

// A seed or count: a whole number >= 0 (CLI11's NonNegativeNumber would print the double range,
// 309 digits, and an unsigned option would otherwise take -1 as 2^64 - 1).
inline CLI::Validator non_negative_whole() {
    return CLI::Validator(
        [](const std::string& text) {
            std::uint64_t n = 0;
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (error == std::errc::result_out_of_range) return text + " is more than 2^64 - 1";
            return error == std::errc() && end == text.data() + text.size() ? std::string()
                                                                             : text + " is not a whole number >= 0";
        },
        "N >= 0");
}

// --device, --tf32, --bf16: what select_device() takes (backend/device_select.hpp).
struct DeviceArgs {
    std::string device = "cpu";
    bool tf32 = false, bf16 = false;
    std::string precision() const { return bf16 ? "bf16" : tf32 ? "tf32" : "fp32"; }
};

inline void add_device_options(CLI::App* command, DeviceArgs& args) {
    command->add_option("--device", args.device, "cpu | cuda | cuda:N")->capture_default_str();
    CLI::Option* tf32 = command->add_flag(
        "--tf32", args.tf32, "CUDA: TF32 tensor-core convolutions and matrix products (~1e-3)");
    command->add_flag("--bf16", args.bf16,
                      "CUDA: bf16 convolutions and matrix products, FP32 weights (~1e-2)")
        ->excludes(tf32);
}

// The exit code of a run stopped by a signal after its checkpoint: 128 + the signal, as a shell
// reports it (130 for Ctrl-C, 143 for SIGTERM); 130 when the stop had no signal.
inline int stopped_exit_code() {
    const int signal = train::stop_signal();
    return 128 + (signal ? signal : SIGINT);
}

// Every command calls this first: thread count, denormal flushing, and freed memory kept for
// reuse by the next step (core/memory_reuse.hpp). A count above the cores this process may use
// is capped there, with a line on stderr that says so.
inline void apply_threads(int threads) {
    set_num_threads(threads);
    keep_freed_memory();
    const int asked = threads_asked(threads);
    if (asked > core_count())
        std::cerr << "agcnn: " << asked << " threads asked (" << (threads > 0 ? "--threads" : "OMP_NUM_THREADS")
                  << "), this process may use " << core_count() << " cores: running " << core_count()
                  << " threads (more would wait for each other at every step)\n";
}

// [N, C, H, W] values (PyTorch's layout) -> NHWC tensor [N, H, W, C].
inline Tensor nchw_to_nhwc(const std::vector<float>& values, const Shape& nchw) {
    return Tensor::from_vector(channels_last_shape(nchw), to_channels_last(values, nchw));
}

}  // namespace agcnn::cli
