// kernels/convert.cuh — bfloat16 copies of FP32 tensors, for the bf16 precision mode: conv and
// linear operands are rounded to bfloat16 (round to nearest even) just before cuDNN or cuBLAS,
// and cuDNN's bfloat16 results are widened back to FP32. Activations, weights, gradients and
// optimizer state stay FP32 in memory.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

__global__ void to_bf16_kernel(__nv_bfloat16* y, const float* x, std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void from_bf16_kernel(float* y, const __nv_bfloat16* x, std::int64_t n) {
    const std::int64_t i = thread_index();
    if (i < n) y[i] = __bfloat162float(x[i]);
}

// ---- kernel launchers -----------------------------------------------------------------------

// A bfloat16 buffer of n elements on a device; when constructed from FP32 data (which may be
// null: no copy wanted), holds its rounded copy.
class Bf16Buffer {
public:
    Bf16Buffer(std::int64_t n, int device)
        : n_(n), device_(device),
          memory_(static_cast<std::size_t>(n) * sizeof(__nv_bfloat16), device) {}
    Bf16Buffer(const float* x, std::int64_t n, int device) : Bf16Buffer(n, device) {
        if (x) launch(to_bf16_kernel, n, device, data(), x, n);
    }
    __nv_bfloat16* data() const { return memory_.as<__nv_bfloat16>(); }
    // y [n] = this buffer widened to FP32.
    void widen_into(float* y) const { launch(from_bf16_kernel, n_, device_, y, data(), n_); }

private:
    std::int64_t n_;
    int device_;
    Scratch memory_;
};

}  // namespace agcnn::cuda
