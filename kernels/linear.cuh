// kernels/linear.cuh — fully connected layer on cuBLAS (ops/linear.hpp): y = x w^T + b,
// dx = dy w, dw = dy^T x, db = column sums of dy. The row-major to column-major mapping of each
// product is in math/gemm_math.hpp (tested on the CPU); bias and its gradient are our kernels
// (db sums rows in order: deterministic).
//
// Precision: fp32 uses cuBLAS's default math (no TF32), tf32 allows TF32 tensor ops, bf16 rounds
// both operands to bfloat16 and accumulates and stores in FP32 (cublasGemmEx).
#pragma once

#include <cstdint>
#include <optional>

#include "kernels/convert.cuh"
#include "agcnn/backend/cuda.hpp"
#include "kernels/math/gemm_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

// y [rows, cols] += b [cols] broadcast over rows.
__global__ void add_bias_kernel(float* y, const float* b, std::int64_t cols, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) y[i] += b[i % cols];
}

// One thread per column: db[o] = sum over rows of dy[r, o].
__global__ void column_sum_kernel(float* db, const float* dy, std::int64_t rows,
                                  std::int64_t cols) {
    const std::int64_t o = thread_index();
    if (o < cols) db[o] = math::column_sum(dy, rows, cols, o);
}

// ---- kernel launchers -----------------------------------------------------------------------

namespace {

int blas_int(std::int64_t v) {
    AGCNN_CHECK(v >= 0 && v <= 0x7fffffff, "linear: size ", v, " too large for cuBLAS");
    return static_cast<int>(v);
}

// C = op(A) op(B) for the column-major call `call` (C is overwritten), in the current precision.
void gemm(int device, const math::GemmCall& call, const float* a, const float* b, float* c) {
    const cublasHandle_t handle = cublas(device);
    const Precision precision = cuda::precision();
    const cublasOperation_t ta = call.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = call.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int m = blas_int(call.m), n = blas_int(call.n), k = blas_int(call.k);
    const float one = 1.0f, zero = 0.0f;
    if (precision == Precision::bf16) {
        AGCNN_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
        const Bf16Buffer a16(a, call.m * call.k, device), b16(b, call.k * call.n, device);
        AGCNN_CUBLAS_CHECK(cublasGemmEx(handle, ta, tb, m, n, k, &one, a16.data(), CUDA_R_16BF,
                                        blas_int(call.lda), b16.data(), CUDA_R_16BF,
                                        blas_int(call.ldb), &zero, c, CUDA_R_32F,
                                        blas_int(call.ldc), CUBLAS_COMPUTE_32F,
                                        CUBLAS_GEMM_DEFAULT));
        return;
    }
    AGCNN_CUBLAS_CHECK(cublasSetMathMode(
        handle, precision == Precision::tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    AGCNN_CUBLAS_CHECK(cublasSgemm(handle, ta, tb, m, n, k, &one, a, blas_int(call.lda), b,
                                   blas_int(call.ldb), &zero, c, blas_int(call.ldc)));
}

}  // namespace

void linear_forward(float* y, const float* x, const float* w, const float* b, std::int64_t n,
                    std::int64_t in, std::int64_t out) {
    AGCNN_CHECK(y && x && w && n >= 0 && in > 0 && out > 0, "linear_forward: bad arguments");
    if (n == 0) return;
    const int device = device_of(x);
    DeviceScope scope(device);
    gemm(device, math::linear_forward_gemm(n, in, out), w, x, y);
    if (b) launch(add_bias_kernel, n * out, device, y, b, out, n * out);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, std::int64_t n, std::int64_t in, std::int64_t out) {
    AGCNN_CHECK(dy && x && w && n >= 0 && in > 0 && out > 0, "linear_backward: bad arguments");
    const int device = device_of(dy);
    DeviceScope scope(device);
    if (dx && n > 0) gemm(device, math::linear_dx_gemm(n, in, out), w, dy, dx);
    if (dw) {
        if (n > 0)
            gemm(device, math::linear_dw_gemm(n, in, out), x, dy, dw);
        else
            AGCNN_CUDA_CHECK(cudaMemsetAsync(dw, 0, out * in * sizeof(float), stream(device)));
    }
    if (db) launch(column_sum_kernel, out, device, db, dy, n, out);
}

}  // namespace agcnn::cuda
