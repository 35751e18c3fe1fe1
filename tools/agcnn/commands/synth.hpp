// agcnn synth — write a synthetic chest X-ray data set in the official ChestX-ray14 layout.
//
//   agcnn synth --out DIR --images N --size S --seed K [--test-fraction F] [--format png|dicom]
//                [--threads T]
//
// DIR must be new or empty: synth never writes over an existing data set. See
// docs/synthetic-data.md for the generative model.
#pragma once

#include <cstdio>
#include <string>

#include "agcnn/data/synth_dataset.hpp"
#include "agcnn/io/output_guard.hpp"
#include "commands/common.hpp"
#include "progress.hpp"

namespace agcnn::cli {

inline void add_synth_command(CLI::App& app) {
    auto config = std::make_shared<data::synth::SynthConfig>();
    auto out = std::make_shared<std::string>();
    auto threads = std::make_shared<int>(0);
    CLI::App* command = app.add_subcommand("synth", "write a synthetic chest X-ray data set (official layout)");
    command->add_option("--out", *out, "output folder")->required();
    command->add_option("--images", config->images, "number of images (1.." + std::to_string(data::synth::kMaxSynthImages) + ")")
        ->check(CLI::Range(1, data::synth::kMaxSynthImages));
    command->add_option("--size", config->size, "image side in pixels (64..4096)")->check(CLI::Range(64, 4096));
    command->add_option("--seed", config->seed, "seed; the same seed gives the same files")->check(non_negative_whole());
    command->add_option("--test-fraction", config->test_fraction, "share of patients in test_list.txt")
        ->check(CLI::Range(0.0, 0.9));
    command->add_option("--format", config->format, "png, or dicom (20 variants: MONOCHROME1/2, 12/16 bits, "
                        "5 transfer syntaxes; docs/dicom.md)")
        ->check(CLI::IsMember({"png", "dicom"}))
        ->capture_default_str();
    add_threads_option(command, *threads);
    command->callback([config, out, threads] {
        apply_threads(*threads);
        io::refuse_foreign_folder(*out, "--out", "", "");  // never over an existing data set
        data::synth::write_dataset(*out, *config, [](int done, int total) {
            count_progress("synth", std::size_t(done), std::size_t(total));
        });
        std::printf("wrote %d synthetic images (%dx%d, seed %llu) to %s\n", config->images, config->size,
                    config->size, static_cast<unsigned long long>(config->seed), out->c_str());
    });
}

}  // namespace agcnn::cli
