// agcnn/backend/dispatch.hpp — the one CPU/CUDA switch of the engine.
//
// dispatch(op, device, cpu, cuda) runs cpu() when the tensors live on the CPU and cuda() when
// they live on a CUDA device, and returns what it returns. Every op (include/agcnn/ops), both
// optimizers and gradient accumulation (autograd/backward.hpp) go through it, forward and
// backward, with the CPU kernel (namespace agcnn::cpu) on one side and the launcher of
// backend/cuda.hpp on the other. In a build without the CUDA backend (core/build.hpp) a CUDA
// device gets an agcnn::Error naming the op and the device, and cuda() is never instantiated, so
// its launchers need no definition; it still compiles, the declarations being always visible.
#pragma once

#include <utility>

#include "agcnn/backend/cuda.hpp"
#include "agcnn/core/build.hpp"
#include "agcnn/core/device.hpp"

namespace agcnn {

template <class Cpu, class Cuda>
decltype(auto) dispatch(const char* op, Device device, Cpu&& cpu, Cuda&& cuda) {
    if (device.is_cpu()) return std::forward<Cpu>(cpu)();
    if constexpr (kCudaBuilt)
        return std::forward<Cuda>(cuda)();
    else
        throw_cuda_not_built(device, op);
}

}  // namespace agcnn
