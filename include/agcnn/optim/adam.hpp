// agcnn/optim/adam.hpp — torch.optim.Adam (amsgrad off), with L2 weight decay added to the
// gradient as torch.optim.Adam does (not AdamW's decoupled decay).
//
// For each parameter p with gradient g, at step t (1-based):
//   g = g + weight_decay * p
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include <cmath>
#include <cstdint>

#include "agcnn/backend/dispatch.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/optim/optimizer.hpp"

namespace agcnn::cpu {

template <class T>
void adam_update(T* p, T* m, T* v, const T* g, std::int64_t n, double lr, double beta1,
                 double beta2, double eps, double weight_decay, std::int64_t step) {
    const double bias1 = 1.0 - std::pow(beta1, double(step));
    const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
    const T step_size = static_cast<T>(lr / bias1);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) {
        const T grad = g[i] + static_cast<T>(weight_decay) * p[i];
        m[i] = static_cast<T>(beta1) * m[i] + static_cast<T>(1.0 - beta1) * grad;
        v[i] = static_cast<T>(beta2) * v[i] + static_cast<T>(1.0 - beta2) * grad * grad;
        const T denom = std::sqrt(v[i]) / static_cast<T>(bias2_sqrt) + static_cast<T>(eps);
        p[i] -= step_size * m[i] / denom;
    }
}

}  // namespace agcnn::cpu

namespace agcnn::optim {

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
};

class Adam : public Optimizer {
public:
    Adam(NamedParameters parameters, const AdamOptions& options)
        : Optimizer(std::move(parameters)), options_(options) {
        lr_ = options.lr;
        for (auto& [name, p] : parameters_) {
            m_.push_back(Tensor::zeros(p->shape(), p->device()));
            v_.push_back(Tensor::zeros(p->shape(), p->device()));
        }
    }

    void step() override {
        profiler::Scope timer("adam.step");
        ++steps_;
        for (std::size_t i = 0; i < parameters_.size(); ++i) {
            Tensor& p = *parameters_[i].second;
            const Tensor g = p.grad();
            if (!g.defined()) continue;
            dispatch(
                "adam", p.device(),
                [&] {
                    cpu::adam_update(p.data(), m_[i].data(), v_[i].data(), g.data(), p.numel(),
                                     lr_, options_.beta1, options_.beta2, options_.eps,
                                     options_.weight_decay, steps_);
                },
                [&] {
                    cuda::adam_update(p.data(), m_[i].data(), v_[i].data(), g.data(), p.numel(),
                                      lr_, options_.beta1, options_.beta2, options_.eps,
                                      options_.weight_decay, steps_);
                });
        }
    }

    std::vector<std::pair<std::string, Tensor*>> state() override {
        std::vector<std::pair<std::string, Tensor*>> out;
        for (std::size_t i = 0; i < parameters_.size(); ++i) {
            out.emplace_back("adam.exp_avg." + parameters_[i].first, &m_[i]);
            out.emplace_back("adam.exp_avg_sq." + parameters_[i].first, &v_[i]);
        }
        return out;
    }

private:
    AdamOptions options_;
    std::vector<Tensor> m_, v_;
};

}  // namespace agcnn::optim
