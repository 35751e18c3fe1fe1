// kernels/elementwise.cuh — relu, sigmoid, add and channel concatenation (ops/relu.hpp,
// ops/sigmoid.hpp, ops/add.hpp, ops/concat.hpp). One thread per element; the arithmetic is in
// math/elementwise_math.hpp. Gradients are assigned (=).
#pragma once

#include <cstdint>

#include "agcnn/backend/cuda.hpp"
#include "kernels/math/elementwise_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

__global__ void relu_forward_kernel(float* y, const float* x, std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) y[i] = math::relu(x[i]);
}

__global__ void relu_backward_kernel(float* dx, const float* dy, const float* y, std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) dx[i] = math::relu_grad(dy[i], y[i]);
}

__global__ void sigmoid_forward_kernel(float* y, const float* x, std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) y[i] = math::sigmoid(x[i]);
}

__global__ void sigmoid_backward_kernel(float* dx, const float* dy, const float* y,
                                        std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) dx[i] = math::sigmoid_grad(dy[i], y[i]);
}

__global__ void add_kernel(float* y, const float* a, const float* b, std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) y[i] = a[i] + b[i];
}

// One thread per element of y [rows, ca + cb].
__global__ void concat_forward_kernel(float* y, const float* a, const float* b, std::int64_t ca,
                                      std::int64_t cb, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i >= total) return;
    const math::ConcatSource s = math::concat_source(i, ca, cb);
    y[i] = s.from_a ? a[s.index] : b[s.index];
}

// One thread per element of dy; da or db may be null.
__global__ void concat_backward_kernel(float* da, float* db, const float* dy, std::int64_t ca,
                                       std::int64_t cb, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i >= total) return;
    const math::ConcatSource s = math::concat_source(i, ca, cb);
    float* target = s.from_a ? da : db;
    if (target) target[s.index] = dy[i];
}

// ---- kernel launchers -----------------------------------------------------------------------

void relu_forward(float* y, const float* x, std::int64_t n) {
    AGCNN_CHECK(n >= 0 && y && x, "relu_forward: bad arguments");
    launch(relu_forward_kernel, n, device_of(x), y, x, n);
}

void relu_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
    AGCNN_CHECK(n >= 0 && dx && dy && y, "relu_backward: bad arguments");
    launch(relu_backward_kernel, n, device_of(dy), dx, dy, y, n);
}

void sigmoid_forward(float* y, const float* x, std::int64_t n) {
    AGCNN_CHECK(n >= 0 && y && x, "sigmoid_forward: bad arguments");
    launch(sigmoid_forward_kernel, n, device_of(x), y, x, n);
}

void sigmoid_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
    AGCNN_CHECK(n >= 0 && dx && dy && y, "sigmoid_backward: bad arguments");
    launch(sigmoid_backward_kernel, n, device_of(dy), dx, dy, y, n);
}

void add_forward(float* y, const float* a, const float* b, std::int64_t n) {
    AGCNN_CHECK(n >= 0 && y && a && b, "add_forward: bad arguments");
    launch(add_kernel, n, device_of(a), y, a, b, n);
}

void concat_forward(float* y, const float* a, const float* b, std::int64_t rows, std::int64_t ca,
                    std::int64_t cb) {
    AGCNN_CHECK(rows >= 0 && ca >= 0 && cb >= 0 && y, "concat_forward: bad sizes");
    const std::int64_t total = rows * (ca + cb);
    launch(concat_forward_kernel, total, device_of(y), y, a, b, ca, cb, total);
}

void concat_backward(float* da, float* db, const float* dy, std::int64_t rows, std::int64_t ca,
                     std::int64_t cb) {
    AGCNN_CHECK(rows >= 0 && ca >= 0 && cb >= 0 && dy, "concat_backward: bad sizes");
    const std::int64_t total = rows * (ca + cb);
    if (total && (da || db))
        launch(concat_backward_kernel, total, device_of(dy), da, db, dy, ca, cb, total);
}

}  // namespace agcnn::cuda
