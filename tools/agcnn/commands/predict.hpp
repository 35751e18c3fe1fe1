// agcnn predict — probabilities of the three branches and an attention picture per image.
#pragma once

#include <memory>

#include "agcnn/app/predict.hpp"
#include "commands/common.hpp"

namespace agcnn::cli {

inline void add_predict_command(CLI::App& app) {
    auto options = std::make_shared<app::PredictOptions>();
    auto threads = std::make_shared<int>(0);
    options->out_dir = "predictions";
    CLI::App* cmd = app.add_subcommand("predict", "run a trained AG-CNN on PNG images (files or folders)");
    cmd->add_option("--run", options->run_dir, "run folder (agcnn train --out)")->required();
    cmd->add_option("inputs", options->inputs, "PNG files or folders")->required();
    cmd->add_option("--out", options->out_dir, "output folder")->capture_default_str();
    cmd->add_option("--weights", options->weights, "weights (default RUN/fusion-best.safetensors)");
    cmd->add_option("--device", options->device, "cpu | cuda | cuda:N (default: the run's)");
    cmd->add_flag("--steps", options->steps, "also a picture of each attention step per image");
    add_threads_option(cmd, *threads);
    cmd->callback([options, threads] {
        apply_threads(*threads);
        const app::PredictSummary summary = app::predict(*options);
        std::printf("predicted %zu images: %s/predictions.csv, predictions.json, *-attention.png%s\n", summary.images,
                    options->out_dir.c_str(), summary.calls ? ", findings.csv" : "");
        std::printf("%s\n", summary.thresholds.c_str());
    });
}

}  // namespace agcnn::cli
