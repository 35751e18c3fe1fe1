// agcnn/nn/bottleneck.hpp — torchvision's Bottleneck block (ResNet v1.5: the stride is on the
// 3x3 convolution, conv2, not on the first 1x1).
//
// forward: x [N, H, W, In] -> [N, H/s, W/s, 4*Width]
//   out = relu(bn1(conv1 1x1(x)))            In    -> Width
//   out = relu(bn2(conv2 3x3 stride s(out)))  Width -> Width
//   out = bn3(conv3 1x1(out))                 Width -> 4*Width
//   out = relu(out + identity), identity = downsample(x) (1x1 conv stride s + bn, named
//   "downsample.0" and "downsample.1") when the shape changes, else x.
#pragma once

#include <memory>

#include "agcnn/nn/conv_bn.hpp"

namespace agcnn::nn {

// torch.nn.Sequential(conv1x1, bn), with PyTorch's child names "0" and "1".
class Downsample : public Module {
public:
    Downsample(std::int64_t in, std::int64_t out, std::int64_t stride, Rng& rng)
        : conv(register_module("0", std::make_unique<Conv2d>(in, out, 1, stride, 0, rng))),
          bn(register_module("1", std::make_unique<BatchNorm2d>(out))) {}
    Tensor forward(const Tensor& x) { return conv_bn(conv, bn, x); }

    Conv2d& conv;
    BatchNorm2d& bn;
};

class Bottleneck : public Module {
public:
    static constexpr std::int64_t expansion = 4;

    Bottleneck(std::int64_t in, std::int64_t width, std::int64_t stride, Rng& rng)
        : conv1(register_module("conv1", std::make_unique<Conv2d>(in, width, 1, 1, 0, rng))),
          bn1(register_module("bn1", std::make_unique<BatchNorm2d>(width))),
          conv2(register_module("conv2", std::make_unique<Conv2d>(width, width, 3, stride, 1, rng))),
          bn2(register_module("bn2", std::make_unique<BatchNorm2d>(width))),
          conv3(register_module("conv3",
                                std::make_unique<Conv2d>(width, width * expansion, 1, 1, 0, rng))),
          bn3(register_module("bn3", std::make_unique<BatchNorm2d>(width * expansion))) {
        if (stride != 1 || in != width * expansion)
            downsample = &register_module(
                "downsample", std::make_unique<Downsample>(in, width * expansion, stride, rng));
    }

    Tensor forward(const Tensor& x) {
        Tensor out = conv_bn(conv1, bn1, x, Tensor(), true);
        out = conv_bn(conv2, bn2, out, Tensor(), true);
        const Tensor identity = downsample ? downsample->forward(x) : x;
        return conv_bn(conv3, bn3, out, identity, true);  // relu(bn3(conv3(out)) + identity)
    }

    Conv2d& conv1;
    BatchNorm2d& bn1;
    Conv2d& conv2;
    BatchNorm2d& bn2;
    Conv2d& conv3;
    BatchNorm2d& bn3;
    Downsample* downsample = nullptr;
};

}  // namespace agcnn::nn
