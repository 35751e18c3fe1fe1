// agcnn/train/interrupt.hpp — Ctrl-C as a request: the first SIGINT sets a flag that training
// checks after every batch (it then writes a checkpoint and stops cleanly); a second SIGINT
// kills the process as usual. Tests call request_stop() to interrupt at a chosen batch.
#pragma once

#include <atomic>
#include <csignal>

namespace agcnn::train {

inline std::atomic<bool>& stop_flag() {
    static std::atomic<bool> flag{false};
    return flag;
}
inline void request_stop() { stop_flag() = true; }
inline bool stop_requested() { return stop_flag().load(); }

// Thrown after the checkpoint of an interrupted run is written.
struct Interrupted {
    std::string checkpoint;
};

namespace detail {
extern "C" inline void on_sigint(int) {
    stop_flag() = true;
    std::signal(SIGINT, SIG_DFL);
}
}  // namespace detail

// Installs the handler for the lifetime of the guard (restores the default afterwards).
class SigintGuard {
public:
    SigintGuard() {
        stop_flag() = false;
        previous_ = std::signal(SIGINT, detail::on_sigint);
    }
    ~SigintGuard() { std::signal(SIGINT, previous_); }
    SigintGuard(const SigintGuard&) = delete;
    SigintGuard& operator=(const SigintGuard&) = delete;

private:
    void (*previous_)(int) = SIG_DFL;
};

}  // namespace agcnn::train
