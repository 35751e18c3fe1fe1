// agcnn export — a trained run folder into one model file (app/export_model.hpp).
#pragma once

#include <memory>

#include "agcnn/app/export_model.hpp"
#include "commands/common.hpp"

namespace agcnn::cli {

inline void add_export_command(CLI::App& app) {
    auto options = std::make_shared<app::ExportOptions>();
    CLI::App* cmd = app.add_subcommand(
        "export", "write a run's three branches and its inference settings into one model file");
    cmd->add_option("--run", options->run_dir, "run folder (agcnn train --out)")->required();
    cmd->add_option("-o,--out", options->out, "the model file to write (.safetensors)")->required();
    cmd->add_option("--weights", options->weights, "weights (default RUN/fusion-best.safetensors)");
    cmd->callback([options] {
        options->version = AGCNN_VERSION;
        options->commit = AGCNN_COMMIT;
        const std::string weights = app::export_model(*options);
        std::printf("wrote %s from %s\n", options->out.c_str(), weights.c_str());
    });
}

}  // namespace agcnn::cli
