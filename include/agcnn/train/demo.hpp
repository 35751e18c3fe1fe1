// agcnn/train/demo.hpp — `agcnn demo`: the whole of AG-CNN on synthetic chest X-rays, small
// enough for about 10 minutes on 2 CPU cores.
//
// Steps: `agcnn synth` data in RUN/data (official layout with BBox_List_2017.csv; kept when it
// is already there), the three stages, evaluation on the test split, the report.
// Scale, stated in the config and the docs: a ResNet-50 of base width 8 (1/8 of the channels;
// the same 50-layer topology), 256x256 sources, network input 64 (resize 73, crop 64), Adam,
// no ImageNet weights (no download at run time). The phantom's nodules are 3-6 pixels across at
// 256: at 64x64 the global branch sees them as about one pixel; the attention crop, cut from the
// 256-pixel source, sees them larger, which is what AG-CNN's local branch is for.
#pragma once

#include <filesystem>

#include "agcnn/data/synth_dataset.hpp"
#include "agcnn/train/eval_run.hpp"
#include "agcnn/train/run.hpp"

namespace agcnn::train {

struct DemoOptions {
    std::string out = "agcnn-demo";
    int images = 1200;
    int source_size = 256;
    int threads = 0;
    bool quiet = false;
    std::string version = "unknown";
};

inline TrainConfig demo_config(const DemoOptions& o) {
    TrainConfig c;
    c.data_dir = o.out + "/data";
    c.split = "official";
    c.input_size = 64;
    c.resize = 73;
    c.augment = false;  // so stage III trains on features computed once
    c.base_width = 8;
    c.optimizer = "adam";
    c.lr = 1e-3;
    c.weight_decay = 0;
    c.lr_step = 0;
    c.global = {6, 32};
    c.local = {6, 32};
    c.fusion = {20, 64};
    c.seed = 1;
    c.threads = o.threads;
    return c;
}

struct DemoResult {
    EvalOutcome outcome;
    double seconds = 0;
};

inline DemoResult run_demo(const DemoOptions& o) {
    const auto started = std::chrono::steady_clock::now();
    const TrainConfig config = demo_config(o);
    if (!std::filesystem::exists(config.data_dir + "/Data_Entry_2017.csv")) {
        if (!o.quiet) std::fprintf(stderr, "demo: generating %d synthetic X-rays (%dx%d) in %s\n", o.images,
                                   o.source_size, o.source_size, config.data_dir.c_str());
        data::synth::write_dataset(config.data_dir, {o.images, o.source_size, config.seed, 0.2});
    }
    DatasetSource data(config);
    RunOptions run;
    run.quiet = o.quiet;
    run.version = o.version;
    run_training(config, o.out, data, run);
    EvalOptions eval;
    eval.run_dir = o.out;
    DemoResult result{evaluate_run(eval), 0};
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

}  // namespace agcnn::train
