// agcnn/core/threads.hpp — thread count and floating-point mode for the CPU math.
//
// All CPU parallelism is OpenMP (our loops and Eigen's GEMM). Results do not depend on the
// thread count beyond rounding: parallel loops split over independent outputs, and reductions
// combine per-thread partial sums in a fixed order for a given thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "agcnn/core/error.hpp"

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

// More threads than this many per core only add switching, and OpenMP starts them all at the
// first parallel region (100,000 exhausted the process and crashed it).
constexpr int kMaxThreadsPerCore = 4;

// The cores this process may run on (at least 1).
inline int core_count() {
#ifdef _OPENMP
    return std::max(1, omp_get_num_procs());
#else
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
#endif
}

// The largest thread count accepted: kMaxThreadsPerCore x core_count().
inline int max_threads() { return kMaxThreadsPerCore * core_count(); }

// What is wrong with `n` as a thread count (0 = all cores), or "" when it is fine. Each place
// that takes a count puts its own name in front: "--threads: ...", "config.json: threads: ...".
inline std::string thread_count_problem(long long n) {
    if (n < 0) return std::to_string(n) + " is negative (0 = all cores)";
    if (n > max_threads())
        return std::to_string(n) + " is more than " + std::to_string(max_threads()) + ", the most this machine allows (" +
               std::to_string(kMaxThreadsPerCore) + " per core x " + std::to_string(core_count()) +
               " cores; 0 = all cores)";
    return "";
}

// Sets the thread count for our loops and Eigen's GEMMs (0 keeps the default); a count that
// thread_count_problem() refuses is an Error.
inline void set_num_threads(int n) {
    const std::string problem = thread_count_problem(n);
    AGCNN_CHECK(problem.empty(), "thread count ", problem);
    if (n > 0) {
#ifdef _OPENMP
        omp_set_num_threads(n);
#endif
        Eigen::setNbThreads(n);
    }
    flush_denormals();
}

}  // namespace agcnn
