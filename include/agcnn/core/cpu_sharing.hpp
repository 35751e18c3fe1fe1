// agcnn/core/cpu_sharing.hpp — keeping our threads together while other processes busy our cores.
//
// Why (docs/benchmarks.md, changes 37 and 38): every parallel region ends at a barrier, so a team
// spread over all cores runs at the pace of its slowest thread. Beside one CPU-bound process per
// core, each of our threads shares its core with a competitor, a thread that finished its part
// sleeps until its partner's next turn, and ResNet-50 inference kept 31-36% of its idle speed in
// half the runs (0.64-0.70 cores). In the other half the scheduler happened to run both our
// threads on one core and the competitors on the other: 1.00 core, 53-64%. This file makes that
// placement deliberate. Between steps it measures, from /proc/stat, how much of our CPUs other
// processes used; while that is at least half a core it confines the team to the CPUs left over
// (as many as the cores the others used, rounded, are taken away), with a thread count that fills
// them evenly. It spreads the team again when CPUs outside that set fall idle, or when confined it
// got less CPU than it did spread (then it stays spread for 1, 2, 4, ... windows before trying
// again): the placement that gets more CPU is kept.
//
// The thread count keeps the results bitwise unchanged (threads.hpp): only speed moves.
// Linux with OpenMP only; elsewhere, and when off, between_steps() does nothing.
//
// Contract: CpuSharing::between_steps() is called on the thread that runs the work, outside any
// parallel region, between steps (it looks at most every kWindowSeconds; the first call only
// takes a sample, so a program calls it once at start-up too). Off unless the program
// turns it on (set_cpu_sharing): it changes the affinity of OpenMP's threads, which an embedding
// program may use for its own work. The command line turns it on unless AGCNN_CPU_SHARING=off,
// OMP_PROC_BIND or OMP_PLACES is set (the user then places the threads).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <time.h>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#endif

#include "agcnn/core/threads.hpp"

namespace agcnn {

// Seconds of `clock`: CLOCK_MONOTONIC for wall time, CLOCK_PROCESS_CPUTIME_ID for the CPU time of
// all of this process's threads.
inline double clock_seconds(clockid_t clock) {
    timespec t{};
    clock_gettime(clock, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
inline double process_cpu_seconds() { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

// Jiffies each CPU spent busy (user, nice, system, irq, softirq) and in all (busy, idle, iowait,
// steal), per CPU number, from the text of /proc/stat ("cpu3 4705 356 584 3699 23 0 1 0 0 0").
struct CpuTimes {
    std::int64_t busy = 0, total = 0;
};
inline std::map<int, CpuTimes> parse_proc_stat(const std::string& text) {
    std::map<int, CpuTimes> cpus;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9') continue;
        std::istringstream fields(line.substr(3));
        int cpu = -1;
        std::int64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
        if (!(fields >> cpu >> user >> nice >> system >> idle)) continue;
        fields >> iowait >> irq >> softirq >> steal;  // absent on old kernels: 0
        const std::int64_t busy = user + nice + system + irq + softirq;
        cpus[cpu] = {busy, busy + idle + iowait + steal};
    }
    return cpus;
}

// Where the team should run next: on `cpus` (empty: every CPU of the process) with `threads`;
// `worse`: confined, the team got less CPU than when it was last spread.
struct SharingPlan {
    std::vector<int> cpus;
    int threads = 0;
    bool worse = false;
};

// The plan for the next window, from the last one.
//   allowed: the process's CPUs; busy[i]: the fraction of the window allowed[i] was busy, by
//   anyone; ours: the CPU seconds this process used per second of the window; current: the CPUs
//   the team is confined to now (empty: spread); threads: the thread count asked for; seed:
//   breaks ties between equally busy CPUs, so two processes doing this pick different ones;
//   spread_cores: `ours` in the last window spent spread (negative: none yet); may_confine:
//   false while the caller backs off after a confinement that did worse.
// Spread while others used under half a core. While confined, spread again when CPUs outside the
// set were idle for half a core or more in all (the others left), or when the team got less CPU
// than spread (measured: our two threads confined to one CPU sometimes shared it with a
// competitor, 0.61 cores, while the other CPU ran one competitor: the scheduler, counting our
// alternating threads as about one task, does not move it; beside two competitors per core
// confined and spread got about the same, 0.51-0.61 and 0.56-0.59 cores). Otherwise the team gets
// N - round(others) CPUs (at least 1), the current ones first, then the least busy, and a thread
// count that is a multiple of them (each CPU the same number, so no thread waits at a barrier for
// a CPU that runs two): `threads` rounded down to a multiple, or `threads` itself when it is no
// more than the CPUs.
inline SharingPlan plan_cpu_sharing(const std::vector<int>& allowed, const std::vector<double>& busy,
                                    double ours, const std::vector<int>& current, int threads,
                                    unsigned seed, double spread_cores = -1, bool may_confine = true) {
    const int n = static_cast<int>(allowed.size());
    SharingPlan spread{{}, threads};
    if (n < 2 || threads < 2 || busy.size() != allowed.size()) return spread;
    auto inside = [&](int i) { return std::find(current.begin(), current.end(), allowed[i]) != current.end(); };
    double all = 0, idle_outside = 0;
    for (int i = 0; i < n; ++i) {
        all += busy[i];
        if (!current.empty() && !inside(i)) idle_outside += 1.0 - busy[i];
    }
    const double others = std::max(0.0, all - ours);
    spread.worse = !current.empty() && spread_cores >= 0 && ours < spread_cores;
    if (others < 0.5 || idle_outside >= 0.5 || spread.worse || (current.empty() && !may_confine)) return spread;
    const int keep = std::max(1, n - static_cast<int>(std::floor(others + 0.5)));
    if (keep >= n) return spread;
    std::vector<int> order(n);  // current CPUs first, then the least busy; ties from the seed
    for (int i = 0; i < n; ++i) order[i] = i;
    auto tie = [&](int i) { return (static_cast<unsigned>(i) + seed) % static_cast<unsigned>(n); };
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        if (inside(a) != inside(b)) return inside(a);
        if (busy[a] != busy[b]) return busy[a] < busy[b];
        return tie(a) < tie(b);
    });
    SharingPlan plan;
    for (int i = 0; i < keep; ++i) plan.cpus.push_back(allowed[order[i]]);
    std::sort(plan.cpus.begin(), plan.cpus.end());
    plan.threads = threads <= keep ? threads : keep * (threads / keep);
    return plan;
}

namespace sharing_detail {
inline std::atomic<bool>& enabled() {
    static std::atomic<bool> on{false};
    return on;
}
}  // namespace sharing_detail

// Turns the sharing of CPUs on or off for the whole process (off by default; the command line
// turns it on, see the contract above).
inline void set_cpu_sharing(bool on) { sharing_detail::enabled() = on; }
inline bool cpu_sharing() { return sharing_detail::enabled(); }

// The state of one process's sharing: its CPUs, the last sample, the current plan.
class CpuSharing {
public:
    static constexpr double kWindowSeconds = 0.25;
    // After a confinement that did worse than spread, the team stays spread for 1, 2, 4, ... up
    // to this many windows (16 s) before it tries again.
    static constexpr int kMaxBackoffWindows = 64;

    // Looks at the last window when it is at least kWindowSeconds old and moves the team.
    void between_steps() {
#if defined(__linux__) && defined(_OPENMP)
        if (!cpu_sharing() || omp_in_parallel()) return;
        const double now = clock_seconds(CLOCK_MONOTONIC);
        if (started_ && now - wall_ < kWindowSeconds) return;
        if (!started_) {
            started_ = true;
            cpu_set_t set;
            if (sched_getaffinity(0, sizeof(set), &set) != 0) return;
            for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
                if (CPU_ISSET(cpu, &set)) allowed_.push_back(cpu);
            seed_ = static_cast<unsigned>(getpid());
        }
        if (!plan_.cpus.empty() && num_threads() != plan_.threads)  // the program changed the count
            spread(num_threads());
        if (plan_.cpus.empty()) asked_ = num_threads();
        const std::map<int, CpuTimes> times = parse_proc_stat(thread_detail::file_text("/proc/stat"));
        const double cpu = process_cpu_seconds();
        std::vector<double> busy;
        bool complete = !times_.empty();
        for (int c : allowed_) {
            const auto a = std::as_const(times_).find(c), b = times.find(c);
            if (a == times_.end() || b == times.end() || b->second.total <= a->second.total) {
                complete = false;
                break;
            }
            busy.push_back(std::clamp(double(b->second.busy - a->second.busy) /
                                      double(b->second.total - a->second.total), 0.0, 1.0));
        }
        if (complete) {
            const double ours = (cpu - cpu_) / (now - wall_);
            if (plan_.cpus.empty()) spread_cores_ = ours;
            ++held_;
            const SharingPlan next = plan_cpu_sharing(allowed_, busy, ours, plan_.cpus, asked_, seed_ + changes_,
                                                      spread_cores_, held_ >= backoff_);
            if (next.worse) {  // stay spread twice as long as last time before confining again
                held_ = 0;
                backoff_ = std::min(2 * backoff_, kMaxBackoffWindows);
            } else if (!plan_.cpus.empty() && !next.cpus.empty()) {
                backoff_ = 1;  // confined did at least as well as spread for a window
            }
            if (next.cpus != plan_.cpus) {
                if (next.cpus.empty()) spread(asked_);
                else confine(next);
                ++changes_;
            }
        }
        times_ = times;
        wall_ = now;
        cpu_ = cpu;
#endif
    }

    // The CPUs the team is confined to (empty: spread) and how often that changed.
    const std::vector<int>& cpus() const { return plan_.cpus; }
    int changes() const { return changes_; }

private:
#if defined(__linux__) && defined(_OPENMP)
    // Every thread of a team of `team` (the pool the next regions use, and this thread) gets `set`.
    static void bind_team(const std::vector<int>& cpus, int team) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : cpus) CPU_SET(c, &set);
#pragma omp parallel num_threads(team)
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    void confine(const SharingPlan& plan) {
        bind_team(plan.cpus, std::max(asked_, num_threads()));
        omp_set_num_threads(plan.threads);
        plan_ = plan;
    }
    void spread(int threads) {
        bind_team(allowed_, std::max(threads, num_threads()));
        omp_set_num_threads(threads);
        plan_ = SharingPlan{{}, threads};
    }
#endif
    bool started_ = false;
    std::vector<int> allowed_;
    unsigned seed_ = 0;
    int asked_ = 0, changes_ = 0, held_ = 0, backoff_ = 1;
    double spread_cores_ = -1;
    SharingPlan plan_;
    std::map<int, CpuTimes> times_;
    double wall_ = 0, cpu_ = 0;
};

// The process's one CpuSharing, stepped by whichever thread gets there first (a thread that finds
// another inside skips the window).
inline CpuSharing& process_cpu_sharing() {
    static CpuSharing sharing;
    return sharing;
}
inline void share_cpus_between_steps() {
    if (!cpu_sharing()) return;
    static std::mutex busy;
    std::unique_lock<std::mutex> lock(busy, std::try_to_lock);
    if (lock.owns_lock()) process_cpu_sharing().between_steps();
}

}  // namespace agcnn
