// kernels/pool.cuh — max pooling and global max/average pooling, forward and backward
// (ops/max_pool2d.hpp, ops/global_pool.hpp). One thread per output element forward, one thread
// per input element backward (a gather: deterministic, no atomics); the window logic is in
// math/pool_math.hpp.
#pragma once

#include <cstdint>
#include <memory>

#include "agcnn/backend/cuda.hpp"
#include "kernels/math/pool_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

__global__ void max_pool_forward_kernel(float* y, std::int32_t* argmax, const float* x,
                                        PoolGeometry g, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) math::max_pool_output(y, argmax, x, g, i);
}

__global__ void max_pool_backward_kernel(float* dx, const float* dy, const std::int32_t* argmax,
                                         PoolGeometry g, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) dx[i] = math::max_pool_input_grad(dy, argmax, g, i);
}

__global__ void global_max_forward_kernel(float* y, std::int32_t* argmax, const float* x,
                                          std::int64_t hw, std::int64_t c, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) math::global_max_output(y, argmax, x, hw, c, i);
}

__global__ void global_max_backward_kernel(float* dx, const float* dy, const std::int32_t* argmax,
                                           std::int64_t hw, std::int64_t c, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) dx[i] = math::global_max_input_grad(dy, argmax, hw, c, i);
}

__global__ void global_avg_forward_kernel(float* y, const float* x, std::int64_t hw,
                                          std::int64_t c, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) y[i] = math::global_avg_output(x, hw, c, i);
}

__global__ void global_avg_backward_kernel(float* dx, const float* dy, std::int64_t hw,
                                           std::int64_t c, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) dx[i] = math::global_avg_input_grad(dy, hw, c, i);
}

// ---- kernel launchers -----------------------------------------------------------------------

namespace {

// An int32 argmax buffer of `count` entries on `device`, returned to the cache when the last
// owner (the op's backward closure) lets go.
std::shared_ptr<void> argmax_buffer(std::int64_t count, int device) {
    void* pointer = device_allocate(static_cast<std::size_t>(count) * sizeof(std::int32_t), device);
    return std::shared_ptr<void>(pointer, [device](void* p) { device_release(p, device); });
}

}  // namespace

std::shared_ptr<void> max_pool2d_forward(float* y, const float* x, const PoolGeometry& g) {
    AGCNN_CHECK(y && x && g.n >= 0 && g.c >= 0 && g.oh > 0 && g.ow > 0 && g.h * g.w < (1ll << 31),
                "max_pool2d_forward: bad geometry");
    const int device = device_of(x);
    const std::int64_t total = g.n * g.oh * g.ow * g.c;
    std::shared_ptr<void> argmax = argmax_buffer(total, device);
    launch(max_pool_forward_kernel, total, device, y, static_cast<std::int32_t*>(argmax.get()), x,
           g, total);
    return argmax;
}

void max_pool2d_backward(float* dx, const float* dy, const void* argmax, const PoolGeometry& g) {
    AGCNN_CHECK(dx && dy && argmax, "max_pool2d_backward: bad arguments");
    const std::int64_t total = g.n * g.h * g.w * g.c;
    launch(max_pool_backward_kernel, total, device_of(dy), dx, dy,
           static_cast<const std::int32_t*>(argmax), g, total);
}

std::shared_ptr<void> global_max_pool_forward(float* y, const float* x, std::int64_t n,
                                              std::int64_t hw, std::int64_t c) {
    AGCNN_CHECK(y && x && n >= 0 && hw > 0 && c >= 0 && hw < (1ll << 31),
                "global_max_pool_forward: bad sizes");
    const int device = device_of(x);
    std::shared_ptr<void> argmax = argmax_buffer(n * c, device);
    launch(global_max_forward_kernel, n * c, device, y, static_cast<std::int32_t*>(argmax.get()),
           x, hw, c, n * c);
    return argmax;
}

void global_max_pool_backward(float* dx, const float* dy, const void* argmax, std::int64_t n,
                              std::int64_t hw, std::int64_t c) {
    AGCNN_CHECK(dx && dy && argmax, "global_max_pool_backward: bad arguments");
    launch(global_max_backward_kernel, n * hw * c, device_of(dy), dx, dy,
           static_cast<const std::int32_t*>(argmax), hw, c, n * hw * c);
}

void global_avg_pool_forward(float* y, const float* x, std::int64_t n, std::int64_t hw,
                             std::int64_t c) {
    AGCNN_CHECK(y && x && n >= 0 && hw > 0 && c >= 0, "global_avg_pool_forward: bad sizes");
    launch(global_avg_forward_kernel, n * c, device_of(x), y, x, hw, c, n * c);
}

void global_avg_pool_backward(float* dx, const float* dy, std::int64_t n, std::int64_t hw,
                              std::int64_t c) {
    AGCNN_CHECK(dx && dy && hw > 0, "global_avg_pool_backward: bad arguments");
    launch(global_avg_backward_kernel, n * hw * c, device_of(dy), dx, dy, hw, c, n * hw * c);
}

}  // namespace agcnn::cuda
