// agcnn/train/config.hpp — every hyper-parameter of an AG-CNN training run, in one struct that
// is written to RUN/config.json (with the software version) and read back to resume.
//
// Defaults follow the paper's recipe as DESIGN.md states it (SGD momentum 0.9, weight decay
// 1e-4, lr 0.01 / 10 every 20 epochs, 50 epochs, batch 128/64/64, input 224 from a 256 resize,
// tau 0.7, max over channels). Two runs are the same run when their configs are equal except
// for the fields that cannot change the weights' values: the thread count and the loader's
// workers (core/threads.hpp: the CPU math sums in the same order on any number of threads).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/core/error.hpp"
#include "agcnn/model/agcnn_model.hpp"
#include "agcnn/model/attention.hpp"

namespace agcnn::train {

// The three training stages train one branch each, in the paper's order (section 3.4): I global,
// II local, III fusion. A stage is named by the branch it trains.
using Stage = model::Branch;

// Per-stage settings (the paper: batch 128 for global, 64 for local and fusion).
struct StageConfig {
    int epochs = 50;
    int batch_size = 64;
};

struct TrainConfig {
    // Data (read by the data layer's loader).
    std::string data_dir;               // official layout, or the images folder with lists
    std::string split = "official";     // official | random (official layout) | lists
    std::string train_list, val_list, test_list;  // CheXNet-style lists (split = lists)
    std::vector<double> split_fractions{0.7, 0.1, 0.2};  // random: train, val, test patients
    double val_fraction = 1.0 / 8;      // official: validation share of train_val's patients
    int input_size = 224;               // network input S
    int resize = 256;                   // resize before the (random or centre) S crop
    bool augment = true;                // random crop + horizontal flip in training
    double contrast = 0.0;              // histogram equalisation strength (0 = off, paper)
    int pack_side = 512;                // images come from the packed cache at this longer side
                                        // (data/pack.hpp); 0 = decode the PNGs at full resolution
    // Model.
    std::int64_t base_width = 64;       // 64 = ResNet-50; smaller = narrow copy (demo, tests)
    std::string weights;                // ImageNet ResNet-50 .safetensors; empty = from scratch
    double tau = 0.7;
    std::string heatmap = "max";        // max | l1 | l2
    // Where stage II's local branch starts: "imagenet" = like the global branch (the ImageNet
    // weights when given, as the paper does, else the seeded random initialisation); "global" =
    // a copy of the whole trained global branch (RUN/global-best): the pretrained backbone at
    // hand when there are no ImageNet weights (the demo).
    std::string local_init = "imagenet";
    // Optimisation.
    std::string optimizer = "sgd";      // sgd | adam
    double lr = 0.01;
    double momentum = 0.9;              // SGD
    double weight_decay = 1e-4;
    int lr_step = 20;                   // epochs between decays (0 = constant)
    double lr_gamma = 0.1;
    StageConfig global{50, 128}, local{50, 64}, fusion{50, 64};
    bool fusion_cache = true;           // stage III on pooled features computed once (when
                                        // augmentation is off; ignored otherwise)
    // Reproducibility and hardware.
    std::uint64_t seed = 0;
    int threads = 0;                    // 0 = all cores
    std::string device = "cpu";
    std::string precision = "fp32";     // CUDA conv/linear arithmetic: fp32 | tf32 | bf16
    int loader_workers = 2;
    // Data parallelism (docs/distributed.md). Each optimizer step averages the gradients of
    // `accumulate` micro-batches of batch_size images on each of `processes` processes (the MPI
    // launcher's count, set by agcnn train): a step trains on batch_size x accumulate x processes
    // images. Both change the weights, so a run continues only with the same values.
    int accumulate = 1;
    int processes = 1;
    // A mid-epoch checkpoint at most this often (0 = only at the end of each epoch), so that a
    // crash or power cut loses at most this much work. Changes no weight.
    double checkpoint_minutes = 10;

    const StageConfig& stage(Stage s) const {
        return s == Stage::global ? global : s == Stage::local ? local : fusion;
    }
    model::AttentionOptions attention() const {
        return {tau, parse_heatmap_statistic(heatmap)};
    }
    void validate() const {
        AGCNN_CHECK(optimizer == "sgd" || optimizer == "adam", "bad optimizer '", optimizer,
                    "': expected sgd or adam");
        AGCNN_CHECK(input_size >= 32 && resize >= input_size, "input_size (--input-size) ", input_size,
                    " must be >= 32 and <= the resize (--resize) ", resize);
        AGCNN_CHECK(tau >= 0 && tau < 1, "tau (--tau) must be in [0, 1), got ", tau);
        AGCNN_CHECK(pack_side == 0 || (pack_side >= input_size && pack_side <= 16384), "pack_side (--pack) ",
                    pack_side, " must be 0 (no pack) or from the input size ", input_size, " to 16384");
        parse_heatmap_statistic(heatmap);
        AGCNN_CHECK(local_init == "imagenet" || local_init == "global", "bad local_init (--local-init) '",
                    local_init, "': expected imagenet or global");
        AGCNN_CHECK(lr > 0 && std::isfinite(lr), "lr (--lr) must be a positive number, got ", lr);
        AGCNN_CHECK(base_width > 0 && base_width <= 1024, "base_width (--base-width) must be in 1..1024, got ",
                    base_width);
        AGCNN_CHECK(momentum >= 0 && momentum < 1, "momentum (--momentum) must be in [0, 1), got ", momentum);
        AGCNN_CHECK(weight_decay >= 0 && weight_decay < 1, "weight_decay (--weight-decay) must be in [0, 1), got ",
                    weight_decay);
        AGCNN_CHECK(lr_step >= 0, "lr_step (--lr-step) must be >= 0 epochs (0 = constant), got ", lr_step);
        AGCNN_CHECK(lr_gamma > 0 && lr_gamma <= 1, "lr_gamma (--lr-gamma) must be in (0, 1], got ", lr_gamma);
        AGCNN_CHECK(contrast >= 0 && contrast <= 1, "contrast (--contrast) must be in [0, 1], got ", contrast);
        AGCNN_CHECK(loader_workers >= 0 && loader_workers <= 64, "loader_workers (--workers) must be in 0..64, got ",
                    loader_workers);
        AGCNN_CHECK(accumulate >= 1 && accumulate <= 4096, "accumulate (--accumulate) must be in 1..4096, got ",
                    accumulate);
        AGCNN_CHECK(processes >= 1, "processes must be >= 1, got ", processes);
        AGCNN_CHECK(resize <= 4096, "resize (--resize) must be at most 4096, got ", resize);
        AGCNN_CHECK(split_fractions.size() == 3, "split_fractions (--split-fractions): expected three (train, val, "
                    "test), got ", split_fractions.size());
        for (double f : split_fractions)
            AGCNN_CHECK(f > 0 && f < 1, "split_fractions (--split-fractions): each share must be in (0, 1) so that "
                        "every split has images, got ", f);
        AGCNN_CHECK(val_fraction > 0 && val_fraction < 1, "val_fraction (--val-fraction) ", val_fraction,
                    " outside (0, 1): the validation split needs images");
        AGCNN_CHECK(checkpoint_minutes >= 0 && std::isfinite(checkpoint_minutes),
                    "checkpoint_minutes (--checkpoint-minutes) must be >= 0 minutes, got ", checkpoint_minutes);
        for (Stage s : model::kBranches) {
            const std::string name = model::branch_name(s);
            AGCNN_CHECK(stage(s).epochs >= 0 && stage(s).epochs <= 100000, name, ".epochs (--", name,
                        "-epochs) must be in 0..100000, got ", stage(s).epochs);
            AGCNN_CHECK(stage(s).batch_size > 0 && stage(s).batch_size <= 65536, name, ".batch_size (--", name,
                        "-batch) must be in 1..65536, got ", stage(s).batch_size);
        }
    }
};

inline void to_json(nlohmann::json& j, const StageConfig& s) {
    j = {{"epochs", s.epochs}, {"batch_size", s.batch_size}};
}
inline void from_json(const nlohmann::json& j, StageConfig& s) {
    s.epochs = j.at("epochs");
    s.batch_size = j.at("batch_size");
}

#define AGCNN_TRAIN_CONFIG_FIELDS(X)                                                           \
    X(data_dir) X(split) X(train_list) X(val_list) X(test_list) X(input_size) X(resize) X(augment) X(contrast) X(pack_side) X(base_width)          \
    X(weights) X(tau) X(heatmap) X(optimizer) X(lr) X(momentum) X(weight_decay) X(lr_step)     \
    X(lr_gamma) X(global) X(local) X(fusion) X(fusion_cache) X(seed) X(threads) X(device) X(precision)      \
    X(loader_workers)

inline void to_json(nlohmann::json& j, const TrainConfig& c) {
#define AGCNN_X(field) j[#field] = c.field;
    AGCNN_TRAIN_CONFIG_FIELDS(AGCNN_X)
#undef AGCNN_X
    j["checkpoint_minutes"] = c.checkpoint_minutes;
    j["accumulate"] = c.accumulate;
    j["processes"] = c.processes;
    j["split_fractions"] = c.split_fractions;
    j["val_fraction"] = c.val_fraction;
    j["local_init"] = c.local_init;
}
namespace detail {
// j[name] into `value`; an Error naming the field when it is missing (and required), of the wrong
// type, or a negative number where an unsigned one belongs (a seed).
template <class T>
void read_config_field(const nlohmann::json& j, const char* name, T& value, bool required = true) {
    if (!j.contains(name)) {
        AGCNN_CHECK(!required, "'", name, "' is missing");
        return;
    }
    const nlohmann::json& v = j.at(name);
    if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>)
        AGCNN_CHECK(v.is_number_unsigned(), "'", name, "' must be a whole number >= 0, got ", v.dump());
    try {
        v.get_to(value);
    } catch (const nlohmann::json::exception&) {
        throw Error(std::string("'") + name + "' has the wrong type: " + v.dump());
    }
}
}  // namespace detail

// checkpoint_minutes, accumulate, processes, split_fractions, val_fraction and local_init may be absent: run folders written before
// they existed keep the defaults (which are what those runs used). A key that is not a field is
// refused (a misspelt edit would otherwise be ignored).
inline void from_json(const nlohmann::json& j, TrainConfig& c) {
    AGCNN_CHECK(j.is_object(), "the configuration is not a JSON object");
#define AGCNN_X(field) detail::read_config_field(j, #field, c.field);
    AGCNN_TRAIN_CONFIG_FIELDS(AGCNN_X)
#undef AGCNN_X
    detail::read_config_field(j, "checkpoint_minutes", c.checkpoint_minutes, false);
    detail::read_config_field(j, "accumulate", c.accumulate, false);
    detail::read_config_field(j, "processes", c.processes, false);
    detail::read_config_field(j, "split_fractions", c.split_fractions, false);
    detail::read_config_field(j, "val_fraction", c.val_fraction, false);
    detail::read_config_field(j, "local_init", c.local_init, false);
    const nlohmann::json known = TrainConfig{};
    for (const auto& [key, value] : j.items())
        AGCNN_CHECK(known.contains(key), "'", key, "' is not a setting of a training run");
}

// The fields that may differ between an interrupted run and its continuation.
inline nlohmann::json weight_relevant(const TrainConfig& c) {
    nlohmann::json j = c;
    j.erase("threads");
    j.erase("loader_workers");
    j.erase("checkpoint_minutes");
    return j;
}

struct PathField {
    const char* name;
    std::string TrainConfig::*member;
};
// The config's input paths; the first four are the data.
inline constexpr PathField kPathFields[] = {{"data_dir", &TrainConfig::data_dir},
                                            {"train_list", &TrainConfig::train_list},
                                            {"val_list", &TrainConfig::val_list},
                                            {"test_list", &TrainConfig::test_list},
                                            {"weights", &TrainConfig::weights}};

// The config as the weight files record it: threads and loader workers at their defaults, so
// that runs on different thread counts write byte-identical files, and the input paths empty, so
// that the same data in another folder (each `agcnn demo --out DIR` makes its own) trains
// byte-identical files too. RUN/config.json keeps all of them, and RUN/manifest.json the sha256
// of the data's label and list files.
inline TrainConfig weights_config(TrainConfig c) {
    c.threads = TrainConfig{}.threads;
    c.loader_workers = TrainConfig{}.loader_workers;
    for (const PathField& f : kPathFields) c.*f.member = "";
    return c;
}
inline std::string recorded_config(const TrainConfig& c) { return nlohmann::json(weights_config(c)).dump(); }

}  // namespace agcnn::train
