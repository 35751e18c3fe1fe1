// agcnn/backend/device_select.hpp — the device a run asks for, checked, and its arithmetic set.
//
// select_device("cpu" | "cuda" | "cuda:N", "fp32" | "tf32" | "bf16") parses the device, checks
// that this build and this machine can use it (in a CUDA build: that the CUDA backend module
// loads, core/cuda_module.hpp, and the device exists), and sets the arithmetic of the CUDA
// backend's convolutions and matrix products (fp32 with FMA by default, matching the CPU; tf32
// and bf16 are opt-in speed modes, see docs/gpu.md). tf32 and bf16 need a CUDA device.
// synchronize(device) waits for the device's queued work (for timing); a no-op on the CPU.
// cuda_device_count() is how many CUDA devices this program can use: 0 in a build without the
// CUDA backend, when its module or the CUDA libraries cannot be loaded, or on a machine without a
// GPU (it never throws).
#pragma once

#include <string>

#include "agcnn/backend/cuda.hpp"
#include "agcnn/core/build.hpp"
#include "agcnn/core/device.hpp"

namespace agcnn {

inline Device select_device(const std::string& device_text, const std::string& precision) {
    const Device device = parse_device(device_text);
    AGCNN_CHECK(precision == "fp32" || precision == "tf32" || precision == "bf16",
                "bad precision '", precision, "': expected fp32, tf32 or bf16");
    AGCNN_CHECK(precision == "fp32" || device.is_cuda(), "precision ", precision,
                " needs a CUDA device");
    if (device.is_cpu()) return device;
    if constexpr (kCudaBuilt) {
        cuda::require_module();  // else one line: the module files tried, and why each failed
        const int count = cuda::device_count();
        AGCNN_CHECK(device.index < count, device.str(), " does not exist (", count,
                    " CUDA devices found)");
        cuda::set_precision(cuda::parse_precision(precision));
    } else {
        throw_cuda_not_built(device);
    }
    return device;
}

inline int cuda_device_count() {
    if constexpr (kCudaBuilt)
        return cuda::device_count();
    else
        return 0;
}

inline void synchronize(Device device) {
    if (device.is_cuda()) {
        // Without the backend nothing can be queued on a CUDA device.
        if constexpr (kCudaBuilt) cuda::synchronize(device.index);
    }
}

}  // namespace agcnn
