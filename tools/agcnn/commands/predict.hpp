// agcnn predict — probabilities of the three branches and an attention picture per image. --out
// is a new or empty folder, or an earlier predict's (with its predictions.csv), so that no
// picture is written over a file predict did not write.
#pragma once

#include <memory>

#include "agcnn/app/predict.hpp"
#include "agcnn/io/output_guard.hpp"
#include "commands/common.hpp"

namespace agcnn::cli {

inline void add_predict_command(CLI::App& app) {
    auto options = std::make_shared<app::PredictOptions>();
    auto threads = std::make_shared<int>(0);
    options->out_dir = "predictions";
    auto voi = std::make_shared<std::string>("file");
    CLI::App* cmd = app.add_subcommand("predict", "run a trained AG-CNN on images (PNG, JPEG, DICOM; files or folders)");
    CLI::Option* run = cmd->add_option("--run", options->run_dir, "run folder (agcnn train --out)");
    CLI::Option* model = cmd->add_option("--model", options->model_file, "model file (agcnn export), instead of --run");
    run->excludes(model);
    model->excludes(run);
    cmd->add_option("inputs", options->inputs, "image files (.png, .jpg, .jpeg, .dcm) or folders")->required();
    cmd->add_option("--out", options->out_dir, "output folder")->capture_default_str();
    cmd->add_option("--weights", options->weights, "weights (default RUN/fusion-best.safetensors)")->needs(run);
    cmd->add_option("--device", options->device, "cpu | cuda | cuda:N (default: the run's; cpu with --model)");
    cmd->add_flag("--steps", options->steps, "also a picture of each attention step per image");
    cmd->add_option("--dicom-voi", *voi, "DICOM window: file (the file's first window or VOI LUT), minmax, none")
        ->check(CLI::IsMember({"file", "minmax", "none"}))
        ->capture_default_str();
    cmd->add_option("--dicom-frame", options->read_options.dicom.frame,
                    "frame of multi-frame DICOM images (0-based; default: single-frame images only)")
        ->check(CLI::Range(0, 1000000));
    add_threads_option(cmd, *threads);
    add_conv_option(cmd);
    cmd->callback([options, threads, voi] {
        apply_threads(*threads);
        options->read_options.dicom.voi = data::parse_voi_mode(*voi);
        io::refuse_foreign_folder(options->out_dir, "--out", "predictions.csv", "an earlier predict output");
        const app::PredictSummary summary = app::predict(*options);
        std::printf("predicted %zu images: %s/predictions.csv, predictions.json, *-attention.png%s\n", summary.images,
                    options->out_dir.c_str(), summary.calls ? ", findings.csv" : "");
        std::printf("%s\n", summary.thresholds.c_str());
    });
}

}  // namespace agcnn::cli
