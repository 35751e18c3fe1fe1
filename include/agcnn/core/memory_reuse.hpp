// agcnn/core/memory_reuse.hpp — keep freed CPU memory in the process for the next step.
//
// A training or inference step allocates its activations afresh and frees them at the end. Given
// back to the kernel, every step would fault in (and the kernel zero) hundreds of MB again: about
// a third of the process's system time and several % of a ResNet-50 step on this project's
// machine (docs/benchmarks.md). Two parts keep that memory:
//
// - Large blocks (kLargeBlock bytes and more: the activations and their gradients) are mapped on
//   their own (mmap; transparent huge pages asked for from 2 MiB) and kept on free, by exact
//   size, in every program (the CLI and embeddings alike: the bound below makes it safe). A step allocates the same sizes every time, so most
//   of the next step's blocks are kept ones. On a miss (no kept block of that size), the oldest
//   kept blocks are unmapped until the live and the kept blocks, the new one counted, are no
//   more than 1.25x the most ever live at once (kept_limit): the large blocks' footprint is
//   bounded by the live set's peak, whatever the order of the sizes. (Kept in malloc's heap instead, fragmentation made it
//   2290-2440 MB for a training step whose live peak is 1725 MB, varying with the command line.)
// - Everything else stays in malloc's heap, which keep_freed_memory() (called by every CLI
//   command; an embedding keeps malloc's own policy) tells never to map blocks on their own and
//   never to trim.
//
// Thread-safe. Systems without mmap use malloc for all blocks.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "agcnn/core/error.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace agcnn {

namespace memory_detail {

#if defined(__unix__)
inline constexpr bool kMapsLargeBlocks = true;
#else
inline constexpr bool kMapsLargeBlocks = false;
#endif

// The large blocks: those kept for reuse ((mapped size, address), oldest freed first) and the
// byte counts, in mapped sizes.
struct LargeBlocks {
    std::mutex mutex;
    std::vector<std::pair<std::size_t, void*>> blocks;
    std::size_t kept = 0;  // the sum of blocks' sizes
    std::size_t live = 0;  // allocated and not yet released
    std::size_t peak = 0;  // the most ever live at once
};

// Never destroyed: a static tensor's storage may be freed after every other static.
inline LargeBlocks& large_blocks() {
    static auto* blocks = new LargeBlocks;
    return *blocks;
}

// The most that live and kept blocks together may hold: the live peak and a quarter more. Without
// the quarter, a small network's step (the demo's) missed about 38 times and ran 15% slower;
// with it, misses stop after the first steps.
inline std::size_t kept_limit(std::size_t peak) { return peak + peak / 4; }

#if defined(__unix__)
inline std::size_t mapped_size(std::size_t bytes) {
    static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return (bytes + page - 1) / page * page;
}
#endif

}  // namespace memory_detail

// Blocks of this many bytes and more are large blocks (above).
inline constexpr std::size_t kLargeBlock = std::size_t{256} << 10;

inline bool is_large_block(std::size_t bytes) {
    return memory_detail::kMapsLargeBlocks && bytes >= kLargeBlock;
}

// A large block of at least `bytes` (is_large_block(bytes)), page-aligned: a kept one of the same
// mapped size if there is one, else a new mapping. Throws agcnn::Error when out of memory.
inline void* allocate_large_block(std::size_t bytes) {
#if defined(__unix__)
    using namespace memory_detail;
    const std::size_t size = mapped_size(bytes);
    LargeBlocks& state = large_blocks();
    {
        std::lock_guard lock(state.mutex);
        auto& blocks = state.blocks;
        state.live += size;
        state.peak = std::max(state.peak, state.live);
        for (auto it = blocks.rbegin(); it != blocks.rend(); ++it)
            if (it->first == size) {
                void* block = it->second;
                state.kept -= size;
                blocks.erase(std::next(it).base());
                return block;
            }
        std::size_t oldest = 0;
        for (; oldest < blocks.size() && state.live + state.kept > kept_limit(state.peak);
             ++oldest) {
            munmap(blocks[oldest].second, blocks[oldest].first);
            state.kept -= blocks[oldest].first;
        }
        blocks.erase(blocks.begin(), blocks.begin() + static_cast<std::ptrdiff_t>(oldest));
    }
    void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) {
        std::lock_guard lock(state.mutex);
        state.live -= size;
        throw Error(detail::concat("out of memory allocating ", bytes, " bytes"));
    }
    if (size >= (std::size_t{2} << 20)) madvise(block, size, MADV_HUGEPAGE);
    return block;
#else
    (void)bytes;
    throw Error("allocate_large_block: no large blocks on this system");
#endif
}

// Gives back a block of allocate_large_block(bytes), kept for reuse.
inline void release_large_block(void* block, std::size_t bytes) {
#if defined(__unix__)
    using namespace memory_detail;
    const std::size_t size = mapped_size(bytes);
    LargeBlocks& state = large_blocks();
    std::lock_guard lock(state.mutex);
    state.live -= size;
    state.blocks.emplace_back(size, block);
    state.kept += size;
#else
    (void)block;
    (void)bytes;
#endif
}

// From now on, keep the small blocks' freed memory in malloc's heap too (above). Called once by
// every command.
inline void keep_freed_memory() {
#if defined(__GLIBC__)
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

// The large blocks' byte counts now, in mapped sizes (for tests and diagnostics).
struct LargeBlockBytes {
    std::size_t live = 0, kept = 0, peak = 0;
};
inline LargeBlockBytes large_block_bytes() {
    auto& state = memory_detail::large_blocks();
    std::lock_guard lock(state.mutex);
    return {state.live, state.kept, state.peak};
}

}  // namespace agcnn
