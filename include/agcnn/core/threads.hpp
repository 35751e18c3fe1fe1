// agcnn/core/threads.hpp — thread count and floating-point mode for the CPU math.
//
// All CPU parallelism is OpenMP (our loops and Eigen's GEMM). Results do not depend on the
// thread count beyond rounding: parallel loops split over independent outputs, and reductions
// combine per-thread partial sums in a fixed order for a given thread count.
#pragma once

#include <cstdint>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace agcnn {

inline int num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Inside a parallel region: this thread's index and the region's thread count (0 and 1 outside
// one, or without OpenMP).
inline int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
inline int team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

// Denormal numbers (below 1.2e-38) take a slow microcode path on x86: a freshly initialised
// network in eval mode makes many and runs several times slower. Flush-to-zero and
// denormals-are-zero are set on the calling thread and every OpenMP worker.
inline void flush_denormals() {
#if defined(__SSE__)
    auto set_mode = [] { _mm_setcsr(_mm_getcsr() | 0x8040); };  // FTZ (bit 15) | DAZ (bit 6)
    set_mode();
#ifdef _OPENMP
#pragma omp parallel
    set_mode();
#endif
#endif
}

// Sets the thread count for our loops and Eigen's GEMMs (n <= 0 keeps the default).
inline void set_num_threads(int n) {
    if (n > 0) {
#ifdef _OPENMP
        omp_set_num_threads(n);
#endif
        Eigen::setNbThreads(n);
    }
    flush_denormals();
}

}  // namespace agcnn
