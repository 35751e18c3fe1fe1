// agcnn.hpp — the whole engine in one include. Start reading here.
//
// agcnn is a deep-learning engine written for one model, AG-CNN (Guan et al. 2018, arXiv
// 1801.09927), that anyone can read and audit. Each folder is one layer and includes only the
// layers above it in this list:
//
//   core/      Tensor (float32, contiguous, NHWC images, shared storage, 64-byte aligned), Device
//              and device memory, Error, Rng, threads, geometry (conv and pool sizes, the one Box
//              type), Reporter (how the library reports progress: it never prints).
//   backend/   the CPU/CUDA dispatch every op goes through, and the declarations of the CUDA
//              backend (backend/cuda.hpp) that kernels/ implements; select_device().
//   autograd/  Node (one recorded op), backward() (reverse mode over the DAG), NoGradGuard.
//   ops/       one op per header, forward and backward side by side: conv2d (and
//              conv2d_affine, its inference-only form with batch norm, residual and ReLU in the
//              GEMM's epilogue), batch_norm (optionally + residual, then ReLU, in one pass), relu,
//              max_pool2d, global_max_pool / global_avg_pool, linear, add, concat_channels,
//              sigmoid, bce_with_logits. CPU kernels (namespace agcnn::cpu) are templates so the
//              tests can run them in double; the float GEMMs run on ops/cpu/gemm.hpp's AVX-512 /
//              AVX2 kernels.
//   nn/        Module (named parameters and buffers, train/eval, freezing), Conv2d,
//              BatchNorm2d, conv_bn (conv + batch norm [+ residual] [+ ReLU], folded into the
//              GEMM in CPU inference), Linear, Bottleneck, ResNet50 with torchvision's names.
//   optim/     Adam and SGD with torch.optim semantics, step learning-rate decay.
//
// AG-CNN sits above the engine (include those headers directly; this one is the engine):
//   model/     the 15 labels, attention (heatmap, mask at tau, largest region, box), the three
//              branches (AgCnn) and model::forward, the one pass through them.
//   data/ metrics/ io/
//              ChestX-ray14 readers, splits, transforms, the packed cache, the loader, the
//              local-branch crop from the source image, synthetic X-rays; AUROC and localization
//              hit rates; safetensors, .npy, module state in PyTorch's names and layouts, atomic
//              writes, the PyTorch .pth readers (a pickle machine that runs no code).
//   train/     the three training stages, checkpoints and exact resume.
//   app/       what a user asks for by name: evaluation of a run, predict, the report, the demo.
// kernels/ (CUDA) implements backend/cuda.hpp and sees only core/ and backend/; tools/ is the
// command line, thin: flags, the progress bar, printing.
//
// The tutorial below is compiled and run by the tests (tests/CMakeLists.txt extracts it from this
// comment), so it stays true. It trains a ResNet-50 for one step, then runs AG-CNN's five steps on
// an X-ray of any size. `base_width` 64 is the real network; the test runs a narrow one.
//
// ---- tutorial ----
// #include "agcnn/agcnn.hpp"
// #include "agcnn/data/local_crop.hpp"
// #include "agcnn/data/png.hpp"
// #include "agcnn/model/forward.hpp"
//
// // images [N, S, S, 3] normalised (ImageNet mean/std), labels [N, 15] in {0, 1}.
// agcnn::Tensor tutorial(const agcnn::Tensor& images, const agcnn::Tensor& labels,
//                        const std::string& xray_png, std::int64_t base_width) {
//     using namespace agcnn;
//     // A GPU when this build has the CUDA backend and the machine has one; else the CPU.
//     const Device device = cuda_device_count() > 0 ? Device::cuda(0) : Device::cpu();
//
//     // One training step: parameters move to the device once, each batch is moved as it comes.
//     nn::ResNet50 net({.classes = model::kLabelCount, .pool = nn::GlobalPool::max,
//                       .base_width = base_width, .seed = 1});
//     net.to(device);
//     optim::Adam adam(net.named_parameters(), {.lr = 1e-4});
//     const Tensor loss = ops::bce_with_logits(net.forward(images.to(device)), labels.to(device));
//     adam.zero_grad();
//     backward(loss);  // fills every parameter's grad()
//     adam.step();
//
//     // AG-CNN on one X-ray of any size: (1) the global branch on the 224 input made from it,
//     // (2) attention: heatmap, mask at tau, largest region, its box, (3) that box cut from the
//     // X-ray at full resolution, (4) the local branch on the crop, (5) fusion.
//     model::AgCnn agcnn({.base_width = base_width, .seed = 2});
//     agcnn.to(device);
//     const int size = static_cast<int>(images.dim(1));
//     data::TransformConfig transform = data::eval_transform(size);  // resize, centre crop
//     const data::Batch batch = data::inference_batch(
//         {std::make_shared<const data::GrayImage>(data::read_png(xray_png))}, {xray_png}, transform);
//     const model::CropFn crop = [&](const std::vector<Box>& boxes) {
//         return data::crop_local_batch(batch, boxes, size, transform);
//     };
//     model::ForwardOptions options;  // inference: every branch frozen, tau 0.7, max over channels
//     options.device = device;
//     const model::AgCnnOutputs out = model::forward(agcnn, batch.images, crop, options);
//     const Box box = out.attention[0].box;  // in input pixels; out.local_input holds the crop
//     AGCNN_CHECK(box.width() > 0 && out.local_input.dim(1) == size, "tutorial: no crop");
//     return out.fusion_logits.to(Device::cpu());  // [1, 15]; sigmoid gives probabilities
// }
// ---- end of tutorial ----
//
// Conventions: images NHWC; conv weights OHWI inside, OIHW on disk; gradients accumulate into
// parameters (+=) and are assigned for activations (=), in autograd/backward.hpp only; every
// error is an agcnn::Error whose message names the file or the shapes involved.
#pragma once

#include "agcnn/autograd/backward.hpp"
#include "agcnn/autograd/grad_mode.hpp"
#include "agcnn/backend/device_select.hpp"
#include "agcnn/core/layout.hpp"
#include "agcnn/core/rng.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/core/cpu_sharing.hpp"
#include "agcnn/core/threads.hpp"
#include "agcnn/io/npy.hpp"
#include "agcnn/io/safetensors.hpp"
#include "agcnn/io/state_dict.hpp"
#include "agcnn/nn/resnet50.hpp"
#include "agcnn/ops/add.hpp"
#include "agcnn/ops/batch_norm.hpp"
#include "agcnn/ops/bce_with_logits.hpp"
#include "agcnn/ops/concat.hpp"
#include "agcnn/ops/conv2d.hpp"
#include "agcnn/ops/global_pool.hpp"
#include "agcnn/ops/linear.hpp"
#include "agcnn/ops/max_pool2d.hpp"
#include "agcnn/ops/relu.hpp"
#include "agcnn/ops/sigmoid.hpp"
#include "agcnn/optim/adam.hpp"
#include "agcnn/optim/sgd.hpp"
