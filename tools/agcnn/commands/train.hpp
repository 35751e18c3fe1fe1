// agcnn train — the three AG-CNN stages (include/agcnn/train/run.hpp), every hyper-parameter a
// flag, written to RUN/config.json. Re-running the same command, or `--resume`, continues an
// interrupted run; Ctrl-C (SIGINT) or SIGTERM checkpoints and exits with 128 + the signal, and
// --checkpoint-minutes bounds what a crash loses. A finished run gets RUN/manifest.json.
// Under an MPI launcher every process runs this command (docs/distributed.md): rank 0 alone
// locks, opens the data first (it may build the pack), prints progress and writes; an error on
// any rank ends them all.
#pragma once

#include <memory>

#include "agcnn/io/output_guard.hpp"
#include "agcnn/app/manifest.hpp"
#include "agcnn/train/dataset_source.hpp"
#include "agcnn/train/run.hpp"
#include "commands/common.hpp"
#include "commands/distributed.hpp"
#include "progress.hpp"

namespace agcnn::cli {

struct TrainArgs {
    train::TrainConfig config;
    std::string out, stage = "all";
    bool resume = false, quiet = false;
    std::string step_weights;
    bool attention_cache = true;
    DeviceArgs device;  // config.device and config.precision unless resuming
};

inline void add_stage_options(CLI::App* c, const std::string& name, train::StageConfig& s) {
    c->add_option("--" + name + "-epochs", s.epochs, "epochs of stage " + name)->capture_default_str();
    c->add_option("--" + name + "-batch", s.batch_size, "batch size of stage " + name)->capture_default_str();
}

// Runs the stages; turns SIGINT / SIGTERM into exit code 130 / 143 after the checkpoint is written.
inline void run_train_stages(const train::TrainConfig& config, const TrainArgs& args,
                             const std::vector<train::Stage>& stages, train::Communicator& comm) {
    const std::string& out = args.out;
    train::StopSignalGuard stop_signals;
    const bool first = comm.rank() == 0;
    ProgressBar progress(args.quiet);
    Reporter& reporter = first ? static_cast<Reporter&>(progress) : silent_reporter();  // rank 0 speaks
    std::unique_ptr<io::FileLock> lock;
    std::unique_ptr<train::DatasetSource> data;
    if (first) {
        io::refuse_foreign_folder(out, "--out", "config.json", "a run folder", {".lock"});
        lock = train::lock_run_folder(out);  // before the data: a second process stops at once
        data = std::make_unique<train::DatasetSource>(train::resolve_data_paths(config, out), progress);
    }
    comm.barrier();  // rank 0 has the lock and the data's pack
    if (!first) data = std::make_unique<train::DatasetSource>(train::resolve_data_paths(config, out), reporter);
    AGCNN_CHECK(data->images(train::Split::test) > 0, "the test split has no images (check the data folder, its "
                "lists and the split fractions)");
    train::RunOptions options;
    options.stages = stages;
    options.reporter = &reporter;
    options.version = AGCNN_VERSION;
    options.locked = true;
    options.comm = &comm;
    options.step_weights = args.step_weights;
    options.attention_cache = args.attention_cache;
    try {
        train::run_training(config, out, *data, options);
    } catch (const train::Interrupted& i) {
        if (first)
            std::fprintf(stderr, "\nagcnn: interrupted; checkpoint written to %s. Run the same command (or "
                                 "--resume) to continue.\n", i.checkpoint.c_str());
        std::exit(stopped_exit_code());
    }
}

inline void run_train(TrainArgs& args) {
    if (args.resume) {
        const std::string out = args.out;
        train::read_run_config(out, args.config);
        // The flag's check, for the value that replaces it (set_num_threads would refuse it too,
        // without naming the file).
        const std::string problem = thread_count_problem(args.config.threads);
        AGCNN_CHECK(problem.empty(), out, "/config.json: threads: ", problem);
    }
    AGCNN_CHECK(!args.config.data_dir.empty(), "train: --data is required (or --resume with --out RUN)");
    train::Communicator& comm = process_communicator();
    if (!args.resume) {
        args.config.device = args.device.device, args.config.precision = args.device.precision();
        args.config.processes = comm.size();
    }
    args.config.validate();  // before the data is opened (or packed)
    apply_threads(args.config.threads);
    std::vector<train::Stage> stages;
    if (args.stage == "all")
        stages.assign(std::begin(model::kBranches), std::end(model::kBranches));
    else
        stages.push_back(model::parse_branch(args.stage));
    run_on_every_rank(comm, [&] { run_train_stages(args.config, args, stages, comm); });
    if (comm.rank() != 0) return;
    app::write_manifest(args.out, args.config, {AGCNN_VERSION, AGCNN_COMMIT, AGCNN_CXX_FLAGS}, "agcnn train",
                        app::utc_stamp());
    std::printf("training finished: %s (best weights of the last stage: %s/%s-best.safetensors)\n",
                args.out.c_str(), args.out.c_str(), model::branch_name(stages.back()));
}

inline void add_train_command(CLI::App& app) {
    auto args = std::make_shared<TrainArgs>();
    train::TrainConfig& c = args->config;
    CLI::App* cmd = app.add_subcommand("train", "train AG-CNN's three stages (global, local, fusion)");
    cmd->add_option("--data", c.data_dir, "data folder (official layout) or images folder (--split lists)");
    cmd->add_option("--out", args->out, "run folder")->required();
    cmd->add_option("--stage", args->stage, "stage to run")->check(CLI::IsMember({"all", "global", "local", "fusion"}))
        ->capture_default_str();
    cmd->add_flag("--resume", args->resume, "continue the run in --out with its own config.json");
    cmd->add_option("--weights", c.weights, "ImageNet ResNet-50 .safetensors (agcnn-convert); none = from scratch");
    cmd->add_option("--split", c.split, "official | random | lists")->check(CLI::IsMember({"official", "random", "lists"}))
        ->capture_default_str();
    cmd->add_option("--val-fraction", c.val_fraction,
                    "split official: share of train_val's patients held out for validation")
        ->check(CLI::Range(0.0, 0.99))
        ->capture_default_str();
    cmd->add_option("--split-fractions", c.split_fractions,
                    "split random: train,val,test shares of the patients (the paper's 70/10/20)")
        ->delimiter(',')
        ->expected(3)
        ->capture_default_str();
    cmd->add_option("--train-list", c.train_list, "CheXNet-style list (split lists)");
    cmd->add_option("--val-list", c.val_list, "CheXNet-style list (split lists)");
    cmd->add_option("--test-list", c.test_list, "CheXNet-style list (split lists)");
    cmd->add_option("--input-size", c.input_size, "network input size")->capture_default_str();
    cmd->add_option("--resize", c.resize, "resize before the crop")->capture_default_str();
    cmd->add_option("--augment", c.augment, "random crop + horizontal flip (true/false)")->capture_default_str();
    cmd->add_option("--contrast", c.contrast, "histogram equalisation strength 0..1")->capture_default_str();
    cmd->add_option("--pack", c.pack_side,
                    "longer side of the packed image cache built in the data folder (0 = read the "
                    "PNGs at full resolution every epoch)")
        ->capture_default_str();
    cmd->add_option("--base-width", c.base_width, "ResNet-50 base width (64 = the real one)")->capture_default_str();
    cmd->add_option("--tau", c.tau, "attention threshold")->capture_default_str();
    cmd->add_option("--heatmap", c.heatmap, "max | l1 | l2 over channels")->check(CLI::IsMember({"max", "l1", "l2"}))
        ->capture_default_str();
    cmd->add_option("--local-init", c.local_init,
                    "the local branch starts like the global one (imagenet: --weights, else random) or as a "
                    "copy of the trained global branch (global)")
        ->check(CLI::IsMember({"imagenet", "global"}))
        ->capture_default_str();
    cmd->add_option("--optimizer", c.optimizer, "sgd | adam")->check(CLI::IsMember({"sgd", "adam"}))->capture_default_str();
    cmd->add_option("--lr", c.lr, "learning rate")->capture_default_str();
    cmd->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
    cmd->add_option("--weight-decay", c.weight_decay, "L2 weight decay")->capture_default_str();
    cmd->add_option("--lr-step", c.lr_step, "epochs between lr decays (0 = constant)")->capture_default_str();
    cmd->add_option("--lr-gamma", c.lr_gamma, "lr decay factor")->capture_default_str();
    add_stage_options(cmd, "global", c.global);
    add_stage_options(cmd, "local", c.local);
    add_stage_options(cmd, "fusion", c.fusion);
    cmd->add_option("--accumulate", c.accumulate,
                    "micro-batches whose gradients each optimizer step averages (per process; a step trains "
                    "on batch x accumulate x processes images)")
        ->capture_default_str();
    cmd->add_option("--step-weights", args->step_weights,
                    "write the trained branch's parameters after every step into this folder (checks; slow)");
    cmd->add_option("--attention-cache", args->attention_cache,
                    "stage II on attention boxes computed once (augment off; the same weights, faster)")
        ->capture_default_str();
    cmd->add_option("--fusion-cache", c.fusion_cache, "stage III on features computed once (augment off)")
        ->capture_default_str();
    cmd->add_option("--seed", c.seed, "seed of weights, split and data order")
        ->check(non_negative_whole())
        ->capture_default_str();
    add_device_options(cmd, args->device);
    cmd->add_option("--workers", c.loader_workers, "loader threads")->capture_default_str();
    cmd->add_option("--checkpoint-minutes", c.checkpoint_minutes,
                    "a mid-epoch checkpoint at most this often (0 = only at epoch ends)")
        ->capture_default_str();
    add_threads_option(cmd, c.threads);
    add_conv_option(cmd);
    cmd->add_flag("--quiet", args->quiet, "no progress bar");
    cmd->callback([args] { run_train(*args); });
}

}  // namespace agcnn::cli
