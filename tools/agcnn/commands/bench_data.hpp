// agcnn bench-data — images per second of the data pipeline:
//   1. PNG decode + area resize to the input size (what every epoch would cost without a pack);
//   2. the loader from the pack (rebuilt if needed) with the training augmentation.
//
//   agcnn bench-data --data DIR [--decode-images 64] [--loader-images 2000] [--size 224]
//                    [--batch 32] [--workers 2] [--threads T]
// Make 1024x1024 test data with: agcnn synth --out DIR --images 200 --size 1024
#pragma once

#include <chrono>
#include <cstdio>

#include "agcnn/data/loader.hpp"
#include "commands/bench.hpp"
#include "commands/pack.hpp"

namespace agcnn::cli {

struct BenchDataArgs {
    PackArgs pack;
    int decode_images = 64, loader_images = 2000, size = 224, batch = 32, workers = 2;
};

inline void run_bench_data(BenchDataArgs& args) {
    apply_threads(args.pack.threads);
    const data::Dataset data = data::open_dataset(args.pack.spec);
    AGCNN_CHECK(!data.records.empty(), "bench-data: the data set has no images");
    // 1. Decode + resize, one image per OpenMP thread at a time.
    const int n = std::min<int>(args.decode_images, static_cast<int>(data.records.size()));
    const auto t0 = std::chrono::steady_clock::now();
    const data::TransformConfig eval = data::eval_transform(args.size);
    int source_side = 0;
#pragma omp parallel for schedule(dynamic) reduction(max : source_side)
    for (int i = 0; i < n; ++i) {
        const data::GrayImage image = data::read_image(data.records[static_cast<std::size_t>(i)].path);
        std::vector<float> out(static_cast<std::size_t>(args.size) * args.size * 3);
        Rng rng(0);
        data::render_input(image, data::sample_geometry(eval, image.width, image.height, rng), eval, nullptr, out.data());
        source_side = std::max(source_side, image.width);
    }
    const double decode_s = seconds_since(t0);
    std::printf("PNG decode + resize to %d (%dx%d sources, %d threads): %.1f images/s (%d images, %.2f s)\n",
                args.size, source_side, source_side, num_threads(), n / decode_s, n, decode_s);
    // 2. Loader from the pack, training augmentation.
    const auto pack = open_pack(data, args.pack);
    data::LoaderConfig config;
    config.batch_size = args.batch;
    config.workers = args.workers;
    config.transform = data::train_transform(args.size);
    data::Loader loader(data.records, pack, config);
    int images = 0;
    const auto t1 = std::chrono::steady_clock::now();
    for (int epoch = 0; images < args.loader_images; ++epoch) {
        loader.start_epoch(epoch);
        while (auto batch = loader.next()) {
            images += static_cast<int>(batch->names.size());
            if (images >= args.loader_images) break;
        }
    }
    const double loader_s = seconds_since(t1);
    std::printf("loader from the pack at %d with augmentation (%d workers, batch %d): %.1f images/s (%d images, %.2f s)\n",
                args.size, args.workers, args.batch, images / loader_s, images, loader_s);
}

inline void add_bench_data_command(CLI::App& app) {
    auto args = std::make_shared<BenchDataArgs>();
    CLI::App* command = app.add_subcommand("bench-data", "images/s of PNG decode and of the loader from the pack");
    add_pack_options(command, args->pack);
    command->add_option("--decode-images", args->decode_images, "images to decode")->check(CLI::PositiveNumber);
    command->add_option("--loader-images", args->loader_images, "images to load")->check(CLI::PositiveNumber);
    command->add_option("--size", args->size, "network input size")->check(CLI::Range(8, 4096));
    command->add_option("--batch", args->batch, "batch size")->check(CLI::PositiveNumber);
    command->add_option("--workers", args->workers, "loader threads")->check(CLI::PositiveNumber);
    command->callback([args] { run_bench_data(*args); });
}

}  // namespace agcnn::cli
