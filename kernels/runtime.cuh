// kernels/runtime.cuh — what every launcher needs from the runtime (runtime.cu): the device a
// pointer lives on, that device's stream and library handles, scratch memory, the shared
// workspace.
//
// One stream per device, created on first use; cuBLAS and cuDNN handles are bound to it. All
// work for a device is queued on that stream, so memory returned to the caching allocator can be
// handed out again at once: any later use is queued after every earlier one.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "agcnn/core/device.hpp"
#include "kernels/check.cuh"

namespace agcnn::cuda {

// The device of a device pointer (throws for host memory).
int device_of(const void* pointer);

// Makes `device` current for this thread for the scope (restores the previous one after).
class DeviceScope {
public:
    explicit DeviceScope(int device);
    ~DeviceScope();
    DeviceScope(const DeviceScope&) = delete;
    DeviceScope& operator=(const DeviceScope&) = delete;

private:
    int previous_;
};

// The stream and library handles of a device (created on first use).
cudaStream_t stream(int device);
cublasHandle_t cublas(int device);
cudnnHandle_t cudnn(int device);

// The device's one shared grow-only workspace for cuDNN, at least `bytes` long. Valid until the
// next call that asks for more (work already queued keeps using it safely: growth synchronises).
void* workspace(int device, std::size_t bytes);

// The caching allocator's (allocator.cuh) entry points, device_allocate and device_release, are
// declared in agcnn/core/device.hpp.

// Temporary device memory, returned to the cache when the object goes away.
class Scratch {
public:
    Scratch(std::size_t bytes, int device)
        : device_(device), pointer_(device_allocate(bytes, device)) {}
    ~Scratch() { device_release(pointer_, device_); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <class T>
    T* as() const {
        return static_cast<T*>(pointer_);
    }

private:
    int device_;
    void* pointer_;
};

// Copies `bytes` from host memory to `device` memory, in stream order.
void upload(void* device_dst, const void* host_src, std::size_t bytes, int device);

// Launch geometry of a one-thread-per-element kernel over `count` elements.
constexpr int kBlock = 256;
unsigned blocks_for(std::int64_t count);

}  // namespace agcnn::cuda

// ---- launch helpers (nvcc only) -------------------------------------------------------------
namespace agcnn::cuda {

// The global index of this thread in a one-dimensional launch.
__device__ __forceinline__ std::int64_t thread_index() {
    return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// Runs kernel(args...) with one thread per element of `count` on `device`'s stream and checks
// the launch. Nothing is launched for count == 0.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), std::int64_t count, int device, Args... args) {
    if (count == 0) return;
    DeviceScope scope(device);
    kernel<<<blocks_for(count), kBlock, 0, stream(device)>>>(args...);
    AGCNN_CUDA_CHECK_LAUNCH();
}

}  // namespace agcnn::cuda
