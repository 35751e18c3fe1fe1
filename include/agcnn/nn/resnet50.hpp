// agcnn/nn/resnet50.hpp — torchvision.models.resnet50 (v1.5), with a choice of global pooling.
//
// forward: x [N, H, W, 3] (NHWC, normalised) -> ResNetOutput:
//   features [N, H/32, W/32, 2048]  the last conv block's output (layer4), which AG-CNN's
//                                   attention reads (7x7 for a 224 input)
//   pooled   [N, 2048]              global max (AG-CNN, paper section 3.1) or average
//                                   (torchvision) pooling of features
//   logits   [N, classes]           fc(pooled)
// Parameter names are torchvision's: conv1.weight, bn1.*, layer1.0.conv1.weight, ...,
// layer1.0.downsample.0.weight, fc.weight, fc.bias. With 1000 classes and base width 64 the
// network has 25,557,032 parameters, as torchvision's.
// Each CPU forward first lets the CPU sharing (core/cpu_sharing.hpp) look at the machine.
// `base_width` scales every channel count (64 in ResNet-50); tests use a narrow copy of the
// same topology so PyTorch reference files stay small.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agcnn/core/cpu_sharing.hpp"
#include "agcnn/nn/bottleneck.hpp"
#include "agcnn/nn/linear.hpp"
#include "agcnn/ops/global_pool.hpp"
#include "agcnn/ops/max_pool2d.hpp"

namespace agcnn::nn {

enum class GlobalPool { max, avg };

inline GlobalPool parse_global_pool(const std::string& text) {
    if (text == "max") return GlobalPool::max;
    if (text == "avg") return GlobalPool::avg;
    throw Error("bad pooling '" + text + "': expected max or avg");
}

struct ResNetConfig {
    std::int64_t classes = 1000;
    GlobalPool pool = GlobalPool::avg;
    std::int64_t base_width = 64;
    std::uint64_t seed = 0;  // for the initial weights
};

struct ResNetOutput {
    Tensor features, pooled, logits;
};

// torch.nn.Sequential of Bottlenecks, children named "0", "1", ...
class ResNetLayer : public Module {
public:
    ResNetLayer(std::int64_t in, std::int64_t width, int blocks, std::int64_t stride, Rng& rng) {
        for (int i = 0; i < blocks; ++i) {
            const std::int64_t block_in = i == 0 ? in : width * Bottleneck::expansion;
            blocks_.push_back(&register_module(
                std::to_string(i),
                std::make_unique<Bottleneck>(block_in, width, i == 0 ? stride : 1, rng)));
        }
    }
    Tensor forward(Tensor x) {
        for (Bottleneck* block : blocks_) x = block->forward(x);
        return x;
    }

private:
    std::vector<Bottleneck*> blocks_;
};

class ResNet50 : public Module {
public:
    explicit ResNet50(const ResNetConfig& config) : ResNet50(config, Rng(config.seed)) {}

    ResNetOutput forward_all(const Tensor& x) {
        AGCNN_CHECK(x.rank() == 4 && x.dim(3) == 3, "ResNet50: expected input [N, H, W, 3], got ",
                    shape_str(x.shape()));
        if (x.device().kind == Device::Kind::cpu) share_cpus_between_steps();  // a step's boundary
        Tensor out = conv_bn(conv1, bn1, x, Tensor(), true);
        out = ops::max_pool2d(out, 3, 2, 1);
        out = layer1.forward(out);
        out = layer2.forward(out);
        out = layer3.forward(out);
        ResNetOutput result;
        result.features = layer4.forward(out);
        result.pooled = config_.pool == GlobalPool::max ? ops::global_max_pool(result.features)
                                                        : ops::global_avg_pool(result.features);
        result.logits = fc.forward(result.pooled);
        return result;
    }
    Tensor forward(const Tensor& x) { return forward_all(x).logits; }

    const ResNetConfig& config() const { return config_; }
    std::int64_t feature_channels() const { return config_.base_width * 8 * Bottleneck::expansion; }

private:
    ResNet50(const ResNetConfig& config, Rng&& rng)
        : config_(config),
          conv1(register_module("conv1",
                                std::make_unique<Conv2d>(3, config.base_width, 7, 2, 3, rng))),
          bn1(register_module("bn1", std::make_unique<BatchNorm2d>(config.base_width))),
          layer1(register_module("layer1", std::make_unique<ResNetLayer>(
                                               config.base_width, config.base_width, 3, 1, rng))),
          layer2(register_module("layer2",
                                 std::make_unique<ResNetLayer>(config.base_width * 4,
                                                               config.base_width * 2, 4, 2, rng))),
          layer3(register_module("layer3",
                                 std::make_unique<ResNetLayer>(config.base_width * 8,
                                                               config.base_width * 4, 6, 2, rng))),
          layer4(register_module("layer4",
                                 std::make_unique<ResNetLayer>(config.base_width * 16,
                                                               config.base_width * 8, 3, 2, rng))),
          fc(register_module("fc", std::make_unique<Linear>(config.base_width * 32,
                                                            config.classes, rng))) {}

    ResNetConfig config_;

public:
    Conv2d& conv1;
    BatchNorm2d& bn1;
    ResNetLayer &layer1, &layer2, &layer3, &layer4;
    Linear& fc;
};

}  // namespace agcnn::nn
