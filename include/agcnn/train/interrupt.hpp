// agcnn/train/interrupt.hpp — SIGINT (Ctrl-C) and SIGTERM (a scheduler, `docker stop`, a
// shutdown) as a request: the first one sets a flag that training checks after every batch (it
// then writes a checkpoint and stops cleanly); a second one kills the process as usual. Tests call
// request_stop() to interrupt at a chosen batch.
#pragma once

#include <atomic>
#include <csignal>
#include <string>

namespace agcnn::train {

inline std::atomic<bool>& stop_flag() {
    static std::atomic<bool> flag{false};
    return flag;
}
// The signal that asked to stop (0 when none did: request_stop()).
inline std::atomic<int>& stop_signal() {
    static std::atomic<int> signal{0};
    return signal;
}
inline void request_stop() { stop_flag() = true; }
inline bool stop_requested() { return stop_flag().load(); }

// Thrown after the checkpoint of an interrupted run is written.
struct Interrupted {
    std::string checkpoint;
};

namespace detail {
extern "C" inline void on_stop_signal(int signal) {
    stop_signal() = signal;
    stop_flag() = true;
    std::signal(signal, SIG_DFL);
}
}  // namespace detail

// Installs the handler for SIGINT and SIGTERM for the lifetime of the guard (restores the
// previous handlers afterwards).
class StopSignalGuard {
public:
    StopSignalGuard() {
        stop_flag() = false;
        stop_signal() = 0;
        previous_int_ = std::signal(SIGINT, detail::on_stop_signal);
        previous_term_ = std::signal(SIGTERM, detail::on_stop_signal);
    }
    ~StopSignalGuard() {
        std::signal(SIGINT, previous_int_);
        std::signal(SIGTERM, previous_term_);
    }
    StopSignalGuard(const StopSignalGuard&) = delete;
    StopSignalGuard& operator=(const StopSignalGuard&) = delete;

private:
    void (*previous_int_)(int) = SIG_DFL;
    void (*previous_term_)(int) = SIG_DFL;
};

}  // namespace agcnn::train
