// agcnn/io/convert_weights.hpp — turn a downloaded state_dict into agcnn weights: checked against
// the architecture, float32, PyTorch names and layouts, with provenance in __metadata__.
//
// Contract: convert_weights(source, provenance, options) compares `source` (from read_weights)
// with the state of an nn::ResNet50 (torchvision names) the way PyTorch's
// load_state_dict(strict=True) does, and throws one agcnn::Error naming the file and listing
// every missing, unexpected and wrong-shaped name. The network's width is read from the file's
// conv1.weight (64 for torchvision's ResNet-50; fewer for the narrow copies the tests use) and the
// classifier's size from its fc.weight (1000 for ImageNet). On success it returns every tensor of
// the source in the model's state order, under its own name, as F32 in the shape the file had
// (conv weights stay OIHW; the engine transposes on load).
// Policies, also in docs/weights.md:
//   fc           the classifier (fc.weight [1000, 2048], fc.bias [1000] for ImageNet) is kept and
//                checked like the rest; drop_fc leaves it out; a source without one converts
//                without one. AG-CNN's training loads every tensor but fc (train/run.hpp).
//   num_batches_tracked  dropped: batch norm uses it only when momentum is None, which neither
//                torchvision's ResNet-50 nor agcnn does; files without it (torchvision's own
//                downloads) and with it convert to the same weights. The count dropped is
//                recorded in the metadata.
//   dtypes       F16, BF16 and F64 become F32 (F64 rounds to nearest); an integer tensor where
//                the model has a float one is an error.
//   NaN, Inf     refused, naming the tensor: such weights compute nothing meaningful.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agcnn/io/state_dict.hpp"
#include "agcnn/io/torch_file.hpp"
#include "agcnn/nn/resnet50.hpp"

namespace agcnn::io {

struct ConvertOptions {
    std::string arch = "resnet50";
    bool drop_fc = false;  // leave out the source's classifier (fc.weight, fc.bias)
};

// Where the weights came from, for the metadata and the messages.
struct Provenance {
    std::string path;
    std::string sha256;
    WeightFormat format = WeightFormat::safetensors;
};

inline constexpr const char* weights_format_version = "1";

inline bool is_batch_counter(const std::string& name) {
    const std::string suffix = ".num_batches_tracked";
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline bool is_float_dtype(const std::string& dtype) {
    return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64";
}

// "missing (2): a, b; unexpected (1): c" with at most `shown` names per list.
inline std::string name_lists(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& lists,
    std::size_t shown = 8) {
    std::string out;
    for (const auto& [what, names] : lists) {
        if (names.empty()) continue;
        out += (out.empty() ? "" : "; ") + what + " (" + std::to_string(names.size()) + "): ";
        for (std::size_t i = 0; i < names.size() && i < shown; ++i)
            out += (i ? ", " : "") + names[i];
        if (names.size() > shown) out += ", ...";
    }
    return out;
}

inline TensorFile convert_weights(const TensorFile& source, const Provenance& from,
                                  const ConvertOptions& options) {
    AGCNN_CHECK(options.arch == "resnet50", "unknown architecture '", options.arch,
                "' (supported: resnet50)");
    const TensorRecord* conv1 = source.find("conv1.weight");
    const TensorRecord* fc = source.find("fc.weight");
    const std::int64_t width = conv1 && conv1->shape.size() == 4 ? conv1->shape[0] : 64;
    const std::int64_t classes = fc && fc->shape.size() == 2 ? fc->shape[0] : 1000;
    AGCNN_CHECK(width >= 1 && width <= 64, from.path, ": conv1.weight has ", width,
                " filters; a ResNet-50 has 64 (or fewer, for a narrow copy)");
    AGCNN_CHECK(classes >= 1 && classes <= 100000, from.path, ": fc.weight has ", classes, " classes");
    const bool keep_fc = fc != nullptr && !options.drop_fc;
    nn::ResNet50 model(nn::ResNetConfig{classes, nn::GlobalPool::avg, width, 0});
    const auto is_dropped_fc = [&](const std::string& name) {
        return !keep_fc && name.rfind("fc.", 0) == 0;
    };
    std::map<std::string, Shape> expected;
    std::vector<std::string> order;
    for (const auto& e : model.state()) {
        if (e.counter || is_dropped_fc(e.name)) continue;
        expected[e.name] = disk_shape(e);
        order.push_back(e.name);
    }
    std::vector<std::string> missing, unexpected, wrong_shape, wrong_dtype;
    std::map<std::string, const TensorRecord*> found;
    std::size_t counters = 0;
    for (const auto& record : source.tensors) {
        if (is_batch_counter(record.name)) {
            ++counters;
            continue;
        }
        if (is_dropped_fc(record.name)) continue;
        const auto it = expected.find(record.name);
        if (it == expected.end()) {
            unexpected.push_back(record.name);
        } else if (record.shape != it->second) {
            wrong_shape.push_back(record.name + " (file " + shape_str(record.shape) + ", model " +
                                  shape_str(it->second) + ")");
        } else if (!is_float_dtype(record.dtype)) {
            wrong_dtype.push_back(record.name + " (" + record.dtype + ")");
        } else {
            found[record.name] = &record;
        }
    }
    for (const auto& name : order)
        if (!source.find(name)) missing.push_back(name);
    const std::string problems = name_lists({{"missing", missing},
                                             {"unexpected", unexpected},
                                             {"wrong shape", wrong_shape},
                                             {"not floating point", wrong_dtype}});
    AGCNN_CHECK(problems.empty(), from.path, ": weights do not match ", options.arch, ": ",
                problems);

    TensorFile out;
    out.metadata = {{"format", "agcnn-weights"},
                    {"format_version", weights_format_version},
                    {"arch", options.arch},
                    {"base_width", std::to_string(width)},
                    {"fc", keep_fc ? "kept (" + std::to_string(classes) + " classes)"
                           : fc    ? "dropped"
                                   : "absent in the source"},
                    {"num_batches_tracked", "dropped (" + std::to_string(counters) + ")"},
                    {"source_file", std::filesystem::path(from.path).filename().string()},
                    {"source_format", format_name(from.format)},
                    {"source_sha256", from.sha256}};
    for (const auto& name : order) {
        const TensorRecord& record = *found.at(name);
        const std::vector<float> values = record.to_finite_float32(from.path);
        out.add_f32(name, record.shape, values.data());
    }
    return out;
}

}  // namespace agcnn::io
