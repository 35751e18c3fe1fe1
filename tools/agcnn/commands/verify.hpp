// agcnn verify — hash a run folder's inputs and outputs again against RUN/manifest.json
// (include/agcnn/app/manifest.hpp). Exit 0 when nothing changed; else one line per changed,
// missing or unlisted file on stdout and exit 1.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "agcnn/app/manifest.hpp"
#include "commands/common.hpp"

namespace agcnn::cli {

inline void add_verify_command(CLI::App& app) {
    auto run = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("verify", "check a run folder against its manifest.json (exit 1 when anything changed)");
    cmd->add_option("RUN", *run, "run folder")->required();
    cmd->callback([run] {
        const app::VerifyReport report = app::verify_run(*run);
        for (const std::string& problem : report.problems) std::printf("%s\n", problem.c_str());
        if (!report.ok()) {
            std::printf("%s: %zu of %zu files differ from %s/manifest.json\n", run->c_str(), report.problems.size(),
                        report.checked, run->c_str());
            std::fflush(stdout);
            std::exit(1);
        }
        std::printf("%s: all %zu files match %s/manifest.json\n", run->c_str(), report.checked, run->c_str());
    });
}

}  // namespace agcnn::cli
