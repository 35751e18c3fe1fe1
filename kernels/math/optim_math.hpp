// kernels/math/optim_math.hpp — one parameter element's Adam or SGD update, in the same float
// operations, in the same order, as cpu::adam_update and cpu::sgd_update (optim/adam.hpp,
// optim/sgd.hpp). The per-step scalars are formed once on the host, in double, as the CPU does.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/math/hd.hpp"

namespace agcnn::cuda::math {

struct AdamScalars {
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float step_size;   // lr / (1 - beta1^t)
    float bias2_sqrt;  // sqrt(1 - beta2^t)
    float eps, weight_decay;
};

// Host side: the scalars of step t (1-based).
inline AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps,
                                double weight_decay, std::int64_t step) {
    const double bias1 = 1.0 - std::pow(beta1, double(step));
    const double bias2_sqrt = std::sqrt(1.0 - std::pow(beta2, double(step)));
    return {static_cast<float>(beta1),     static_cast<float>(1.0 - beta1),
            static_cast<float>(beta2),     static_cast<float>(1.0 - beta2),
            static_cast<float>(lr / bias1), static_cast<float>(bias2_sqrt),
            static_cast<float>(eps),       static_cast<float>(weight_decay)};
}

AGCNN_HD void adam_step(float& p, float& m, float& v, float g, const AdamScalars& s) {
    const float grad = g + s.weight_decay * p;
    m = s.beta1 * m + s.one_minus_beta1 * grad;
    v = s.beta2 * v + s.one_minus_beta2 * grad * grad;
    const float denom = sqrtf(v) / s.bias2_sqrt + s.eps;
    p -= s.step_size * m / denom;
}

struct SgdScalars {
    float lr, momentum, one_minus_dampening, weight_decay;
    bool use_momentum, nesterov, first_step;
};

inline SgdScalars sgd_scalars(double lr, double momentum, double dampening, double weight_decay,
                              bool nesterov, bool first_step) {
    return {static_cast<float>(lr), static_cast<float>(momentum),
            static_cast<float>(1.0 - dampening), static_cast<float>(weight_decay),
            momentum != 0.0, nesterov, first_step};
}

AGCNN_HD void sgd_step(float& p, float& buf, float g, const SgdScalars& s) {
    float d = g + s.weight_decay * p;
    if (s.use_momentum) {
        buf = s.first_step ? d : s.momentum * buf + s.one_minus_dampening * d;
        d = s.nesterov ? d + s.momentum * buf : buf;
    }
    p -= s.lr * d;
}

}  // namespace agcnn::cuda::math
