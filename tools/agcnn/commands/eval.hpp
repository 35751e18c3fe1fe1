// agcnn eval — per-class AUROC of the three branches on a split, localization hit rates when
// BBox_List_2017.csv exists, 95% patient-bootstrap intervals, operating points chosen on val,
// calibration and subgroups; writes RUN/results.json (and a kept copy per evaluation),
// RUN/thresholds.json, RUN/report.html and RUN/manifest.json.
#pragma once

#include <memory>

#include "agcnn/app/evaluate_run.hpp"
#include "commands/common.hpp"
#include "progress.hpp"

namespace agcnn::cli {

inline void print_localization(const nlohmann::ordered_json& results) {
    if (!results.contains("localization")) return;
    const auto& all = results["localization"]["overall"];
    std::printf("localization (%d boxes): IoU>0.1 %.3f  IoU>0.3 %.3f  IoU>0.5 %.3f  IoBB>0.1 %.3f  IoBB>0.5 %.3f\n",
                all["boxes"].get<int>(), all["iou"]["0.1"].get<double>(), all["iou"]["0.3"].get<double>(),
                all["iou"]["0.5"].get<double>(), all["iobb"]["0.1"].get<double>(), all["iobb"]["0.5"].get<double>());
}

inline void add_eval_command(CLI::App& app, const std::string& command_line) {
    auto options = std::make_shared<app::EvalOptions>();
    auto split = std::make_shared<std::string>("test");
    auto threads = std::make_shared<int>(0);
    CLI::App* cmd = app.add_subcommand("eval", "AUROC of the global, local and fusion branches on a split");
    cmd->add_option("--run", options->run_dir, "run folder (agcnn train --out)")->required();
    cmd->add_option("--split", *split, "train | val | test")->check(CLI::IsMember({"train", "val", "test"}))
        ->capture_default_str();
    cmd->add_option("--weights", options->weights, "weights (default RUN/fusion-best.safetensors)");
    cmd->add_option("--device", options->device, "cpu | cuda | cuda:N (default: the run's)");
    cmd->add_option("--batch", options->batch_size, "batch size (1..4096)")->check(CLI::Range(1, 4096))->capture_default_str();
    cmd->add_option("--bootstrap", options->clinical.bootstrap,
                    "patient bootstrap resamples for the 95% intervals")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    cmd->add_option("--bootstrap-seed", options->clinical.seed, "seed of the resamples")->capture_default_str();
    cmd->add_option("--target-sensitivity", options->clinical.target_sensitivity,
                    "operating points: the highest threshold reaching this sensitivity on val (default: Youden's J)")
        ->check(CLI::Range(0.01, 1.0));
    add_threads_option(cmd, *threads);
    add_conv_option(cmd);
    cmd->callback([options, split, threads, command_line] {
        apply_threads(*threads);
        options->split = train::parse_split(*split);
        options->version = AGCNN_VERSION;
        options->commit = AGCNN_COMMIT;
        options->build_flags = AGCNN_CXX_FLAGS;
        options->command = command_line;
        ProgressBar progress(false);
        const app::EvalOutcome outcome = app::evaluate_run(*options, progress);
        std::printf("%s", app::auroc_table(outcome.evaluation).c_str());
        print_localization(outcome.results);
        std::printf("%s", app::clinical_text(outcome.clinical).c_str());
        std::printf("wrote %s (also %s/results.json) and %s/report.html\n", outcome.results_file.c_str(),
                    options->run_dir.c_str(), options->run_dir.c_str());
    });
}

}  // namespace agcnn::cli
