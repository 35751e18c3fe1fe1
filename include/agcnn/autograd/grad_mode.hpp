// agcnn/autograd/grad_mode.hpp — a thread-local switch that turns graph recording off.
//
// Inside a NoGradGuard, ops record nothing and keep no activations for backward: this is how a
// frozen branch runs (AG-CNN stages II and III) and how evaluation runs.
#pragma once

namespace agcnn {

inline bool& grad_mode_flag() {
    thread_local bool enabled = true;
    return enabled;
}

inline bool grad_enabled() { return grad_mode_flag(); }

class NoGradGuard {
public:
    NoGradGuard() : previous_(grad_mode_flag()) { grad_mode_flag() = false; }
    ~NoGradGuard() { grad_mode_flag() = previous_; }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

}  // namespace agcnn
