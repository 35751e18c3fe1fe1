// kernels/allocator.cuh — the caching device allocator (one per device).
//
// cudaMalloc and cudaFree synchronise the device and cost tens of microseconds; a training step
// allocates the same few hundred sizes every time. Freed blocks are kept in a free list by
// rounded size and handed out again for a request of the same rounded size; all work on a
// device runs on its one stream (runtime.cuh), so a block is reusable as soon as it is freed.
// When cudaMalloc fails, every cached block is given back to CUDA and the allocation retried.
//
// Sizes are rounded up to 512 bytes, and to whole MiB above 1 MiB, so that batches of slightly
// different sizes share blocks. Thread-safe (one mutex).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

#include "kernels/check.cuh"

namespace agcnn::cuda {

class CachingAllocator {
public:
    explicit CachingAllocator(int device) : device_(device) {}

    static std::size_t round_size(std::size_t bytes) {
        constexpr std::size_t small = 512, large = std::size_t(1) << 20;
        const std::size_t unit = bytes > large ? large : small;
        return (bytes + unit - 1) / unit * unit;
    }

    // Needs `device` current.
    void* allocate(std::size_t bytes) {
        const std::size_t size = round_size(bytes == 0 ? 1 : bytes);
        std::lock_guard<std::mutex> lock(mutex_);
        if (auto it = free_.find(size); it != free_.end()) {
            void* pointer = it->second;
            free_.erase(it);
            in_use_.emplace(pointer, size);
            return pointer;
        }
        void* pointer = nullptr;
        if (cudaMalloc(&pointer, size) != cudaSuccess) {
            (void)cudaGetLastError();  // clear the sticky out-of-memory error, then retry
            release_cached();
            const cudaError_t status = cudaMalloc(&pointer, size);
            if (status != cudaSuccess)
                throw Error(agcnn::detail::concat("CUDA out of memory on cuda:", device_,
                                                  " allocating ", bytes, " bytes (",
                                                  in_use_bytes(), " bytes in use): ",
                                                  cudaGetErrorString(status)));
        }
        in_use_.emplace(pointer, size);
        return pointer;
    }

    void release(void* pointer) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = in_use_.find(pointer);
        if (it == in_use_.end()) return;  // not ours: never free memory we did not hand out
        free_.emplace(it->second, pointer);
        in_use_.erase(it);
    }

private:
    // Needs the lock held and `device` current.
    void release_cached() {
        AGCNN_CUDA_CHECK(cudaDeviceSynchronize());
        for (auto& [size, pointer] : free_) AGCNN_CUDA_CHECK(cudaFree(pointer));
        free_.clear();
    }

    std::size_t in_use_bytes() const {
        std::size_t total = 0;
        for (const auto& [pointer, size] : in_use_) total += size;
        return total;
    }

    int device_;
    std::mutex mutex_;
    std::multimap<std::size_t, void*> free_;          // rounded size -> block
    std::unordered_map<void*, std::size_t> in_use_;  // block -> rounded size
};

}  // namespace agcnn::cuda
