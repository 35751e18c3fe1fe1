// agcnn/app/export_model.hpp — `agcnn export`: a trained run folder into one model file
// (app/model_file.hpp) that `agcnn predict --model`, app/predictor.hpp and the C API read
// without the run folder.
//
// The weights are RUN/fusion-best.safetensors (all three branches after stage III) or the file
// given; the settings are the run's config.json (input size, resize, contrast, pack side, tau,
// heatmap statistic), so predict --model gives what predict --run gives.
#pragma once

#include <string>

#include "agcnn/app/evaluate_run.hpp"
#include "agcnn/app/manifest.hpp"
#include "agcnn/app/model_file.hpp"

namespace agcnn::app {

// The inference half of a run's configuration.
inline InferenceSettings inference_settings(const train::TrainConfig& config) {
    InferenceSettings s;
    s.base_width = config.base_width;
    s.input_size = config.input_size;
    s.resize = config.resize;
    s.pack_side = config.pack_side;
    s.contrast = config.contrast;
    s.attention = config.attention();
    return s;
}

struct ExportOptions {
    std::string run_dir, out, weights;  // weights: default RUN/fusion-best.safetensors
    std::string version = "unknown", commit = "unknown";
};

// Writes the model file; returns the weights file it was made from.
inline std::string export_model(const ExportOptions& options) {
    train::TrainConfig config;
    train::read_run_config(options.run_dir, config);
    const std::string weights =
        options.weights.empty() ? options.run_dir + "/fusion-best.safetensors" : options.weights;
    const auto net = load_run_model(config, options.run_dir, weights, Device::cpu());
    ModelProvenance provenance{options.version, options.commit, weights,
                               sha256_file(weights),
                               options.run_dir, utc_stamp()};
    write_model_file(options.out, *net, inference_settings(config), provenance);
    return weights;
}

}  // namespace agcnn::app
