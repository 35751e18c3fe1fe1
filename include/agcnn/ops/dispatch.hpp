// agcnn/ops/dispatch.hpp — what every op header shares: the CPU/CUDA switch and its error.
//
// Each op has one public function (e.g. ops::relu) that checks shapes, then runs the CPU kernel
// (namespace agcnn::cpu, templated on the scalar type so tests can run it in double) or the CUDA
// launcher (namespace agcnn::cuda, kernels/), picked by where the input tensors live.
#pragma once

#include "agcnn/autograd/node.hpp"
#include "agcnn/core/error.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

#ifdef AGCNN_WITH_CUDA
#include "kernels/launchers.hpp"
#endif

namespace agcnn::ops {

// Throws when a CUDA tensor reaches an op in a build without the CUDA backend.
inline void require_cuda_build(const char* op) {
#ifndef AGCNN_WITH_CUDA
    throw Error(std::string(op) + ": this agcnn was built without CUDA; use --device cpu");
#else
    (void)op;
#endif
}

}  // namespace agcnn::ops
