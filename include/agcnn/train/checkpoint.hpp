// agcnn/train/checkpoint.hpp — a training checkpoint: everything needed to continue a stage and
// end with the weights an uninterrupted run would have (same machine, threads and device).
//
// One safetensors file, written atomically (io/atomic_file.hpp), holding
//   - every weight of the model (global.*, local.*, fusion.*; batch-norm statistics included),
//   - the optimizer's state under "optimizer.<kind>.<name>" (Adam moments, SGD momentum
//     buffers, and for SGD which buffers have started),
//   - metadata: stage, epoch in progress, batches done in it, optimizer step count, the
//     epoch's running loss, the best validation AUROC so far and its epoch, whether the stage
//     has finished, the config, and "sha256": a digest of everything else in the file (every
//     tensor's name, shape and bytes, and the other metadata), which loading verifies, so a
//     flipped bit or a torn copy is refused instead of resuming into another model. The data order and augmentation draws are a function of
//     (seed, epoch) (the loader's contract), so (seed, epoch, batch) is the whole RNG state.
// Numbers are written with 17 significant digits, so they read back bit for bit. Loading with the
// running configuration refuses a checkpoint written by another one (seed, data, model, ...),
// naming the fields that differ.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "agcnn/io/agcnn_weights.hpp"
#include "agcnn/io/sha256.hpp"
#include "agcnn/optim/sgd.hpp"
#include "agcnn/train/config.hpp"

namespace agcnn::train {

struct StageState {
    int epoch = 0;                  // epoch in progress (0-based)
    std::int64_t batch = 0;         // batches of `epoch` already trained
    double loss_sum = 0;            // sum of the batch losses of `epoch` so far
    double best_auroc = std::numeric_limits<double>::quiet_NaN();
    int best_epoch = -1;
    bool finished = false;
};

namespace detail {
inline std::string exact(double v) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.17g", v);
    return buffer;
}
inline const std::string& meta(const io::TensorFile& f, const std::string& key,
                               const std::string& path) {
    const auto it = f.metadata.find(key);
    AGCNN_CHECK(it != f.metadata.end(), path, ": not an agcnn training checkpoint (no '", key,
                "' in its metadata)");
    return it->second;
}
// The digest stored as metadata "sha256": of the metadata but itself, then each tensor's name,
// dtype, shape and the sha256 of its bytes, in file order.
inline std::string checkpoint_digest(const io::TensorFile& f) {
    auto metadata = f.metadata;
    metadata.erase("sha256");
    std::string text = nlohmann::json(metadata).dump();
    for (const io::TensorRecord& t : f.tensors)
        text += "\n" + t.name + " " + t.dtype + " " + shape_str(t.shape) + " " + io::sha256_hex(t.bytes);
    return io::sha256_hex(text);
}

// The weight-relevant fields (config.hpp) in which two configs (JSON text) differ, as
// "seed 1 in the checkpoint, 2 now; ..."; empty when none does.
inline std::string config_differences(const std::string& checkpoint_json, const std::string& current_json) {
    TrainConfig then, now;
    from_json(nlohmann::json::parse(checkpoint_json), then);
    from_json(nlohmann::json::parse(current_json), now);
    // Paths compared as the files record them now (none): a checkpoint written with its paths
    // resumes as before.
    const nlohmann::json a = weight_relevant(weights_config(then)), b = weight_relevant(weights_config(now));
    std::string out;
    for (const auto& [key, value] : b.items())
        if (!a.contains(key) || a[key] != value)
            out += (out.empty() ? "" : "; ") + key + " " + (a.contains(key) ? a[key].dump() : "absent") +
                   " in the checkpoint, " + value.dump() + " now";
    return out;
}
}  // namespace detail

inline void save_checkpoint(const std::string& path, model::AgCnn& net,
                            optim::Optimizer& optimizer, Stage stage, const StageState& s,
                            const std::string& config_json) {
    io::TensorFile file;
    file.metadata = {{"format", "agcnn-checkpoint-1"},
                     {"stage", model::branch_name(stage)},
                     {"epoch", std::to_string(s.epoch)},
                     {"batch", std::to_string(s.batch)},
                     {"loss_sum", detail::exact(s.loss_sum)},
                     {"best_auroc", detail::exact(s.best_auroc)},
                     {"best_epoch", std::to_string(s.best_epoch)},
                     {"finished", s.finished ? "1" : "0"},
                     {"optimizer_steps", std::to_string(optimizer.steps())},
                     {"base_width", std::to_string(net.config().base_width)},
                     {"config", config_json}};
    io::append_state(file, net, "");
    for (auto& [name, tensor] : optimizer.state()) {
        const std::vector<float> values = tensor->to_vector();
        file.add_f32("optimizer." + name, tensor->shape(), values.data());
    }
    if (auto* sgd = dynamic_cast<optim::Sgd*>(&optimizer)) {
        const auto& started = sgd->momentum_started();
        file.add_f32("optimizer.sgd.started", {static_cast<std::int64_t>(started.size())},
                     started.data());
    }
    file.metadata["sha256"] = detail::checkpoint_digest(file);
    io::write_safetensors(path, file);
}

// Restores model, optimizer and stage state; checks the file is this stage's checkpoint, intact
// (its sha256; files written before checkpoints had one load unchecked) and, when `config_json`
// is given, written by the same configuration.
inline StageState load_checkpoint(const std::string& path, model::AgCnn& net,
                                  optim::Optimizer& optimizer, Stage stage,
                                  const std::string& config_json = "") {
    const io::TensorFile file = io::read_safetensors(path);
    AGCNN_CHECK(detail::meta(file, "format", path) == "agcnn-checkpoint-1" &&
                    detail::meta(file, "stage", path) == model::branch_name(stage),
                path, ": not a checkpoint of stage ", model::branch_name(stage));
    if (const auto it = file.metadata.find("sha256"); it != file.metadata.end())
        AGCNN_CHECK(it->second == detail::checkpoint_digest(file), path,
                    ": damaged (its contents do not match the sha256 it was written with); restore a "
                    "copy, or delete it to restart stage ", model::branch_name(stage), " from its start");
    if (!config_json.empty()) {
        std::string differences;
        try {
            differences = detail::config_differences(detail::meta(file, "config", path), config_json);
        } catch (const std::exception& e) {
            throw Error(path + ": its configuration cannot be read: " + e.what());
        }
        AGCNN_CHECK(differences.empty(), path, " was written by another configuration (", differences,
                    "); resume with the run's own configuration, or train in a new run folder");
    }
    io::load_agcnn(net, file, path);
    for (auto& [name, tensor] : optimizer.state()) {
        const io::TensorRecord* record = file.find("optimizer." + name);
        AGCNN_CHECK(record && record->shape == tensor->shape(), path,
                    ": optimizer state '", name, "' missing or of the wrong shape");
        const std::vector<float> values = record->to_finite_float32(path);
        const Tensor host = Tensor::from_vector(tensor->shape(), values);
        *tensor = host.to(tensor->device());
    }
    if (auto* sgd = dynamic_cast<optim::Sgd*>(&optimizer)) {
        const io::TensorRecord* record = file.find("optimizer.sgd.started");
        AGCNN_CHECK(record && record->numel() == std::int64_t(sgd->momentum_started().size()),
                    path, ": SGD state missing");
        sgd->momentum_started() = record->to_float32(path);
    }
    optimizer.set_steps(std::stoll(detail::meta(file, "optimizer_steps", path)));
    StageState s;
    s.epoch = std::stoi(detail::meta(file, "epoch", path));
    s.batch = std::stoll(detail::meta(file, "batch", path));
    s.loss_sum = std::stod(detail::meta(file, "loss_sum", path));
    s.best_auroc = std::stod(detail::meta(file, "best_auroc", path));
    s.best_epoch = std::stoi(detail::meta(file, "best_epoch", path));
    s.finished = detail::meta(file, "finished", path) == "1";
    return s;
}

}  // namespace agcnn::train
