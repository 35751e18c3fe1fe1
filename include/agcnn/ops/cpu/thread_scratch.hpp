// agcnn/ops/cpu/thread_scratch.hpp — scratch memory of the CPU kernels, kept per thread.
//
// thread_scratch<T, Owner, Slots>(slot, count): this thread's buffer number `slot` (0 <= slot <
// Slots) of the kernel family Owner (a tag type, so that families never share a buffer), at
// least `count` values long. It is kept between calls and only ever grows: a buffer resized down
// and back up would zero-fill the regrown part on every call of alternating sizes (measured: 6%
// of a Winograd layer's time). Growing frees the old buffer first and copies nothing, so the
// contents are undefined after any call: every user writes what it reads. The memory stays
// until the thread ends (the OpenMP workers live as long as the process), like a BLAS's own
// packing buffers; it is peak memory, counted in the benchmarks' peak resident size.
// The buffer starts on a 64-byte boundary (a cache line, an AVX-512 register): std::vector's
// own storage is only 16-byte aligned, and the GEMM's packed panels read from it at an offset
// of 16 bytes split every 64-byte load across two cache lines.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::cpu {

template <class T, class Owner, int Slots = 1>
T* thread_scratch(int slot, std::int64_t count) {
    AGCNN_CHECK(slot >= 0 && slot < Slots && count >= 0, "thread_scratch: slot ", slot, " of ",
                Slots, ", ", count, " values");
    constexpr std::size_t kAlignment = 64, kSlack = (kAlignment + sizeof(T) - 1) / sizeof(T);
    thread_local std::vector<T> buffers[Slots];
    std::vector<T>& buffer = buffers[slot];
    if (buffer.size() < static_cast<std::size_t>(count) + kSlack) {
        buffer = std::vector<T>();
        buffer.resize(static_cast<std::size_t>(count) + kSlack);
    }
    void* start = buffer.data();
    std::size_t space = buffer.size() * sizeof(T);
    return static_cast<T*>(std::align(kAlignment, static_cast<std::size_t>(count) * sizeof(T), start, space));
}

}  // namespace agcnn::cpu
