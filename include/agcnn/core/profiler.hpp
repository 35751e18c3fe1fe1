// agcnn/core/profiler.hpp — per-op time totals, for `agcnn bench`'s breakdown: wall clock, or
// device time with a synchronize hook.
//
// profiler::Scope timer("conv2d") at the top of an op adds the scope's wall time and one call
// to the record named "conv2d"; Scope(name, ".backward") records under "conv2d.backward". When profiling is off (the default) a Scope costs one load and
// one branch: no clock is read and nothing is written. Records are kept by the calling (main)
// thread only; ops are called from one thread and parallelise inside, so the totals are
// wall-clock time of the op including its OpenMP work. Scopes nest: an op that calls another
// op counts that time twice (in both names).
//
// On a GPU an op only queues work, so its wall time is the launch, not the work: with a
// synchronize hook set (set_synchronize, e.g. the device's synchronize), a Scope waits for the
// device before it starts the clock and before it reads it, so each record is the op's device
// time. That wait serialises host and device, so steps timed for throughput run without it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace agcnn::profiler {

struct Record {
    double seconds = 0.0;
    std::int64_t calls = 0;
};

inline bool& enabled_flag() {
    static bool enabled = false;
    return enabled;
}
inline std::map<std::string, Record>& records() {
    static std::map<std::string, Record> table;
    return table;
}

inline std::function<void()>& synchronize_hook() {
    static std::function<void()> hook;
    return hook;
}

inline bool enabled() { return enabled_flag(); }
inline void enable(bool on = true) { enabled_flag() = on; }
inline void reset() { records().clear(); }
// Called at both ends of every Scope while profiling; empty (the default) for none.
inline void set_synchronize(std::function<void()> hook) { synchronize_hook() = std::move(hook); }

class Scope {
public:
    explicit Scope(const char* name, const char* suffix = "")
        : name_(enabled() ? name : nullptr), suffix_(suffix) {
        if (!name_) return;
        if (synchronize_hook()) synchronize_hook()();
        start_ = std::chrono::steady_clock::now();
    }
    ~Scope() {
        if (!name_) return;
        if (synchronize_hook()) synchronize_hook()();
        const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
        Record& record = records()[std::string(name_) + suffix_];
        record.seconds += elapsed.count();
        ++record.calls;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    const char* name_;
    const char* suffix_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace agcnn::profiler
