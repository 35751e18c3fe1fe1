// agcnn/backend/cuda.hpp — the CUDA backend as the engine sees it: plain C++ declarations (no
// CUDA headers), visible in every build, defined in kernels/ and linked from the static library
// agcnn_cuda when the build has the CUDA backend (core/build.hpp).
//
// The ops, the optimizers and gradient accumulation (autograd/backward.hpp) call these functions
// through backend/dispatch.hpp for tensors on a CUDA device; a build without the backend never
// instantiates those calls, so it links without definitions. The device memory functions the
// core needs (allocate, release, copy, fill) are declared in core/device.hpp. Every pointer is
// device memory of the device the tensors live on (found from the pointer), shapes are those of
// the matching CPU kernel in namespace agcnn::cpu (include/agcnn/ops, include/agcnn/optim), and
// every function follows its CPU kernel's contract:
//   - activation gradients are assigned (=); parameter gradients (dw, dgamma, ...) are assigned
//     too, and autograd/backward.hpp accumulates them (+=) out of place;
//   - work is queued on the device's one stream, in order; results are visible to every later
//     launch and to host copies (cuda::copy_bytes synchronises);
//   - every CUDA, cuBLAS and cuDNN error becomes an agcnn::Error naming file and line.
// Each group below names the file of kernels/ that implements it: runtime.cu is a translation
// unit of its own; the .cuh files are compiled through kernels.cu (own kernels) and libraries.cu
// (cuDNN and cuBLAS).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agcnn/core/geometry.hpp"
#include "agcnn/backend/types.hpp"

namespace agcnn::cuda {

// ---- runtime (runtime.cu) -----------------------------------------------------------------

// Devices present; 0 when there is no driver or no device (never throws).
int device_count();
std::string device_name(int device);
// Waits until all work queued on the device is done.
void synchronize(int device);

// Conv and linear arithmetic for all devices (see agcnn/backend/types.hpp); fp32 by default.
void set_precision(Precision precision);
Precision precision();
Precision parse_precision(const std::string& text);  // "fp32", "tf32" or "bf16"
const char* precision_name(Precision precision);

// ---- NCCL (nccl.cu; only when the build has NCCL: kNcclBuilt, core/build.hpp) ---------------
// Data-parallel training (train/mpi_communicator.hpp): one NCCL communicator per process, on one
// device, joined by every rank with the unique id rank 0 made (bytes, broadcast over MPI).
std::string nccl_unique_id();
void nccl_init(const std::string& unique_id, int rank, int ranks, int device);
// Sums n floats in place across the ranks, on NCCL's own stream once the device's stream has
// reached this point (so it overlaps the compute queued after it).
void nccl_start_sum(float* data, std::int64_t n, int device);
// The device's stream waits for every sum started.
void nccl_wait(int device);
// Rank 0's n floats to every rank, queued on the device's stream.
void nccl_broadcast(float* data, std::int64_t n, int device);
void nccl_finalize();

// ---- elementwise (elementwise.cuh) ---------------------------------------------------------
void relu_forward(float* y, const float* x, std::int64_t n);
void relu_backward(float* dx, const float* dy, const float* y, std::int64_t n);
void sigmoid_forward(float* y, const float* x, std::int64_t n);
void sigmoid_backward(float* dx, const float* dy, const float* y, std::int64_t n);
void add_forward(float* y, const float* a, const float* b, std::int64_t n);
// y [rows, ca + cb] from a [rows, ca], b [rows, cb]; either of da, db may be null.
void concat_forward(float* y, const float* a, const float* b, std::int64_t rows, std::int64_t ca,
                    std::int64_t cb);
void concat_backward(float* da, float* db, const float* dy, std::int64_t rows, std::int64_t ca,
                     std::int64_t cb);

// ---- pooling (pool.cuh) --------------------------------------------------------------------
// The returned buffer holds the int32 argmax on the device; backward needs it back.
std::shared_ptr<void> max_pool2d_forward(float* y, const float* x, const PoolGeometry& g);
void max_pool2d_backward(float* dx, const float* dy, const void* argmax, const PoolGeometry& g);
std::shared_ptr<void> global_max_pool_forward(float* y, const float* x, std::int64_t n,
                                              std::int64_t hw, std::int64_t c);
void global_max_pool_backward(float* dx, const float* dy, const void* argmax, std::int64_t n,
                              std::int64_t hw, std::int64_t c);
void global_avg_pool_forward(float* y, const float* x, std::int64_t n, std::int64_t hw,
                             std::int64_t c);
void global_avg_pool_backward(float* dx, const float* dy, std::int64_t n, std::int64_t hw,
                              std::int64_t c);

// ---- batch norm (batch_norm.cuh) -----------------------------------------------------------
void batch_norm_forward(float* y, float* mean_used, float* invstd_used, const float* x,
                        const float* gamma, const float* beta, float* running_mean,
                        float* running_var, std::int64_t rows, std::int64_t c, bool training,
                        double momentum, double eps);
// dx may be null; dgamma, dbeta are always written.
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, const float* mean_used, const float* invstd_used,
                         std::int64_t rows, std::int64_t c, bool training);

// ---- convolution, cuDNN (conv2d.cuh) -------------------------------------------------------
void conv2d_forward(float* y, const float* x, const float* w, const ConvGeometry& g);
// Either of dx, dw may be null (not wanted).
void conv2d_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                     const ConvGeometry& g);

// ---- linear, cuBLAS (linear.cuh) -----------------------------------------------------------
// b may be null; any of dx, dw, db may be null.
void linear_forward(float* y, const float* x, const float* w, const float* b, std::int64_t n,
                    std::int64_t in, std::int64_t out);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, std::int64_t n, std::int64_t in, std::int64_t out);

// ---- optimizers (optim.cuh) ----------------------------------------------------------------
void adam_update(float* p, float* m, float* v, const float* g, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, std::int64_t step);
void sgd_update(float* p, float* buf, const float* g, std::int64_t n, double lr, double momentum,
                double dampening, double weight_decay, bool nesterov, bool first_step);

// ---- AG-CNN (attention.cuh, image.cuh) -----------------------------------------------------
// heat [n, hw] = statistic over c of |features[n, hw, c]| (model::channel_statistic).
void attention_heatmap(float* heat, const float* features, std::int64_t n, std::int64_t hw,
                       std::int64_t c, HeatmapStatistic statistic);
// y [n, oh, ow, c] = boxes_host[i] of x [n, h, w, c] resized bilinearly (half-pixel centres,
// clamped inside the box). boxes_host: n boxes in host memory, integer edges,
// 0 <= x0 < x1 <= w, same for y.
void crop_resize(float* y, const float* x, const Box* boxes_host, std::int64_t n,
                 std::int64_t h, std::int64_t w, std::int64_t c, std::int64_t oh,
                 std::int64_t ow);
// y [n, h, w, c] float = normalised x [n, h, w, c] uint8 (device); flip_host: n flags in host
// memory (flip image i horizontally when nonzero) or null. c <= kMaxImageChannels.
void normalize_images(float* y, const std::uint8_t* x, const std::uint8_t* flip_host,
                      std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                      const ImageNormalization& norm);

}  // namespace agcnn::cuda
