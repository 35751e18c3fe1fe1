// agcnn/train/checkpoint.hpp — a training checkpoint: everything needed to continue a stage and
// end with the weights an uninterrupted run would have (same machine, threads and device).
//
// One safetensors file, written atomically (io/atomic_file.hpp), holding
//   - every weight of the model (global.*, local.*, fusion.*; batch-norm statistics included),
//   - the optimizer's state under "optimizer.<kind>.<name>" (Adam moments, SGD momentum
//     buffers, and for SGD which buffers have started),
//   - metadata: stage, epoch in progress, batches done in it, optimizer step count, the
//     epoch's running loss, the best validation AUROC so far and its epoch, whether the stage
//     has finished, and the config. The data order and augmentation draws are a function of
//     (seed, epoch) (the loader's contract), so (seed, epoch, batch) is the whole RNG state.
// Numbers are written with 17 significant digits, so they read back bit for bit.
#pragma once

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "agcnn/io/agcnn_weights.hpp"
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
    io::write_safetensors(path, file);
}

// Restores model, optimizer and stage state; checks the file is this stage's checkpoint.
inline StageState load_checkpoint(const std::string& path, model::AgCnn& net,
                                  optim::Optimizer& optimizer, Stage stage) {
    const io::TensorFile file = io::read_safetensors(path);
    AGCNN_CHECK(detail::meta(file, "format", path) == "agcnn-checkpoint-1" &&
                    detail::meta(file, "stage", path) == model::branch_name(stage),
                path, ": not a checkpoint of stage ", model::branch_name(stage));
    io::load_agcnn(net, file, path);
    for (auto& [name, tensor] : optimizer.state()) {
        const io::TensorRecord* record = file.find("optimizer." + name);
        AGCNN_CHECK(record && record->shape == tensor->shape(), path,
                    ": optimizer state '", name, "' missing or of the wrong shape");
        const std::vector<float> values = record->to_float32(path);
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
