// agcnn/core/threads.hpp — thread count, fixed-order parallel reductions, floating-point mode.
//
// All CPU parallelism is OpenMP (our loops and GEMM kernels). Results are bitwise the same for
// any thread count (DESIGN.md, Determinism): parallel loops split over independent outputs,
// each output formed by one thread in a fixed order, and reductions sum fixed-size chunks
// (for_each_chunk) whose partial sums are combined in chunk order; the chunks depend on the
// problem's shape, never on the thread count.
// Eigen never runs a product on several threads (EIGEN_DONT_PARALLELIZE, set here before Eigen
// is included): its parallel GEMM sizes its blocks by the thread count, so its sums change with
// it (measured: an 8 x 15 x 2048 product differs between 1 and 2 threads).
//
// Thread count: by default the cores this process may use (its CPU affinity mask, capped by a
// cgroup CPU quota), not the machine's; a larger count asked for is capped there, since more
// threads than cores only wait for each other (an OpenMP barrier waits for the slowest thread).
#pragma once

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <Eigen/Core>
#if defined(EIGEN_HAS_OPENMP)
#error "agcnn: <Eigen/Core> was included before agcnn/core/threads.hpp without EIGEN_DONT_PARALLELIZE: Eigen's multi-threaded products change their sums with the thread count"
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#if defined(__linux__)
#include <sched.h>
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

// Runs body(chunk, begin, end) for every chunk [chunk * size, min(count, (chunk + 1) * size))
// of [0, count), the chunks spread over the threads when `parallel`. A reduction gives each
// chunk its own partial result and combines them in chunk order afterwards: the same sums,
// in the same order, for any thread count.
template <class Body>
void for_each_chunk(std::int64_t count, std::int64_t size, bool parallel, Body body) {
    const std::int64_t chunks = (count + size - 1) / size;
#pragma omp parallel for schedule(static) if (parallel && chunks > 1)
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk)
        body(chunk, chunk * size, std::min(count, (chunk + 1) * size));
}

// Inside a parallel region: this thread's index (0 outside one, or without OpenMP).
inline int thread_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
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

namespace thread_detail {

inline std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// The whole text of `path` ("" when it cannot be read): small kernel files such as /proc/stat.
inline std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Cores allowed by a quota of `quota` microseconds per `period` (rounded up), or 0 for none.
inline int quota_cores(double quota, double period) {
    if (!(quota > 0) || !(period > 0)) return 0;
    return std::max(1, static_cast<int>(std::ceil(quota / period - 1e-9)));
}

}  // namespace thread_detail

// The CPU quota of this process's cgroup as a core count (0: none), read from
// `proc_self_cgroup` (the text of /proc/self/cgroup) and the cgroup mounts under `root`
// (/sys/fs/cgroup): v2 cpu.max ("max 100000" or "200000 100000") at every level from the
// process's group up to the root, v1 cpu.cfs_quota_us / cpu.cfs_period_us (-1: none) in the cpu
// controller's group. Inside a container the group's path may not exist under the mount, which is
// then the group itself. The smallest quota found wins.
inline int cgroup_cpu_quota(const std::string& proc_self_cgroup, const std::string& root) {
    int cores = 0;
    auto take = [&](int c) {
        if (c > 0) cores = cores == 0 ? c : std::min(cores, c);
    };
    std::istringstream lines(proc_self_cgroup);
    for (std::string line; std::getline(lines, line);) {
        const std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (controllers.empty()) {  // v2: "0::/path"
            for (std::string dir = path;;) {
                std::istringstream max(thread_detail::first_line(root + dir + "/cpu.max"));
                std::string quota;
                double period = 0;
                if (max >> quota >> period && quota != "max")
                    take(thread_detail::quota_cores(std::atof(quota.c_str()), period));
                const std::size_t slash = dir.rfind('/');
                if (dir.empty() || slash == std::string::npos) break;
                dir.resize(slash);  // the parent group ("" is the root)
            }
            continue;
        }
        if (("," + controllers + ",").find(",cpu,") == std::string::npos) continue;
        for (const std::string& mount : {root + "/cpu", root + "/cpu,cpuacct", root + "/cpuacct,cpu"})
            for (const std::string& dir : {mount + path, mount}) {
                const std::string quota = thread_detail::first_line(dir + "/cpu.cfs_quota_us");
                const std::string period = thread_detail::first_line(dir + "/cpu.cfs_period_us");
                if (!quota.empty() && !period.empty())
                    take(thread_detail::quota_cores(std::atof(quota.c_str()), std::atof(period.c_str())));
            }
    }
    return cores;
}

#if defined(__linux__)
// The CPUs of OpenMP's places, into `set`, when the runtime binds threads to them (false, `set`
// untouched, when it does not). With OMP_PROC_BIND set, the runtime binds the initial thread to
// the first place at start-up, so the affinity mask then holds one place's CPUs (measured:
// OMP_PROC_BIND=spread OMP_PLACES={0},{1} made the default 1 thread on 2 cores, and capped
// --threads 2 to 1); the places, built from the mask before binding, hold them all.
inline bool omp_places_cpus(cpu_set_t& set) {
#if defined(_OPENMP) && _OPENMP >= 201511
    if (omp_get_proc_bind() == omp_proc_bind_false || omp_get_num_places() <= 0) return false;
    CPU_ZERO(&set);
    for (int place = 0; place < omp_get_num_places(); ++place) {
        const int count = omp_get_place_num_procs(place);
        if (count > CPU_SETSIZE) continue;
        int ids[CPU_SETSIZE];
        omp_get_place_proc_ids(place, ids);
        for (int i = 0; i < count; ++i)
            if (ids[i] >= 0 && ids[i] < CPU_SETSIZE) CPU_SET(ids[i], &set);
    }
    return CPU_COUNT(&set) > 0;
#else
    (void)set;
    return false;
#endif
}
#endif

// Sets this thread's affinity to every CPU of OpenMP's places, when it binds threads to them:
// what the mask was before the runtime bound the initial thread to the first place. A program
// that executes itself again calls this first: the new image inherits the mask, and its runtime
// would build its places, and core_count() its count, from one place's CPUs.
inline void widen_affinity_to_omp_places() {
#if defined(__linux__)
    cpu_set_t set;
    if (omp_places_cpus(set)) sched_setaffinity(0, sizeof(set), &set);
#endif
}

// The cores this process may use (at least 1): the CPUs of its affinity mask (taskset, a
// cpuset), or of OpenMP's places when it binds threads to them, capped by its cgroup CPU quota
// (docker --cpus, a Kubernetes limit). Read once.
inline int core_count() {
    static const int cores = [] {
        int allowed = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
#if defined(__linux__)
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = std::max(1, CPU_COUNT(&set));
        if (omp_places_cpus(set)) allowed = CPU_COUNT(&set);
        const int quota = cgroup_cpu_quota(thread_detail::file_text("/proc/self/cgroup"), "/sys/fs/cgroup");
        if (quota > 0) allowed = std::min(allowed, quota);
#endif
        return allowed;
    }();
    return cores;
}

// More threads than this many per core are refused outright: OpenMP would start them all at
// the first parallel region (100,000 exhausted the process and crashed it).
constexpr int kMaxThreadsPerCore = 4;

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

// The thread count asked for: n, or for 0 OMP_NUM_THREADS when the user set it; 0 when neither
// asks for a count.
inline int threads_asked(int n) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    return std::max(0, n > 0 ? n : env != nullptr ? std::atoi(env) : 0);
}

// The thread count set_num_threads(n) gives: threads_asked(n) capped at core_count(), or
// core_count() when nothing is asked.
inline int threads_for(int n) {
    const int asked = threads_asked(n);
    return asked > 0 ? std::min(asked, core_count()) : core_count();
}

// Sets the thread count of our loops and GEMMs to threads_for(n); a count that
// thread_count_problem() refuses is an Error.
inline void set_num_threads(int n) {
    const std::string problem = thread_count_problem(n);
    AGCNN_CHECK(problem.empty(), "thread count ", problem);
#ifdef _OPENMP
    omp_set_num_threads(threads_for(n));
#endif
    flush_denormals();
}

}  // namespace agcnn
