// agcnn/core/device.hpp — where a tensor's memory lives, and how it is allocated there.
//
// The CPU allocator is here: 64-byte aligned memory, so that AVX-512 loads of a row start on a
// cache line. The CUDA backend (kernels/, built only when a CUDA toolkit is found) registers its
// allocator and copy functions in `cuda_hooks()` at start-up; the core never includes CUDA headers.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "agcnn/core/error.hpp"

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

// Functions the CUDA backend provides. All null when the CUDA backend is not linked in.
struct CudaHooks {
    void* (*allocate)(std::size_t bytes, int device) = nullptr;
    void (*release)(void* pointer, int device) = nullptr;
    // Copies bytes between any two devices (host<->device or device<->device).
    void (*copy)(void* dst, Device dst_device, const void* src, Device src_device,
                 std::size_t bytes) = nullptr;
    void (*fill_zero)(void* pointer, int device, std::size_t bytes) = nullptr;
    // out[i] = a[i] + b[i] for i < count, all on `device` (gradient accumulation).
    void (*add)(float* out, const float* a, const float* b, std::size_t count,
                int device) = nullptr;
};

inline CudaHooks& cuda_hooks() {
    static CudaHooks hooks;
    return hooks;
}

inline void require_cuda_backend() {
    AGCNN_CHECK(cuda_hooks().allocate != nullptr,
                "this agcnn was built without the CUDA backend (no CUDA toolkit was found at "
                "configure time); use --device cpu");
}

constexpr std::size_t kCpuAlignment = 64;

inline void* allocate_bytes(std::size_t bytes, Device device) {
    if (bytes == 0) bytes = kCpuAlignment;
    if (device.is_cuda()) {
        require_cuda_backend();
        return cuda_hooks().allocate(bytes, device.index);
    }
    const std::size_t rounded = (bytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* pointer = std::aligned_alloc(kCpuAlignment, rounded);
    AGCNN_CHECK(pointer != nullptr, "out of memory allocating ", bytes, " bytes");
    return pointer;
}

inline void release_bytes(void* pointer, Device device) {
    if (pointer == nullptr) return;
    if (device.is_cuda()) {
        if (cuda_hooks().release) cuda_hooks().release(pointer, device.index);
        return;
    }
    std::free(pointer);
}

inline void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                       std::size_t bytes) {
    if (bytes == 0) return;
    if (dst_device.is_cpu() && src_device.is_cpu()) {
        std::memcpy(dst, src, bytes);
        return;
    }
    require_cuda_backend();
    cuda_hooks().copy(dst, dst_device, src, src_device, bytes);
}

}  // namespace agcnn
