// agcnn/model/agcnn_model.hpp — the three branches of AG-CNN (Guan et al. 2018, section 3).
//
//   global  ResNet-50 (torchvision v1.5), global max pooling, fc 2048 -> 15, on the whole image
//   local   the same network with its own weights, on the attention crop
//   fusion  fc 4096 -> 15 over concat(global pooled, local pooled)
// Each branch's output is logits; sigmoid gives probabilities (the loss is BCE with logits).
// Weight names on disk are "global.<torchvision name>", "local.<...>", "fusion.weight",
// "fusion.bias", so each branch loads into torchvision's ResNet-50 after stripping its prefix.
// `base_width` < 64 gives a narrow copy of the same topology (tests and the demo); the fusion
// layer then has 2 * 32 * base_width inputs.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "agcnn/data/labels.hpp"
#include "agcnn/io/state_dict.hpp"
#include "agcnn/nn/resnet50.hpp"
#include "agcnn/ops/concat.hpp"

namespace agcnn::model {

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

    const AgCnnConfig& config() const { return config_; }

    // Every weight of the three branches, in one safetensors file, atomically.
    void save(const std::string& path, const std::map<std::string, std::string>& metadata) {
        io::TensorFile file;
        file.metadata = metadata;
        file.metadata["base_width"] = std::to_string(config_.base_width);
        io::append_state(file, *this, "");
        io::write_safetensors(path, file);
    }
    // Strict load of all three branches (errors name the file and the mismatching tensors);
    // other entries of the file (a checkpoint's optimizer state) are ignored.
    void load(const io::TensorFile& file, const std::string& path) {
        io::load_state(global, file, "global.", path);
        io::load_state(local, file, "local.", path);
        io::load_state(fusion, file, "fusion.", path);
    }
    void load(const std::string& path) { load(io::read_safetensors(path), path); }

private:
    static std::unique_ptr<nn::ResNet50> make_branch(const AgCnnConfig& c, std::uint64_t offset) {
        return std::make_unique<nn::ResNet50>(
            nn::ResNetConfig{data::kLabelCount, nn::GlobalPool::max, c.base_width, c.seed + offset});
    }
    static std::unique_ptr<nn::Linear> make_fusion(const AgCnnConfig& c, std::int64_t features) {
        Rng rng(c.seed + 2);
        return std::make_unique<nn::Linear>(2 * features, data::kLabelCount, rng);
    }

    AgCnnConfig config_;

public:
    nn::ResNet50& global;
    nn::ResNet50& local;
    nn::Linear& fusion;
};

}  // namespace agcnn::model
