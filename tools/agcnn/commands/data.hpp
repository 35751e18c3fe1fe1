// The data commands: synth, dataset, pack, bench-data.
#pragma once

#include "commands/bench_data.hpp"
#include "commands/dataset.hpp"
#include "commands/pack.hpp"
#include "commands/synth.hpp"

namespace agcnn::cli {

inline void add_data_commands(CLI::App& app) {
    add_synth_command(app);
    add_dataset_command(app);
    add_pack_command(app);
    add_bench_data_command(app);
}

}  // namespace agcnn::cli
