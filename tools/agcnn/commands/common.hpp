// Shared helpers of the agcnn commands: thread set-up and NCHW <-> NHWC conversion of .npy data.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "agcnn/agcnn.hpp"
#include "agcnn/core/memory_reuse.hpp"

namespace agcnn::cli {

// Adds --threads to a command; the value is applied by apply_threads().
inline void add_threads_option(CLI::App* command, int& threads) {
    command->add_option("--threads", threads, "CPU threads (default: all cores)")
        ->check(CLI::NonNegativeNumber);
}

// Every command calls this first: thread count, denormal flushing, and freed memory kept for
// reuse by the next step (core/memory_reuse.hpp).
inline void apply_threads(int threads) {
    set_num_threads(threads);
    keep_freed_memory();
}

// [N, C, H, W] values (PyTorch's layout) -> NHWC tensor [N, H, W, C].
inline Tensor nchw_to_nhwc(const std::vector<float>& values, const Shape& nchw) {
    const std::int64_t n = nchw[0], c = nchw[1], h = nchw[2], w = nchw[3];
    Tensor out = Tensor::empty({n, h, w, c});
    float* dst = out.data();
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t y = 0; y < h; ++y)
                for (std::int64_t x = 0; x < w; ++x)
                    dst[((i * h + y) * w + x) * c + ch] = values[((i * c + ch) * h + y) * w + x];
    return out;
}

}  // namespace agcnn::cli
