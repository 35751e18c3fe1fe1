// agcnn demo — synthetic X-rays, the three stages at small scale, evaluation and the report
// (include/agcnn/app/demo.hpp states the scale).
#pragma once

#include <memory>

#include "agcnn/app/demo.hpp"
#include "commands/eval.hpp"
#include "progress.hpp"

namespace agcnn::cli {

inline void add_demo_command(CLI::App& app) {
    auto options = std::make_shared<app::DemoOptions>();
    auto quiet = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("demo", "AG-CNN end to end on synthetic chest X-rays (about 10 min, 2 cores)");
    cmd->add_option("--out", options->out, "run folder")->capture_default_str();
    cmd->add_option("--images", options->images, "synthetic images")->capture_default_str();
    cmd->add_option("--source-size", options->source_size, "synthetic image size")->capture_default_str();
    add_threads_option(cmd, options->threads);
    cmd->add_option("--device", options->device, "cpu | cuda | cuda:N")->capture_default_str();
    cmd->add_flag("--quiet", *quiet, "no progress bar");
    cmd->callback([options, quiet] {
        apply_threads(options->threads);
        options->version = AGCNN_VERSION;
        options->commit = AGCNN_COMMIT;
        options->build_flags = AGCNN_CXX_FLAGS;
        train::StopSignalGuard stop_signals;
        ProgressBar progress(*quiet);
        app::DemoResult result;
        try {
            result = app::run_demo(*options, progress);
        } catch (const train::Interrupted& i) {
            std::fprintf(stderr, "\nagcnn: interrupted; run `agcnn demo --out %s` again to continue.\n",
                         options->out.c_str());
            std::exit(stopped_exit_code());
        }
        std::printf("%s", app::demo_table(result.outcome).c_str());
        for (model::Branch b : model::kBranches)
            std::printf("mean AUROC %-6s %.3f\n", model::branch_name(b),
                        result.outcome.evaluation.scores.at(b).mean_auroc());
        print_localization(result.outcome.results);
        std::printf("%s", app::clinical_text(result.outcome.clinical).c_str());
        std::printf("demo finished in %.0f s: report %s/report.html\n", result.seconds, options->out.c_str());
    });
}

}  // namespace agcnn::cli
