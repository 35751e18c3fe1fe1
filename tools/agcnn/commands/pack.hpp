// agcnn pack — decode a data set's PNGs once into the packed cache (see agcnn/data/pack.hpp).
//
//   agcnn pack --data DIR [--pack FILE] [--max-side 512] [--skip-bad] [--threads T]
//   agcnn pack --images DIR --train-list A ... [--pack FILE]
//
// The pack is rebuilt only when it is missing, torn, built at another size, or a source changed.
// --pack never replaces a file that is not a pack (a label CSV, an image).
#pragma once

#include <cstdio>
#include <string>

#include "agcnn/data/pack.hpp"
#include "agcnn/io/output_guard.hpp"
#include "commands/dataset.hpp"
#include "progress.hpp"

namespace agcnn::cli {

struct PackArgs {
    data::DataSpec spec;
    std::string pack;
    int max_side = 512;
    int threads = 0;
};

inline void add_pack_options(CLI::App* command, PackArgs& args) {
    add_data_options(command, args.spec);
    command->add_option("--pack", args.pack, "pack file (default: agcnn-pack-<side>.bin beside the images)");
    command->add_option("--max-side", args.max_side, "longer image side stored in the pack")->check(CLI::Range(16, 16384));
    add_threads_option(command, args.threads);
}

// Opens (building if needed) the pack of an opened data set, reporting progress on stderr.
inline std::shared_ptr<data::PackReader> open_pack(const data::Dataset& data, PackArgs& args) {
    if (args.pack.empty())
        args.pack = data::default_pack_path(args.spec.data_dir.empty() ? args.spec.images_dir : args.spec.data_dir,
                                            args.max_side);
    io::refuse_foreign_output(args.pack, "--pack", std::string_view(data::kPackMagic, 8), "an agcnn pack");
    auto [reader, built] = data::ensure_pack(data.records, args.pack, args.max_side, args.spec.skip_bad,
                                             [](std::size_t done, std::size_t total) {
                                                 count_progress("pack", done, total);
                                             });
    std::printf("%s: %s, %zu images at most %d pixels a side\n", args.pack.c_str(),
                built ? "built" : "up to date", reader->entries().size(), reader->max_side());
    return reader;
}

inline void add_pack_command(CLI::App& app) {
    auto args = std::make_shared<PackArgs>();
    CLI::App* command = app.add_subcommand("pack", "decode a data set once into one packed file");
    add_pack_options(command, *args);
    command->callback([args] {
        apply_threads(args->threads);
        open_pack(data::open_dataset(args->spec), *args);
    });
}

}  // namespace agcnn::cli
