// agcnn/backend/cuda.hpp — the CUDA backend as the engine sees it: plain C++ functions (no CUDA
// headers), visible in every build, listed in backend/cuda_functions.inc and
// backend/cuda_nccl_functions.inc, and implemented by the CUDA backend module libagcnn_cuda.so
// (kernels/), which the engine loads on first use (core/cuda_module.hpp) when the build has the
// CUDA backend (core/build.hpp).
//
// The ops, the optimizers and gradient accumulation (autograd/backward.hpp) call these functions
// through backend/dispatch.hpp for tensors on a CUDA device; a build without the backend never
// instantiates those calls, so it never loads the module. The device memory functions the core
// needs (allocate, release, copy, fill) are in core/device.hpp. Every pointer is device memory of
// the device the tensors live on (found from the pointer), shapes are those of the matching CPU
// kernel in namespace agcnn::cpu (include/agcnn/ops, include/agcnn/optim), and every function
// follows its CPU kernel's contract:
//   - activation gradients are assigned (=); parameter gradients (dw, dgamma, ...) are assigned
//     too, and autograd/backward.hpp accumulates them (+=) out of place;
//   - work is queued on the device's one stream, in order; results are visible to every later
//     launch and to host copies (cuda::copy_bytes synchronises);
//   - every CUDA, cuBLAS and cuDNN error becomes an agcnn::Error naming file and line;
//   - when the module cannot be loaded, device_count() is 0 and every other function throws an
//     agcnn::Error naming the files tried and why each failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agcnn/backend/types.hpp"
#include "agcnn/core/cuda_module.hpp"
#include "agcnn/core/geometry.hpp"

namespace agcnn::cuda {

// The tables the module exports (kernels/module.cpp), one pointer per listed function.
struct BackendFunctions {
    ModuleTableHeader header;
#define AGCNN_CUDA_FUNCTION AGCNN_CUDA_TABLE_FIELD
#define AGCNN_CUDA_QUERY(return_type, name, parameters, arguments, without_module) \
    AGCNN_CUDA_TABLE_FIELD(return_type, name, parameters, arguments)
#include "agcnn/backend/cuda_functions.inc"
#undef AGCNN_CUDA_QUERY
#undef AGCNN_CUDA_FUNCTION
};
struct NcclFunctions {
    ModuleTableHeader header;
#define AGCNN_CUDA_FUNCTION AGCNN_CUDA_TABLE_FIELD
#include "agcnn/backend/cuda_nccl_functions.inc"
#undef AGCNN_CUDA_FUNCTION
};
inline constexpr const char* kBackendFunctionsSymbol = "agcnn_cuda_backend_functions";
inline constexpr const char* kNcclFunctionsSymbol = "agcnn_cuda_nccl_functions";

// The functions: in the engine, calls through the tables; in the module, its declarations.
#define AGCNN_CUDA_FUNCTION(...) \
    AGCNN_CUDA_FORWARD(BackendFunctions, kBackendFunctionsSymbol, __VA_ARGS__)
#define AGCNN_CUDA_QUERY(...) \
    AGCNN_CUDA_FORWARD_QUERY(BackendFunctions, kBackendFunctionsSymbol, __VA_ARGS__)
#include "agcnn/backend/cuda_functions.inc"
#undef AGCNN_CUDA_QUERY
#undef AGCNN_CUDA_FUNCTION
#define AGCNN_CUDA_FUNCTION(...) \
    AGCNN_CUDA_FORWARD(NcclFunctions, kNcclFunctionsSymbol, __VA_ARGS__)
#include "agcnn/backend/cuda_nccl_functions.inc"
#undef AGCNN_CUDA_FUNCTION

}  // namespace agcnn::cuda
