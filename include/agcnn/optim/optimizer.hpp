// agcnn/optim/optimizer.hpp — what Adam and SGD share: the named parameters they update, their
// learning rate, and their state as named tensors (so a checkpoint can save and restore it).
//
// Parameters whose grad() is undefined after backward are skipped, as torch.optim does.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "agcnn/core/tensor.hpp"

namespace agcnn::optim {

using NamedParameters = std::vector<std::pair<std::string, Tensor*>>;

class Optimizer {
public:
    explicit Optimizer(NamedParameters parameters) : parameters_(std::move(parameters)) {}
    virtual ~Optimizer() = default;

    virtual void step() = 0;
    // Every state tensor under a stable name ("<kind>.<parameter name>"), and the step counter.
    virtual std::vector<std::pair<std::string, Tensor*>> state() = 0;
    std::int64_t steps() const { return steps_; }
    void set_steps(std::int64_t steps) { steps_ = steps; }

    void zero_grad() {
        for (auto& [name, p] : parameters_) p->set_grad(Tensor());
    }
    double lr() const { return lr_; }
    void set_lr(double lr) { lr_ = lr; }
    const NamedParameters& parameters() const { return parameters_; }

protected:
    NamedParameters parameters_;
    double lr_ = 0.0;
    std::int64_t steps_ = 0;
};

// torch.optim.lr_scheduler.StepLR: lr = base * gamma^(floor(epoch / step_size)).
inline double step_decay_lr(double base_lr, int epoch, int step_size, double gamma) {
    if (step_size <= 0) return base_lr;
    double lr = base_lr;
    for (int e = step_size; e <= epoch; e += step_size) lr *= gamma;
    return lr;
}

}  // namespace agcnn::optim
