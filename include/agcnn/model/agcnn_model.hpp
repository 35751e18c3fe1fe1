// agcnn/model/agcnn_model.hpp — the three branches of AG-CNN (Guan et al. 2018, section 3).
//
//   global  ResNet-50 (torchvision v1.5), global max pooling, fc 2048 -> 15, on the whole image
//   local   the same network with its own weights, on the attention crop
//   fusion  fc 4096 -> 15 over concat(global pooled, local pooled)
// Each branch's output is logits; sigmoid gives probabilities (the loss is BCE with logits).
// Module names are "global.<torchvision name>", "local.<...>", "fusion.weight", "fusion.bias",
// so each branch loads into torchvision's ResNet-50 after stripping its prefix (the files are
// io/agcnn_weights.hpp's). `base_width` < 64 gives a narrow copy of the same topology (tests and
// the demo); the fusion layer then has 2 * 32 * base_width inputs.
// How one batch runs through the three branches is model/forward.hpp.
#pragma once

#include <memory>
#include <string>

#include "agcnn/model/labels.hpp"
#include "agcnn/nn/resnet50.hpp"
#include "agcnn/ops/concat.hpp"

namespace agcnn::model {

// The branches, in the order the paper trains them (stages I, II, III).
enum class Branch { global, local, fusion };
constexpr Branch kBranches[] = {Branch::global, Branch::local, Branch::fusion};

inline const char* branch_name(Branch b) {
    return b == Branch::global ? "global" : b == Branch::local ? "local" : "fusion";
}

inline Branch parse_branch(const std::string& text) {
    for (Branch b : kBranches)
        if (text == branch_name(b)) return b;
    throw Error("bad branch '" + text + "': expected global, local or fusion");
}

struct AgCnnConfig {
    std::int64_t base_width = 64;
    std::uint64_t seed = 0;  // initial weights: global from seed, local seed + 1, fusion seed + 2
};

class AgCnn : public nn::Module {
public:
    explicit AgCnn(const AgCnnConfig& config)
        : config_(config),
          global(register_module("global", make_branch(config, 0))),
          local(register_module("local", make_branch(config, 1))),
          fusion(register_module("fusion", make_fusion(config, global.feature_channels()))) {}

    // pooled_global, pooled_local [N, F] -> fusion logits [N, 15].
    Tensor fuse(const Tensor& pooled_global, const Tensor& pooled_local) {
        return fusion.forward(ops::concat_channels(pooled_global, pooled_local));
    }

    nn::Module& branch(Branch b) {
        if (b == Branch::global) return global;
        if (b == Branch::local) return local;
        return fusion;
    }

    const AgCnnConfig& config() const { return config_; }

private:
    static std::unique_ptr<nn::ResNet50> make_branch(const AgCnnConfig& c, std::uint64_t offset) {
        return std::make_unique<nn::ResNet50>(
            nn::ResNetConfig{kLabelCount, nn::GlobalPool::max, c.base_width, c.seed + offset});
    }
    static std::unique_ptr<nn::Linear> make_fusion(const AgCnnConfig& c, std::int64_t features) {
        Rng rng(c.seed + 2);
        return std::make_unique<nn::Linear>(2 * features, kLabelCount, rng);
    }

    AgCnnConfig config_;

public:
    nn::ResNet50& global;
    nn::ResNet50& local;
    nn::Linear& fusion;
};

}  // namespace agcnn::model
