// kernels/check.cuh — check macros: every CUDA, cuBLAS and cuDNN call goes through one of these.
// A failure becomes an agcnn::Error whose message names the call's file and line and the
// library's own description of the error.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "agcnn/core/error.hpp"

namespace agcnn::cuda::detail {

[[noreturn]] inline void fail(const char* library, const char* what, const char* call,
                              const char* file, int line) {
    throw Error(agcnn::detail::concat(library, " error at ", file, ":", line, ": ", what, " (in ",
                                      call, ")"));
}

}  // namespace agcnn::cuda::detail

#define AGCNN_CUDA_CHECK(call)                                                            \
    do {                                                                                  \
        const cudaError_t agcnn_status_ = (call);                                         \
        if (agcnn_status_ != cudaSuccess)                                                 \
            ::agcnn::cuda::detail::fail("CUDA", cudaGetErrorString(agcnn_status_), #call, \
                                        __FILE__, __LINE__);                              \
    } while (0)

#define AGCNN_CUBLAS_CHECK(call)                                                               \
    do {                                                                                       \
        const cublasStatus_t agcnn_status_ = (call);                                           \
        if (agcnn_status_ != CUBLAS_STATUS_SUCCESS)                                            \
            ::agcnn::cuda::detail::fail("cuBLAS", cublasGetStatusString(agcnn_status_), #call, \
                                        __FILE__, __LINE__);                                   \
    } while (0)

#define AGCNN_CUDNN_CHECK(call)                                                             \
    do {                                                                                    \
        const cudnnStatus_t agcnn_status_ = (call);                                         \
        if (agcnn_status_ != CUDNN_STATUS_SUCCESS)                                          \
            ::agcnn::cuda::detail::fail("cuDNN", cudnnGetErrorString(agcnn_status_), #call, \
                                        __FILE__, __LINE__);                                \
    } while (0)

// After a kernel launch: reports a bad launch configuration at the launch site.
#define AGCNN_CUDA_CHECK_LAUNCH() AGCNN_CUDA_CHECK(cudaGetLastError())
