// agcnn.hpp — the whole engine in one include. Start reading here.
//
// agcnn is a deep-learning engine written for one model, AG-CNN (Guan et al. 2018, arXiv
// 1801.09927), that anyone can read and audit. Layers, each including only those above it here:
//
//   core/      Tensor (float32, contiguous, NHWC images, shared storage, 64-byte aligned),
//              Device, Error, Rng, threads.
//   autograd/  Node (one recorded op), backward() (reverse mode over the DAG), NoGradGuard.
//   ops/       one op per header, forward and backward side by side: conv2d (and
//              conv2d_affine, its inference-only form with batch norm, residual and ReLU in the
//              GEMM's epilogue), batch_norm (optionally + residual, then ReLU, in one pass), relu,
//              max_pool2d, global_max_pool / global_avg_pool, linear, add, concat_channels,
//              sigmoid, bce_with_logits. CPU kernels (namespace agcnn::cpu) are templates so the
//              tests can run them in double; the float GEMMs run on ops/cpu/gemm.hpp's AVX-512 /
//              AVX2 kernels; CUDA launchers live in kernels/.
//   nn/        Module (named parameters and buffers, train/eval, freezing), Conv2d,
//              BatchNorm2d, conv_bn (conv + batch norm [+ residual] [+ ReLU], folded into the
//              GEMM in CPU inference), Linear, Bottleneck, ResNet50 with torchvision's names.
//   optim/     Adam and SGD with torch.optim semantics, step learning-rate decay.
//   io/        safetensors, .npy, module state in PyTorch's names and layouts, atomic writes,
//              and the PyTorch .pth readers (zip, legacy, a pickle machine that runs no code).
//
// AG-CNN itself sits above the engine (include those headers directly; this one is the engine):
//   model/     attention (heatmap, mask at tau, largest region, box) and the three branches.
//   data/      ChestX-ray14 readers, splits, transforms, the packed cache, the loader, the
//              local-branch crop from the source image, synthetic chest X-rays.
//   metrics/   exact AUROC, localization hit rates.
//   train/     the three training stages, checkpoints and resume, evaluation, report, demo.
//
// A training step, end to end:
//
//   agcnn::nn::ResNet50 net({.classes = 15, .pool = agcnn::nn::GlobalPool::max});
//   agcnn::io::load_module("imagenet.safetensors", net);          // optional
//   agcnn::optim::Adam adam(net.named_parameters(), {.lr = 1e-4});
//   agcnn::Tensor x = ...;                         // [N, 224, 224, 3], normalised
//   agcnn::Tensor y = ...;                         // [N, 15] in {0, 1}
//   agcnn::Tensor loss = agcnn::ops::bce_with_logits(net.forward(x), y);
//   adam.zero_grad();
//   agcnn::backward(loss);                         // fills every parameter's grad()
//   adam.step();
//
// Conventions: images NHWC; conv weights OHWI inside, OIHW on disk; gradients accumulate into
// parameters (+=) and are assigned for activations (=), in autograd/backward.hpp only; every
// error is an agcnn::Error whose message names the file or the shapes involved.
#pragma once

#include "agcnn/autograd/backward.hpp"
#include "agcnn/autograd/grad_mode.hpp"
#include "agcnn/core/layout.hpp"
#include "agcnn/core/rng.hpp"
#include "agcnn/core/tensor.hpp"
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
