// kernels/module.cpp — what the CUDA backend module libagcnn_cuda.so exports: one table of
// function pointers per X-macro list (core/cuda_memory_functions.inc,
// backend/cuda_functions.inc, and backend/cuda_nccl_functions.inc when the module has NCCL),
// each under one extern "C" symbol that core/cuda_module.hpp looks up with dlsym. Everything
// else in the module is hidden (kernels/CMakeLists.txt), so its copies of the engine's inline
// functions never mix with the program's.
#include "agcnn/backend/cuda.hpp"
#include "agcnn/core/device.hpp"

#define AGCNN_CUDA_TABLE_HEADER(Table) \
    {agcnn::cuda::kModuleAbiVersion, static_cast<std::uint32_t>(sizeof(Table))}
#define AGCNN_CUDA_FUNCTION(return_type, name, parameters, arguments) &agcnn::cuda::name,
#define AGCNN_CUDA_QUERY(return_type, name, parameters, arguments, without_module) \
    &agcnn::cuda::name,

extern "C" {

__attribute__((visibility("default"))) extern const agcnn::cuda::MemoryFunctions
    agcnn_cuda_memory_functions;
const agcnn::cuda::MemoryFunctions agcnn_cuda_memory_functions = {
    AGCNN_CUDA_TABLE_HEADER(agcnn::cuda::MemoryFunctions),
#include "agcnn/core/cuda_memory_functions.inc"
};

__attribute__((visibility("default"))) extern const agcnn::cuda::BackendFunctions
    agcnn_cuda_backend_functions;
const agcnn::cuda::BackendFunctions agcnn_cuda_backend_functions = {
    AGCNN_CUDA_TABLE_HEADER(agcnn::cuda::BackendFunctions),
#include "agcnn/backend/cuda_functions.inc"
};

#ifdef AGCNN_WITH_NCCL
__attribute__((visibility("default"))) extern const agcnn::cuda::NcclFunctions
    agcnn_cuda_nccl_functions;
const agcnn::cuda::NcclFunctions agcnn_cuda_nccl_functions = {
    AGCNN_CUDA_TABLE_HEADER(agcnn::cuda::NcclFunctions),
#include "agcnn/backend/cuda_nccl_functions.inc"
};
#endif

}  // extern "C"
