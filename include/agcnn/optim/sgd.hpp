// agcnn/optim/sgd.hpp — torch.optim.SGD with momentum, dampening, weight decay and Nesterov.
//
// For each parameter p with gradient g:
//   d = g + weight_decay * p
//   if momentum != 0:  buf = d on the first step, else buf = momentum buf + (1 - dampening) d
//                      d = nesterov ? d + momentum buf : buf
//   p = p - lr d
// (The paper's recipe: lr 0.01, momentum 0.9, weight decay 1e-4, lr / 10 every 20 epochs.)
#pragma once

#include <cstdint>

#include "agcnn/backend/dispatch.hpp"
#include "agcnn/optim/optimizer.hpp"

namespace agcnn::cpu {

template <class T>
void sgd_update(T* p, T* buf, const T* g, std::int64_t n, double lr, double momentum,
                double dampening, double weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) {
        T d = g[i] + static_cast<T>(weight_decay) * p[i];
        if (momentum != 0.0) {
            buf[i] = first_step ? d
                                : static_cast<T>(momentum) * buf[i] +
                                      static_cast<T>(1.0 - dampening) * d;
            d = nesterov ? d + static_cast<T>(momentum) * buf[i] : buf[i];
        }
        p[i] -= static_cast<T>(lr) * d;
    }
}

}  // namespace agcnn::cpu

namespace agcnn::optim {

struct SgdOptions {
    double lr = 0.01;
    double momentum = 0.9;
    double dampening = 0.0;
    double weight_decay = 1e-4;
    bool nesterov = false;
};

class Sgd : public Optimizer {
public:
    Sgd(NamedParameters parameters, const SgdOptions& options)
        : Optimizer(std::move(parameters)), options_(options) {
        lr_ = options.lr;
        for (auto& [name, p] : parameters_) {
            momentum_.push_back(Tensor::zeros(p->shape(), p->device()));
            has_momentum_.push_back(0.0f);
        }
    }

    void step() override {
        ++steps_;
        for (std::size_t i = 0; i < parameters_.size(); ++i) {
            Tensor& p = *parameters_[i].second;
            const Tensor g = p.grad();
            if (!g.defined()) continue;
            const bool first = has_momentum_[i] == 0.0f;
            dispatch(
                "sgd", p.device(),
                [&] {
                    cpu::sgd_update(p.data(), momentum_[i].data(), g.data(), p.numel(), lr_,
                                    options_.momentum, options_.dampening, options_.weight_decay,
                                    options_.nesterov, first);
                },
                [&] {
                    cuda::sgd_update(p.data(), momentum_[i].data(), g.data(), p.numel(), lr_,
                                     options_.momentum, options_.dampening, options_.weight_decay,
                                     options_.nesterov, first);
                });
            has_momentum_[i] = 1.0f;
        }
    }

    std::vector<std::pair<std::string, Tensor*>> state() override {
        std::vector<std::pair<std::string, Tensor*>> out;
        for (std::size_t i = 0; i < parameters_.size(); ++i)
            out.emplace_back("sgd.momentum_buffer." + parameters_[i].first, &momentum_[i]);
        return out;
    }
    // Whether each parameter's momentum buffer has been started (for checkpoints).
    std::vector<float>& momentum_started() { return has_momentum_; }

private:
    SgdOptions options_;
    std::vector<Tensor> momentum_;
    std::vector<float> has_momentum_;
};

}  // namespace agcnn::optim
