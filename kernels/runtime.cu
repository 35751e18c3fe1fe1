// kernels/runtime.cu — devices, streams, library handles, memory, the precision setting: the
// runtime part of agcnn/backend/cuda.hpp and the device memory functions that core/device.hpp
// declares (agcnn::cuda::device_allocate, device_release, copy_bytes, fill_zero).
#include <atomic>
#include <mutex>
#include <vector>

#include "agcnn/backend/cuda.hpp"
#include "agcnn/core/device.hpp"
#include "kernels/allocator.cuh"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

namespace {

struct DeviceContext {
    explicit DeviceContext(int device) : allocator(device) {}
    CachingAllocator allocator;
    std::once_flag stream_once, cublas_once, cudnn_once;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    cudnnHandle_t cudnn = nullptr;
    std::mutex workspace_mutex;
    void* workspace = nullptr;
    std::size_t workspace_bytes = 0;
};

// Contexts are never destroyed: tensors held in static objects may be released during static
// destruction, after the CUDA runtime has begun shutting down; the process frees everything.
DeviceContext& context(int device) {
    static std::mutex mutex;
    static auto* contexts = new std::vector<DeviceContext*>();
    std::lock_guard<std::mutex> lock(mutex);
    if (contexts->empty()) contexts->resize(static_cast<std::size_t>(device_count()));
    AGCNN_CHECK(device >= 0 && device < static_cast<int>(contexts->size()), "cuda:", device,
                " does not exist (", contexts->size(), " CUDA devices found)");
    DeviceContext*& slot = (*contexts)[static_cast<std::size_t>(device)];
    if (!slot) slot = new DeviceContext(device);
    return *slot;
}

std::atomic<Precision> global_precision{Precision::fp32};

}  // namespace

int device_count() {
    static const int count = [] {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            (void)cudaGetLastError();
            return 0;
        }
        return n;
    }();
    return count;
}

std::string device_name(int device) {
    cudaDeviceProp properties{};
    AGCNN_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
    return properties.name;
}

void synchronize(int device) {
    DeviceScope scope(device);
    AGCNN_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
}

void set_precision(Precision precision) { global_precision = precision; }
Precision precision() { return global_precision; }

Precision parse_precision(const std::string& text) {
    if (text == "fp32") return Precision::fp32;
    if (text == "tf32") return Precision::tf32;
    if (text == "bf16") return Precision::bf16;
    throw Error("bad precision '" + text + "': expected fp32, tf32 or bf16");
}

const char* precision_name(Precision precision) {
    switch (precision) {
        case Precision::fp32: return "fp32";
        case Precision::tf32: return "tf32";
        case Precision::bf16: return "bf16";
    }
    return "?";
}

int device_of(const void* pointer) {
    cudaPointerAttributes attributes{};
    AGCNN_CUDA_CHECK(cudaPointerGetAttributes(&attributes, pointer));
    AGCNN_CHECK(attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged,
                "CUDA kernel given a pointer that is not device memory");
    return attributes.device;
}

DeviceScope::DeviceScope(int device) {
    AGCNN_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) AGCNN_CUDA_CHECK(cudaSetDevice(device));
}

DeviceScope::~DeviceScope() {
    int current = previous_;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_)
        (void)cudaSetDevice(previous_);  // a destructor must not throw
}

cudaStream_t stream(int device) {
    DeviceContext& ctx = context(device);
    std::call_once(ctx.stream_once, [&] {
        DeviceScope scope(device);
        AGCNN_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    });
    return ctx.stream;
}

cublasHandle_t cublas(int device) {
    DeviceContext& ctx = context(device);
    std::call_once(ctx.cublas_once, [&] {
        DeviceScope scope(device);
        AGCNN_CUBLAS_CHECK(cublasCreate(&ctx.cublas));
        AGCNN_CUBLAS_CHECK(cublasSetStream(ctx.cublas, stream(device)));
    });
    return ctx.cublas;
}

cudnnHandle_t cudnn(int device) {
    DeviceContext& ctx = context(device);
    std::call_once(ctx.cudnn_once, [&] {
        DeviceScope scope(device);
        AGCNN_CUDNN_CHECK(cudnnCreate(&ctx.cudnn));
        AGCNN_CUDNN_CHECK(cudnnSetStream(ctx.cudnn, stream(device)));
    });
    return ctx.cudnn;
}

// Growth hands the old block back to the cache: work queued on it runs before any reuse, in
// stream order.
void* workspace(int device, std::size_t bytes) {
    DeviceContext& ctx = context(device);
    std::lock_guard<std::mutex> lock(ctx.workspace_mutex);
    if (bytes > ctx.workspace_bytes) {
        if (ctx.workspace) device_release(ctx.workspace, device);
        ctx.workspace = nullptr;
        ctx.workspace_bytes = 0;
        ctx.workspace = device_allocate(bytes, device);
        ctx.workspace_bytes = bytes;
    }
    return ctx.workspace;
}

void* device_allocate(std::size_t bytes, int device) {
    DeviceContext& ctx = context(device);  // first: a missing device gets the clearest message
    DeviceScope scope(device);
    return ctx.allocator.allocate(bytes);
}

void device_release(void* pointer, int device) { context(device).allocator.release(pointer); }

// Synchronous, as a host copy must be: the host buffer may be read or freed right after.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                std::size_t bytes) {
    const int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
    if (dst_device.is_cuda() && src_device.is_cuda() && dst_device.index != src_device.index)
        synchronize(src_device.index);  // the source's producers ran on the other stream
    DeviceScope scope(device);
    AGCNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream(device)));
    AGCNN_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
}

void fill_zero(void* pointer, std::size_t bytes, int device) {
    DeviceScope scope(device);
    AGCNN_CUDA_CHECK(cudaMemsetAsync(pointer, 0, bytes, stream(device)));
}

void upload(void* device_dst, const void* host_src, std::size_t bytes, int device) {
    DeviceScope scope(device);
    AGCNN_CUDA_CHECK(
        cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream(device)));
}

unsigned blocks_for(std::int64_t count) {
    const std::int64_t blocks = (count + kBlock - 1) / kBlock;
    AGCNN_CHECK(count >= 0 && blocks <= 0x7fffffff, "CUDA launch over ", count,
                " elements is too large for one grid");
    return static_cast<unsigned>(blocks);
}

}  // namespace agcnn::cuda
