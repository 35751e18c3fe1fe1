// kernels/conv2d.cuh — 2-D convolution on cuDNN (ops/conv2d.hpp): x NHWC, w OHWI (cuDNN's NHWC
// filter layout, KRSC), y NHWC, cross-correlation, no bias, as the CPU op.
//
// Plans: descriptors and algorithms are kept per full shape (batch and channels included),
// device and precision, and each direction's algorithm is searched once, on first use, with
// cudnnFind*AlgorithmEx on the real buffers: the fastest one that is deterministic (backward
// reductions must not depend on scheduling; see choose()) and, in fp32 mode, uses no tensor-op
// math. The search gets a temporary buffer of its own (SearchWorkspace); the chosen
// algorithm's workspace comes from the device's shared grow-only buffer.
//
// Precision (agcnn/backend/types.hpp): fp32 runs CUDNN_FMA_MATH (true FP32, matches the CPU);
// tf32 allows TF32 tensor ops; bf16 rounds x, w, dy to bfloat16 (FP32 accumulation) and widens
// the results back to FP32.
#pragma once

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "kernels/convert.cuh"
#include "agcnn/backend/cuda.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

namespace {

constexpr std::size_t kMinSearchWorkspaceBytes = std::size_t(256) << 20;
constexpr std::size_t kMaxSearchWorkspaceBytes = std::size_t(4) << 30;

// The workspace cudnnFind*AlgorithmEx may give a candidate (it skips those that need more): a
// quarter of the device memory free at the first search on the device, between 256 MiB and
// 4 GiB. Some of the fastest algorithms need more than 256 MiB (fp32 backward passes of ResNet-50
// at batch 64 on an H200: docs/gpu-results.md), as PyTorch's benchmark mode allows them.
std::size_t search_workspace_bytes(int device) {
    static std::mutex mutex;
    static std::map<int, std::size_t> sizes;
    std::lock_guard<std::mutex> lock(mutex);
    auto [it, inserted] = sizes.try_emplace(device, 0);
    if (inserted) {
        DeviceScope scope(device);
        std::size_t free = 0, total = 0;
        AGCNN_CUDA_CHECK(cudaMemGetInfo(&free, &total));
        it->second = std::clamp(free / 4, kMinSearchWorkspaceBytes, kMaxSearchWorkspaceBytes);
    }
    return it->second;
}

// The buffer of one search, straight from the driver and freed when the search ends, so that it
// does not stay in the caching allocator (gigabytes a program would then hold for good). When
// the driver has not that much free, the search gets 256 MiB of the shared workspace instead.
class SearchWorkspace {
public:
    explicit SearchWorkspace(int device) : device_(device), bytes_(search_workspace_bytes(device)) {
        DeviceScope scope(device);
        if (cudaMalloc(&own_, bytes_) != cudaSuccess) {
            (void)cudaGetLastError();  // clear the failed allocation's error
            own_ = nullptr;
            bytes_ = kMinSearchWorkspaceBytes;
        }
    }
    ~SearchWorkspace() {
        if (!own_) return;
        DeviceScope scope(device_);
        (void)cudaFree(own_);  // a destructor must not throw
    }
    SearchWorkspace(const SearchWorkspace&) = delete;
    SearchWorkspace& operator=(const SearchWorkspace&) = delete;
    void* data() const { return own_ ? own_ : workspace(device_, bytes_); }
    std::size_t bytes() const { return bytes_; }

private:
    int device_;
    std::size_t bytes_;
    void* own_ = nullptr;
};

struct ConvAlgorithm {
    int algo;  // the cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
    cudnnMathType_t math;
    std::size_t workspace;
};

// Descriptors of one convolution shape, device and precision.
class ConvPlan {
public:
    ConvPlan(const ConvGeometry& g, Precision precision) : precision(precision) {
        const cudnnDataType_t type =
            precision == Precision::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
        AGCNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
        AGCNN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
        AGCNN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
        AGCNN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
        AGCNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, type, dim(g.n), dim(g.c),
                                                     dim(g.h), dim(g.w)));
        AGCNN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, type, dim(g.n), dim(g.o),
                                                     dim(g.oh), dim(g.ow)));
        AGCNN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, type, CUDNN_TENSOR_NHWC, dim(g.o), dim(g.c),
                                                     dim(g.kh), dim(g.kw)));
        AGCNN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, dim(g.pad), dim(g.pad),
                                                          dim(g.stride), dim(g.stride), 1, 1,
                                                          CUDNN_CROSS_CORRELATION,
                                                          CUDNN_DATA_FLOAT));
    }
    ~ConvPlan() {  // destructors must not throw: statuses are ignored
        cudnnDestroyTensorDescriptor(x);
        cudnnDestroyTensorDescriptor(y);
        cudnnDestroyFilterDescriptor(w);
        cudnnDestroyConvolutionDescriptor(conv);
    }
    ConvPlan(const ConvPlan&) = delete;
    ConvPlan& operator=(const ConvPlan&) = delete;

    // The math type the search may use.
    cudnnMathType_t allowed_math() const {
        return precision == Precision::fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    }

    Precision precision;
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    std::optional<ConvAlgorithm> forward, backward_data, backward_filter;

private:
    static int dim(std::int64_t v) {
        AGCNN_CHECK(v >= 0 && v <= 0x7fffffff, "conv2d: dimension ", v, " too large for cuDNN");
        return static_cast<int>(v);
    }
};

std::mutex plans_mutex;

// The plan of (g, device, precision), created on first use. Plans live as long as the process.
ConvPlan& conv_plan(const ConvGeometry& g, int device, Precision precision) {
    using Key = std::array<std::int64_t, 11>;
    static auto* plans = new std::map<Key, std::unique_ptr<ConvPlan>>();
    const Key key{g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.stride, g.pad, device,
                  static_cast<std::int64_t>(precision)};
    std::unique_ptr<ConvPlan>& plan = (*plans)[key];
    if (!plan) plan = std::make_unique<ConvPlan>(g, precision);
    return *plan;
}

// The first (fastest) usable result of a cudnnFind*AlgorithmEx search: successful, deterministic
// and, in fp32 mode, without tensor-op math. Should cuDNN offer no deterministic algorithm for a
// shape, the fastest other one is used and a warning says so once per plan and direction
// (training still runs, but that shape's gradients may then vary in the last bits).
template <class Perf>
ConvAlgorithm choose(const std::vector<Perf>& results, int returned, const ConvPlan& plan,
                     const char* direction) {
    const Perf* fallback = nullptr;
    for (int i = 0; i < returned; ++i) {
        const Perf& r = results[static_cast<std::size_t>(i)];
        const bool tensor_op = r.mathType == CUDNN_TENSOR_OP_MATH ||
                               r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
        if (r.status != CUDNN_STATUS_SUCCESS || (plan.precision == Precision::fp32 && tensor_op))
            continue;
        if (r.determinism == CUDNN_DETERMINISTIC)
            return {static_cast<int>(r.algo), r.mathType, r.memory};
        if (!fallback) fallback = &r;
    }
    AGCNN_CHECK(fallback != nullptr, "cuDNN found no usable ", direction,
                " convolution algorithm in ", precision_name(plan.precision), " for this shape");
    std::fprintf(stderr, "agcnn: warning: cuDNN has no deterministic %s convolution algorithm for "
                         "one shape; using a non-deterministic one\n", direction);
    return {static_cast<int>(fallback->algo), fallback->mathType, fallback->memory};
}

// The algorithm of one direction of the plan, searched on first use: `max_count(handle, &n)`
// gives the number of candidates, `search(perf_results, &returned, workspace, bytes)` runs
// cudnnFind*AlgorithmEx.
template <class Perf, class MaxCount, class Search>
const ConvAlgorithm& algorithm(std::optional<ConvAlgorithm>& slot, ConvPlan& plan, int device,
                               const char* direction, MaxCount max_count, Search search) {
    if (!slot) {
        int count = 0;
        AGCNN_CUDNN_CHECK(max_count(cudnn(device), &count));
        AGCNN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, plan.allowed_math()));
        std::vector<Perf> results(static_cast<std::size_t>(count));
        int returned = 0;
        const SearchWorkspace search_space(device);
        AGCNN_CUDNN_CHECK(search(results.data(), count, &returned, search_space.data(),
                                 search_space.bytes()));
        slot = choose(results, returned, plan, direction);
    }
    AGCNN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, slot->math));
    return *slot;
}

// The operands of one call, rounded to bfloat16 in bf16 mode (FP32 pointers otherwise).
struct ConvOperand {
    ConvOperand(const float* data, std::int64_t n, int device, Precision precision) : fp32(data) {
        if (precision == Precision::bf16 && n > 0) bf16.emplace(data, n, device);
    }
    void* get() const {
        return bf16 ? static_cast<void*>(bf16->data()) : const_cast<float*>(fp32);
    }
    // After cuDNN wrote into get(): the FP32 result in `out`.
    void widen_into(float* out) const {
        if (bf16) bf16->widen_into(out);
    }
    const float* fp32;
    std::optional<Bf16Buffer> bf16;
};

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

// ---- kernel launchers -----------------------------------------------------------------------

void conv2d_forward(float* y, const float* x, const float* w, const ConvGeometry& g) {
    AGCNN_CHECK(y && x && w && g.n > 0 && g.oh > 0 && g.ow > 0, "conv2d_forward: bad arguments");
    const int device = device_of(x);
    DeviceScope scope(device);
    const Precision precision = cuda::precision();
    ConvOperand xo(x, g.n * g.h * g.w * g.c, device, precision);
    ConvOperand wo(w, g.o * g.k(), device, precision);
    ConvOperand yo(precision == Precision::bf16 ? nullptr : y, g.n * g.oh * g.ow * g.o, device,
                   precision);
    const cudnnHandle_t handle = cudnn(device);
    std::lock_guard<std::mutex> lock(plans_mutex);
    ConvPlan& plan = conv_plan(g, device, precision);
    const ConvAlgorithm& a = algorithm<cudnnConvolutionFwdAlgoPerf_t>(
        plan.forward, plan, device, "forward", cudnnGetConvolutionForwardAlgorithmMaxCount,
        [&](auto* perf, int count, int* returned, void* ws, std::size_t bytes) {
            return cudnnFindConvolutionForwardAlgorithmEx(handle, plan.x, xo.get(), plan.w,
                                                          wo.get(), plan.conv, plan.y, yo.get(),
                                                          count, returned, perf, ws, bytes);
        });
    AGCNN_CUDNN_CHECK(cudnnConvolutionForward(
        handle, &kOne, plan.x, xo.get(), plan.w, wo.get(), plan.conv,
        static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), workspace(device, a.workspace),
        a.workspace, &kZero, plan.y, yo.get()));
    yo.widen_into(y);
}

void conv2d_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                     const ConvGeometry& g) {
    AGCNN_CHECK(dy && x && w && g.n > 0, "conv2d_backward: bad arguments");
    if (!dx && !dw) return;
    const int device = device_of(dy);
    DeviceScope scope(device);
    const Precision precision = cuda::precision();
    const std::int64_t x_count = g.n * g.h * g.w * g.c, w_count = g.o * g.k();
    ConvOperand dyo(dy, g.n * g.oh * g.ow * g.o, device, precision);
    const cudnnHandle_t handle = cudnn(device);
    std::lock_guard<std::mutex> lock(plans_mutex);
    ConvPlan& plan = conv_plan(g, device, precision);
    if (dx) {
        ConvOperand wo(w, w_count, device, precision);
        ConvOperand dxo(precision == Precision::bf16 ? nullptr : dx, x_count, device, precision);
        const ConvAlgorithm& a = algorithm<cudnnConvolutionBwdDataAlgoPerf_t>(
            plan.backward_data, plan, device, "backward-data",
            cudnnGetConvolutionBackwardDataAlgorithmMaxCount,
            [&](auto* perf, int count, int* returned, void* ws, std::size_t bytes) {
                return cudnnFindConvolutionBackwardDataAlgorithmEx(
                    handle, plan.w, wo.get(), plan.y, dyo.get(), plan.conv, plan.x, dxo.get(),
                    count, returned, perf, ws, bytes);
            });
        AGCNN_CUDNN_CHECK(cudnnConvolutionBackwardData(
            handle, &kOne, plan.w, wo.get(), plan.y, dyo.get(), plan.conv,
            static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), workspace(device, a.workspace),
            a.workspace, &kZero, plan.x, dxo.get()));
        dxo.widen_into(dx);
    }
    if (dw) {
        ConvOperand xo(x, x_count, device, precision);
        ConvOperand dwo(precision == Precision::bf16 ? nullptr : dw, w_count, device, precision);
        const ConvAlgorithm& a = algorithm<cudnnConvolutionBwdFilterAlgoPerf_t>(
            plan.backward_filter, plan, device, "backward-filter",
            cudnnGetConvolutionBackwardFilterAlgorithmMaxCount,
            [&](auto* perf, int count, int* returned, void* ws, std::size_t bytes) {
                return cudnnFindConvolutionBackwardFilterAlgorithmEx(
                    handle, plan.x, xo.get(), plan.y, dyo.get(), plan.conv, plan.w, dwo.get(),
                    count, returned, perf, ws, bytes);
            });
        AGCNN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
            handle, &kOne, plan.x, xo.get(), plan.y, dyo.get(), plan.conv,
            static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), workspace(device, a.workspace),
            a.workspace, &kZero, plan.w, dwo.get()));
        dwo.widen_into(dw);
    }
}

}  // namespace agcnn::cuda
