// agcnn/core/build.hpp — what this build of agcnn contains, as constants the code can test.
//
// kNcclBuilt is true when that backend also has NCCL (kernels/nccl.cu: data-parallel training on
// CUDA tensors, docs/distributed.md); AGCNN_WITH_NCCL is read here only.
// kCudaBuilt is true when the CUDA backend (kernels/, the static library agcnn_cuda) is linked
// into the program. This is the one header that reads the AGCNN_WITH_CUDA macro (set by the
// build on every translation unit of a CUDA build, see CMakeLists.txt); everything else asks
// `if constexpr (kCudaBuilt)`. The CUDA declarations (core/device.hpp, backend/cuda.hpp) are
// visible in every build, so both branches always compile; a function named only in the discarded
// branch needs no definition, so a build without the backend links without it.
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
