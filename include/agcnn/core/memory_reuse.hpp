// agcnn/core/memory_reuse.hpp — keep freed CPU memory in the process for the next step.
//
// A training or inference step allocates its activations afresh and frees them at the end.
// glibc serves blocks above its mmap threshold (at most 32 MB) with mmap and gives them back
// on free, so every step faults in (and zeroes, in the kernel) hundreds of MB again: about a
// third of the process's system time and several % of a ResNet-50 step on this project's
// machine (docs/benchmarks.md). keep_freed_memory() makes malloc serve every block from its
// heap and never trim it, so the next step reuses the same pages. The peak resident memory
// stays about the same (the heap holds what one step used at once plus fragmentation: +3%
// measured for a ResNet-50 training step at batch 4).
#pragma once

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace agcnn {

inline void keep_freed_memory() {
#if defined(__GLIBC__)
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

}  // namespace agcnn
