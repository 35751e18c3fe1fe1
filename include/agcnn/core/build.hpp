// agcnn/core/build.hpp — what this build of agcnn contains, as constants the code can test.
//
// kNcclBuilt is true when that backend also has NCCL (kernels/nccl.cu: data-parallel training on
// CUDA tensors, docs/distributed.md); AGCNN_WITH_NCCL is read here only (and by kernels/module.cpp,
// which exports the NCCL table only then).
// kCudaBuilt is true when this build has the CUDA backend: the module libagcnn_cuda.so (kernels/),
// which the program loads on first use of a CUDA device (core/cuda_module.hpp). This is the one
// header that reads the AGCNN_WITH_CUDA macro (set by the build on every translation unit of a
// CUDA build, see CMakeLists.txt); everything else asks `if constexpr (kCudaBuilt)`. The CUDA
// functions (core/device.hpp, backend/cuda.hpp) are visible in every build, so both branches
// always compile; a function named only in the discarded branch is never used, so a build without
// the backend never loads the module.
#pragma once

namespace agcnn {

#ifdef AGCNN_WITH_CUDA
inline constexpr bool kCudaBuilt = true;
#else
inline constexpr bool kCudaBuilt = false;
#endif
#ifdef AGCNN_WITH_NCCL
inline constexpr bool kNcclBuilt = true;
#else
inline constexpr bool kNcclBuilt = false;
#endif

}  // namespace agcnn
