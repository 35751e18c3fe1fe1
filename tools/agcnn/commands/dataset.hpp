// agcnn dataset — open a data set, split it, and print what is in it.
//
//   agcnn dataset --data DIR [--split official|random] [--seed K] [--val-fraction F]
//                 [--split-fractions TRAIN,VAL,TEST] --summary [--skip-bad]
//   agcnn dataset --images DIR --train-list A [--val-list B] [--test-list C] --summary
//
// Also the data-set flags shared by pack and bench-data (add_data_options).
#pragma once

#include <cstdio>
#include <string>

#include "agcnn/data/summary.hpp"
#include "commands/common.hpp"

namespace agcnn::cli {

inline void add_data_options(CLI::App* command, data::DataSpec& spec) {
    command->add_option("--data", spec.data_dir, "data set in the official layout (images/, Data_Entry_2017.csv, ...)");
    command->add_option("--split", spec.split, "split of the official layout: official or random (70/10/20)")
        ->check(CLI::IsMember({"official", "random"}));
    command->add_option("--val-fraction", spec.val_fraction,
                        "official split: share of train_val's patients held out for validation")
        ->check(CLI::Range(0.0, 0.99))
        ->capture_default_str();
    command->add_option("--split-fractions", spec.random_fractions,
                        "random split: train,val,test shares of the patients (sum 1)")
        ->delimiter(',')
        ->capture_default_str();
    command->add_option("--images", spec.images_dir, "folder of PNGs, with CheXNet-style list files");
    command->add_option("--train-list", spec.train_list, "list file: name and 14 labels per line");
    command->add_option("--val-list", spec.val_list, "list file of the validation split");
    command->add_option("--test-list", spec.test_list, "list file of the test split");
    command->add_option("--seed", spec.seed, "seed of the validation carve-out or the random split")
        ->check(non_negative_whole());
    command->add_flag("--skip-bad", spec.skip_bad, "leave out bad entries (counted and named) instead of failing");
}

inline void add_dataset_command(CLI::App& app) {
    auto spec = std::make_shared<data::DataSpec>();
    auto summary = std::make_shared<bool>(false);
    CLI::App* command = app.add_subcommand("dataset", "check a data set and print its splits");
    add_data_options(command, *spec);
    command->add_flag("--summary", *summary, "print images and positives per split and class, and problems");
    command->callback([spec, summary] {
        const data::Dataset data = data::open_dataset(*spec);
        if (*summary)
            std::fputs(data::format_summary(data).c_str(), stdout);
        else
            std::printf("%zu images, %zu problems\n", data.records.size(), data.problems.size());
    });
}

}  // namespace agcnn::cli
