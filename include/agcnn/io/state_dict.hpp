// agcnn/io/state_dict.hpp — modules to and from safetensors, in PyTorch's names and layouts.
//
// Saving writes each state entry under prefix + name: parameters and buffers as F32 in PyTorch's
// layout (conv weights transposed from the engine's OHWI to OIHW), counters as I64. The file
// can be loaded into torchvision's ResNet-50 after stripping the prefix.
//
// Loading compares the file with the module the way torch's load_state_dict(strict=True) does
// and reports missing keys, unexpected keys and shape mismatches together in one error; a tensor
// holding NaN or Inf is refused by name.
// num_batches_tracked may be absent (older PyTorch files lack it). Keys outside the prefix are
// ignored, so one AG-CNN file can feed each branch.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "agcnn/core/layout.hpp"
#include "agcnn/io/safetensors.hpp"
#include "agcnn/nn/module.hpp"

namespace agcnn::io {

// OHWI [O, KH, KW, C] <-> OIHW [O, C, KH, KW].
inline Shape oihw_shape(const Shape& ohwi) { return channels_first_shape(ohwi); }

inline std::vector<float> ohwi_to_oihw(const Tensor& t) {
    return to_channels_first(t.to_vector(), t.shape());
}

inline std::vector<float> oihw_to_ohwi(const std::vector<float>& src, const Shape& ohwi) {
    return to_channels_last(src, channels_first_shape(ohwi));
}

// The shape an entry has on disk.
inline Shape disk_shape(const nn::StateEntry& e) {
    if (e.counter) return {};
    return e.layout == nn::DiskLayout::conv_oihw ? oihw_shape(e.tensor->shape())
                                                 : e.tensor->shape();
}

// Appends the module's state to `file` under `prefix` (PyTorch names and layouts).
inline void append_state(TensorFile& file, nn::Module& module, const std::string& prefix) {
    for (const auto& e : module.state(prefix)) {
        if (e.counter) {
            file.add_i64(e.name, *e.counter);
        } else if (e.layout == nn::DiskLayout::conv_oihw) {
            const std::vector<float> values = ohwi_to_oihw(*e.tensor);
            file.add_f32(e.name, disk_shape(e), values.data());
        } else {
            const std::vector<float> values = e.tensor->to_vector();
            file.add_f32(e.name, e.tensor->shape(), values.data());
        }
    }
}

// Fills the module's state from `file` (names under `prefix`); strict: every entry must be
// present with its shape, and no other name may start with the prefix.
inline void load_state(nn::Module& module, const TensorFile& file, const std::string& prefix,
                       const std::string& path) {
    std::vector<std::string> missing, mismatched, unexpected;
    std::set<std::string> known;
    const auto entries = module.state(prefix);
    for (const auto& e : entries) {
        known.insert(e.name);
        const TensorRecord* record = file.find(e.name);
        if (!record) {
            if (!e.counter) missing.push_back(e.name);
            continue;
        }
        const Shape expected = disk_shape(e);
        if (record->shape != expected && !(e.counter && record->numel() == 1))
            mismatched.push_back(e.name + " (file " + shape_str(record->shape) + ", model " +
                                 shape_str(expected) + ")");
    }
    for (const auto& record : file.tensors)
        if (record.name.rfind(prefix, 0) == 0 && !known.count(record.name))
            unexpected.push_back(record.name);
    if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
        std::string message = path + ": weights do not match the model:";
        auto list = [&](const char* what, const std::vector<std::string>& names) {
            if (names.empty()) return;
            message += std::string(" ") + what + " (" + std::to_string(names.size()) + "): ";
            for (std::size_t i = 0; i < names.size() && i < 5; ++i)
                message += (i ? ", " : "") + names[i];
            if (names.size() > 5) message += ", ...";
            message += ";";
        };
        list("missing", missing);
        list("unexpected", unexpected);
        list("wrong shape", mismatched);
        message.pop_back();
        throw Error(message);
    }
    for (const auto& e : entries) {
        const TensorRecord* record = file.find(e.name);
        if (!record) continue;
        std::vector<float> values = record->to_finite_float32(path);
        if (e.counter) {
            *e.counter = static_cast<std::int64_t>(values.at(0));
            continue;
        }
        if (e.layout == nn::DiskLayout::conv_oihw) values = oihw_to_ohwi(values, e.tensor->shape());
        const Tensor host = Tensor::from_vector(e.tensor->shape(), values);
        copy_bytes(e.tensor->data(), e.tensor->device(), host.data(), Device::cpu(),
                   values.size() * sizeof(float));
    }
}

inline void save_module(const std::string& path, nn::Module& module,
                        const std::map<std::string, std::string>& metadata = {},
                        const std::string& prefix = "") {
    TensorFile file;
    file.metadata = metadata;
    append_state(file, module, prefix);
    write_safetensors(path, file);
}

inline void load_module(const std::string& path, nn::Module& module,
                        const std::string& prefix = "") {
    load_state(module, read_safetensors(path), prefix, path);
}

}  // namespace agcnn::io
