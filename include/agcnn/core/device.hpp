// agcnn/core/device.hpp — where a tensor's memory lives, and how it is allocated there.
//
// allocate_bytes, release_bytes, copy_bytes and fill_zero_bytes work on any device. The CPU
// allocator is here: 64-byte aligned memory, so that AVX-512 loads of a row start on a cache
// line (large blocks page-aligned, mapped and kept for reuse by core/memory_reuse.hpp). CUDA
// memory comes from the CUDA backend module (kernels/runtime.cu, loaded on first use
// by core/cuda_module.hpp) through the functions in namespace agcnn::cuda below; the core never
// includes CUDA headers. In a build without the backend (core/build.hpp) a CUDA device is an
// agcnn::Error.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "agcnn/core/build.hpp"
#include "agcnn/core/cuda_module.hpp"
#include "agcnn/core/error.hpp"
#include "agcnn/core/memory_reuse.hpp"

namespace agcnn {

struct Device {
    enum class Kind { cpu, cuda };
    Kind kind = Kind::cpu;
    int index = 0;

    static Device cpu() { return {}; }
    static Device cuda(int index = 0) { return {Kind::cuda, index}; }
    bool is_cpu() const { return kind == Kind::cpu; }
    bool is_cuda() const { return kind == Kind::cuda; }
    bool operator==(const Device&) const = default;
    std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

// Parses "cpu", "cuda" or "cuda:N".
inline Device parse_device(const std::string& text) {
    if (text == "cpu") return Device::cpu();
    if (text == "cuda") return Device::cuda(0);
    if (text.rfind("cuda:", 0) == 0) {
        const std::string digits = text.substr(5);
        AGCNN_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
                    "bad device '", text, "': expected cpu, cuda or cuda:N");
        return Device::cuda(std::stoi(digits));
    }
    throw Error("bad device '" + text + "': expected cpu, cuda or cuda:N");
}

// The CUDA half of the memory functions below, listed in core/cuda_memory_functions.inc and
// implemented by the CUDA backend module (kernels/runtime.cu), which the engine loads on first use
// (core/cuda_module.hpp). They are called only under `if constexpr (kCudaBuilt)`, so a build
// without the backend never loads or needs the module.
namespace cuda {
struct MemoryFunctions {
    ModuleTableHeader header;
#define AGCNN_CUDA_FUNCTION AGCNN_CUDA_TABLE_FIELD
#include "agcnn/core/cuda_memory_functions.inc"
#undef AGCNN_CUDA_FUNCTION
};
inline constexpr const char* kMemoryFunctionsSymbol = "agcnn_cuda_memory_functions";
#define AGCNN_CUDA_FUNCTION(...) \
    AGCNN_CUDA_FORWARD(MemoryFunctions, kMemoryFunctionsSymbol, __VA_ARGS__)
#include "agcnn/core/cuda_memory_functions.inc"
#undef AGCNN_CUDA_FUNCTION
}  // namespace cuda

// The error for a CUDA device in a build without the CUDA backend; `what` (the op, or null)
// starts the message.
[[noreturn]] inline void throw_cuda_not_built(Device device, const char* what = nullptr) {
    throw Error(detail::concat(what ? what : "", what ? ": " : "",
                               "this agcnn was built without the CUDA backend, so tensors "
                               "cannot live on ",
                               device.str()));
}

constexpr std::size_t kCpuAlignment = 64;

inline void* allocate_bytes(std::size_t bytes, Device device) {
    if (bytes == 0) bytes = kCpuAlignment;
    if (device.is_cuda()) {
        if constexpr (kCudaBuilt)
            return cuda::device_allocate(bytes, device.index);
        else
            throw_cuda_not_built(device);
    }
    if (is_large_block(bytes)) return allocate_large_block(bytes);
    const std::size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* pointer = std::aligned_alloc(kCpuAlignment, rounded);
    AGCNN_CHECK(pointer != nullptr, "out of memory allocating ", bytes, " bytes");
    return pointer;
}

// `bytes`: as given to allocate_bytes.
inline void release_bytes(void* pointer, std::size_t bytes, Device device) {
    if (pointer == nullptr) return;
    if (device.is_cuda()) {
        // Without the backend no CUDA memory was ever allocated.
        if constexpr (kCudaBuilt) cuda::device_release(pointer, device.index);
        return;
    }
    if (is_large_block(bytes))
        release_large_block(pointer, bytes);
    else
        std::free(pointer);
}

inline void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                       std::size_t bytes) {
    if (bytes == 0) return;
    if (dst_device.is_cpu() && src_device.is_cpu()) {
        std::memcpy(dst, src, bytes);
        return;
    }
    if constexpr (kCudaBuilt)
        cuda::copy_bytes(dst, dst_device, src, src_device, bytes);
    else
        throw_cuda_not_built(dst_device.is_cuda() ? dst_device : src_device);
}

// Zeroes bytes of memory on device.
inline void fill_zero_bytes(void* pointer, std::size_t bytes, Device device) {
    if (device.is_cpu()) {
        std::memset(pointer, 0, bytes);
        return;
    }
    if constexpr (kCudaBuilt)
        cuda::fill_zero(pointer, bytes, device.index);
    else
        throw_cuda_not_built(device);
}

}  // namespace agcnn
