// kernels/math/hd.hpp — AGCNN_HD: marks a function that runs on the host and on the device.
//
// The index and arithmetic logic of every CUDA kernel lives in kernels/math/*.hpp as AGCNN_HD
// functions. nvcc compiles them into the kernels; g++ compiles the same text into
// tests/test_cuda_logic.cpp, which checks them against the CPU ops without a GPU. A kernel body
// is then only "which element am I" plus one call into these headers.
#pragma once

#if defined(__CUDACC__)
#define AGCNN_HD __host__ __device__ __forceinline__
#else
#define AGCNN_HD inline
#endif
