// agcnn/train/run.hpp — a whole training run in RUN/: config.json, the stages in order, their
// starting weights, and continuing an interrupted run.
//
// RUN/config.json = {"version": ..., "config": {...}}. Starting a run in a folder that already
// holds one continues it when the configs agree (threads and device included: they change the
// rounding) and refuses otherwise. Each stage starts from:
//   global  ImageNet weights when given (all but fc), else the seeded random initialisation;
//   local   global.* from RUN/global-best; local.* from ImageNet or random, or with
//           local_init "global" a copy of global.* (all of it, classifier included);
//   fusion  global.* from RUN/global-best, local.* from RUN/local-best.
// A stage with a checkpoint continues from it instead; a finished stage is skipped.
// read_run_config() reads RUN/config.json back (resume, evaluation, predict) and validates it;
// input paths are stored as given and found again after a move (train/run_paths.hpp).
// While a process trains, it holds RUN/.lock (io/file_lock.hpp): a second one is refused, naming
// the first; a crashed one holds nothing. Each start removes the temporary files of killed atomic
// writes. A start that fails before its first checkpoint removes the config.json it wrote, so the
// corrected command is not refused as "another run's configuration".
// Under N processes (RunOptions::comm, docs/distributed.md) every rank runs this; rank 0 alone
// holds the lock, cleans and writes, and the others wait for it at a barrier before they read.
// With device "cuda", rank r takes the GPU of its rank on its machine (cuda:<local rank>).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agcnn/backend/device_select.hpp"
#include "agcnn/io/file_lock.hpp"
#include "agcnn/train/run_paths.hpp"
#include "agcnn/train/stage.hpp"

namespace agcnn::train {

// ImageNet ResNet-50 weights (torchvision names, as agcnn-convert writes them) into a branch:
// every tensor of the backbone (conv1, bn1, layer1-4), strictly (each of them present, of the
// branch's shape, and nothing else but the classifier). The file's classifier (fc, 1000 classes
// for ImageNet, or none) is skipped, since AG-CNN's branch has its own; returns the names and
// shapes skipped ("" when the file has no classifier).
inline std::string load_backbone(nn::ResNet50& branch, const std::string& path) {
    const io::TensorFile file = io::read_safetensors(path);
    const std::pair<const char*, nn::Module*> parts[] = {
        {"conv1.", &branch.conv1},   {"bn1.", &branch.bn1},       {"layer1.", &branch.layer1},
        {"layer2.", &branch.layer2}, {"layer3.", &branch.layer3}, {"layer4.", &branch.layer4}};
    for (const auto& [prefix, part] : parts) io::load_state(*part, file, prefix, path);
    std::string skipped, unexpected;
    for (const io::TensorRecord& r : file.tensors) {
        const bool backbone = std::any_of(std::begin(parts), std::end(parts), [&](const auto& p) {
            return r.name.rfind(p.first, 0) == 0;
        });
        if (backbone) continue;
        std::string& list = r.name.rfind("fc.", 0) == 0 ? skipped : unexpected;
        list += (list.empty() ? "" : ", ") + r.name + " " + shape_str(r.shape);
    }
    AGCNN_CHECK(unexpected.empty(), path, ": not a torchvision ResNet-50 backbone: unexpected ", unexpected);
    return skipped;
}

inline void load_branch(nn::Module& branch, const std::string& path, const std::string& prefix) {
    AGCNN_CHECK(std::filesystem::exists(path), path, ": missing; run the earlier stage first");
    io::load_state(branch, io::read_safetensors(path), prefix, path);
}

inline void prepare_stage(model::AgCnn& net, const StageContext& ctx, Stage stage) {
    const auto start_from_imagenet = [&](nn::ResNet50& branch, const char* name) {
        if (ctx.config.weights.empty())
            return ctx.reporter->warning(std::string("no ImageNet weights: the ") + name +
                                         " branch trains FROM SCRATCH; expect far lower AUROC than the paper's.");
        const std::string imagenet = find_weights_path(ctx.config, ctx.run_dir);
        const std::string skipped = load_backbone(branch, imagenet);
        ctx.reporter->note(std::string("the ") + name + " branch starts from " + imagenet +
                           ": conv1 to layer4 loaded; " +
                           (skipped.empty() ? std::string("the file has no classifier")
                                            : "skipped " + skipped + " (AG-CNN's classifier has " +
                                                  std::to_string(model::kLabelCount) + " outputs)"));
    };
    if (stage == Stage::global) return start_from_imagenet(net.global, "global");
    load_branch(net.global, ctx.best(Stage::global), "global.");
    if (stage == Stage::local && ctx.config.local_init == "global") {
        load_branch(net.local, ctx.best(Stage::global), "global.");
        return ctx.reporter->note("the local branch starts from a copy of the trained global branch (" +
                                  ctx.best(Stage::global) + ")");
    }
    if (stage == Stage::local) return start_from_imagenet(net.local, "local");
    load_branch(net.local, ctx.best(Stage::local), "local.");
}

struct RunOptions {
    std::vector<Stage> stages{Stage::global, Stage::local, Stage::fusion};
    Reporter* reporter = &silent_reporter();                     // progress and notes
    std::string version = "unknown";
    std::function<void(Stage, int, std::int64_t)> after_batch;  // tests
    bool locked = false;  // the caller holds lock_run_folder(run_dir) already (rank 0)
    Communicator* comm = &single_process();
    std::string step_weights;  // StageContext::step_weights
    bool attention_cache = true;  // StageContext::attention_cache
};

// Holds RUN/.lock for as long as it lives; throws naming the holder when another process has it.
inline std::unique_ptr<io::FileLock> lock_run_folder(const std::string& run_dir) {
    std::filesystem::create_directories(run_dir);
    char since[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
    return std::make_unique<io::FileLock>(run_dir + "/.lock",
                                          "agcnn process " + std::to_string(::getpid()) + " (training since " +
                                              since + ")",
                                          "run folder " + run_dir);
}

// The configuration of the run in run_dir (RUN/config.json) into `config`; returns the whole file.
inline nlohmann::json read_run_config(const std::string& run_dir, TrainConfig& config) {
    const std::string path = run_dir + "/config.json";
    auto j = nlohmann::json::parse(io::read_file(path), nullptr, false);
    AGCNN_CHECK(!j.is_discarded() && j.contains("config"), path, ": not an agcnn run configuration");
    try {
        from_json(j["config"], config);
        config.validate();
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": bad configuration: " + e.what());
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    return j;
}

inline void write_config(const TrainConfig& config, const std::string& run_dir,
                         const std::string& version) {
    const std::string path = run_dir + "/config.json";
    if (std::filesystem::exists(path)) {
        const auto old = nlohmann::json::parse(io::read_file(path), nullptr, false);
        AGCNN_CHECK(!old.is_discarded() && old.contains("config"), path, ": not an agcnn config");
        TrainConfig previous;
        from_json(old["config"], previous);
        if (weight_relevant(previous) != weight_relevant(config))
            throw Error(path + " holds another run's configuration; continue that run with its own "
                               "configuration or choose another run folder (differences: " +
                        nlohmann::json::diff(weight_relevant(previous), weight_relevant(config)).dump() + ")");
    }
    const nlohmann::json j = {
        {"version", version}, {"config", config}, {"paths_from_run", current_paths_from_run(config, run_dir)}};
    io::write_file_atomic(path, j.dump(2) + "\n");
}

// Runs the requested stages (continuing any interrupted one). Throws Interrupted after a stop
// request (request_stop(), or SIGINT / SIGTERM under a StopSignalGuard) once the checkpoint is
// written.
inline void run_training(const TrainConfig& config, const std::string& run_dir, DataSource& data,
                         const RunOptions& options) {
    config.validate();
    Communicator& comm = *options.comm;
    AGCNN_CHECK(config.processes == comm.size(), run_dir, ": the run is configured for ", config.processes,
                " process(es) and ", comm.size(), " are running; launch it with the same number (the data order and "
                "the images of each step depend on it)");
    const bool writes = comm.rank() == 0;
    const auto lock = options.locked || !writes ? nullptr : lock_run_folder(run_dir);
    if (const auto removed = writes ? io::remove_stale_temporaries(run_dir) : std::vector<std::string>{};
        !removed.empty())
        options.reporter->note("removed " + std::to_string(removed.size()) + " temporary file(s) of an interrupted "
                               "write in " + run_dir + " (" + comma_list(removed) + ")");
    for (Split split : {Split::train, Split::val})
        AGCNN_CHECK(data.images(split) > 0, "the ", split_name(split), " split has no images (check the data folder, "
                    "its lists and the split fractions); nothing to train on");
    const std::string config_path = run_dir + "/config.json";
    const bool fresh = !std::filesystem::exists(config_path);
    if (writes) write_config(config, run_dir, options.version);
    comm.barrier();
    const std::string device = comm.size() > 1 && config.device == "cuda"
                                   ? "cuda:" + std::to_string(comm.local_rank())
                                   : config.device;
    StageContext ctx{config, run_dir, &data, select_device(device, config.precision), options.reporter,
                     recorded_config(config), options.after_batch, &comm, options.step_weights,
                     options.attention_cache};
    try {
        model::AgCnn net({config.base_width, config.seed});
        net.to(ctx.device);
        for (Stage stage : options.stages) {
            if (!std::filesystem::exists(ctx.checkpoint(stage))) prepare_stage(net, ctx, stage);
            run_stage(net, ctx, stage);
        }
    } catch (const Error&) {
        const bool started = std::any_of(std::begin(model::kBranches), std::end(model::kBranches), [&](Stage s) {
            return std::filesystem::exists(ctx.checkpoint(s)) || std::filesystem::exists(ctx.best(s));
        });
        if (writes && fresh && !started) std::filesystem::remove(config_path);
        throw;
    }
}

}  // namespace agcnn::train
