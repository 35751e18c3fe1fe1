// agcnn/io/agcnn_weights.hpp — AG-CNN's three branches to and from one safetensors file.
//
// Names are the model's ("global.<torchvision name>", "local.<...>", "fusion.weight",
// "fusion.bias"), layouts PyTorch's (io/state_dict.hpp), so strip a branch's prefix and
// torchvision's ResNet-50 loads it. The metadata records base_width beside what the caller adds.
#pragma once

#include <map>
#include <string>

#include "agcnn/io/state_dict.hpp"
#include "agcnn/model/agcnn_model.hpp"

namespace agcnn::io {

// Every weight of the three branches, in one safetensors file, atomically.
inline void save_agcnn(model::AgCnn& net, const std::string& path,
                       const std::map<std::string, std::string>& metadata) {
    TensorFile file;
    file.metadata = metadata;
    file.metadata["base_width"] = std::to_string(net.config().base_width);
    append_state(file, net, "");
    write_safetensors(path, file);
}

// Strict load of all three branches (errors name the file and the mismatching tensors); other
// entries of the file (a checkpoint's optimizer state) are ignored.
inline void load_agcnn(model::AgCnn& net, const TensorFile& file, const std::string& path) {
    for (model::Branch b : model::kBranches)
        load_state(net.branch(b), file, std::string(model::branch_name(b)) + ".", path);
}

inline void load_agcnn(model::AgCnn& net, const std::string& path) {
    load_agcnn(net, read_safetensors(path), path);
}

}  // namespace agcnn::io
