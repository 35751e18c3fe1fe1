// kernels/optim.cuh — Adam and SGD parameter updates (optim/adam.hpp, optim/sgd.hpp): one
// thread per parameter element, the arithmetic in math/optim_math.hpp, the per-step scalars
// formed on the host in double as the CPU does.
#pragma once

#include <cstdint>

#include "agcnn/backend/cuda.hpp"
#include "kernels/math/optim_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

__global__ void adam_kernel(float* p, float* m, float* v, const float* g, std::int64_t n,
                            math::AdamScalars s) {
    const std::int64_t i = thread_index();
    if (i < n) math::adam_step(p[i], m[i], v[i], g[i], s);
}

__global__ void sgd_kernel(float* p, float* buf, const float* g, std::int64_t n,
                           math::SgdScalars s) {
    const std::int64_t i = thread_index();
    if (i < n) math::sgd_step(p[i], buf[i], g[i], s);
}

// ---- kernel launchers -----------------------------------------------------------------------

void adam_update(float* p, float* m, float* v, const float* g, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, std::int64_t step) {
    AGCNN_CHECK(p && m && v && g && n >= 0 && step >= 1, "adam_update: bad arguments");
    launch(adam_kernel, n, device_of(p), p, m, v, g, n,
           math::adam_scalars(lr, beta1, beta2, eps, weight_decay, step));
}

void sgd_update(float* p, float* buf, const float* g, std::int64_t n, double lr, double momentum,
                double dampening, double weight_decay, bool nesterov, bool first_step) {
    AGCNN_CHECK(p && buf && g && n >= 0, "sgd_update: bad arguments");
    launch(sgd_kernel, n, device_of(p), p, buf, g, n,
           math::sgd_scalars(lr, momentum, dampening, weight_decay, nesterov, first_step));
}

}  // namespace agcnn::cuda
