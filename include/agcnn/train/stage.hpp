// agcnn/train/stage.hpp — one of AG-CNN's three training stages (Guan et al. 2018, section 3.4).
//
//   I   global: the global branch learns on whole images.
//   II  local:  the local branch learns on the attention crops; the global branch is frozen
//               (eval mode, gradients off, no activations kept).
//   III fusion: only the fusion layer learns, on the two frozen branches' pooled vectors. With
//               augmentation off and fusion_cache on, those vectors are computed once per split
//               and each epoch shuffles the cached rows (order drawn from (seed, epoch)).
// Every epoch: validation AUROC of the stage's branch, one line in RUN/metrics.jsonl, the best
// epoch by validation mean AUROC saved as RUN/<stage>-best.safetensors, then an atomic
// checkpoint RUN/checkpoint-<stage>.safetensors. Ctrl-C checkpoints mid-epoch and throws
// Interrupted; a NaN or infinite loss throws an Error and leaves the last checkpoint untouched.
#pragma once

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>

#include "agcnn/autograd/backward.hpp"
#include "agcnn/ops/bce_with_logits.hpp"
#include "agcnn/optim/adam.hpp"
#include "agcnn/train/checkpoint.hpp"
#include "agcnn/train/evaluate.hpp"
#include "agcnn/train/interrupt.hpp"
#include "agcnn/train/progress.hpp"

namespace agcnn::train {

struct StageContext {
    TrainConfig config;
    std::string run_dir;
    DataSource* data = nullptr;
    Device device;
    Progress* progress = nullptr;
    std::string config_json;
    // Called after every trained batch (tests interrupt runs at a chosen batch with it).
    std::function<void(Stage, int epoch, std::int64_t batch)> after_batch;

    std::string path(const std::string& file) const { return run_dir + "/" + file; }
    std::string checkpoint(Stage s) const {
        return path(std::string("checkpoint-") + stage_name(s) + ".safetensors");
    }
    std::string best(Stage s) const { return path(std::string(stage_name(s)) + "-best.safetensors"); }
};

inline nn::Module& stage_module(model::AgCnn& net, Stage s) {
    if (s == Stage::global) return net.global;
    if (s == Stage::local) return net.local;
    return net.fusion;
}

inline std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c,
                                                        optim::NamedParameters parameters) {
    if (c.optimizer == "adam")
        return std::make_unique<optim::Adam>(std::move(parameters),
                                             optim::AdamOptions{.lr = c.lr, .weight_decay = c.weight_decay});
    return std::make_unique<optim::Sgd>(
        std::move(parameters),
        optim::SgdOptions{.lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay});
}

// Pooled vectors of both frozen branches and the labels of a whole split (stage III cache).
struct FeatureCache {
    Tensor global, local, labels;  // [n, F], [n, F], [n, 15] on the CPU
};

inline FeatureCache cache_features(model::AgCnn& net, const StageContext& ctx, Split split) {
    std::vector<float> g, l, y;
    auto reader = ctx.data->epoch(split, 0, ctx.config.fusion.batch_size, 0);
    while (auto batch = reader->next()) {
        const BranchOutputs out =
            infer(net, *batch, *ctx.data, ctx.config.attention(), ctx.device);
        for (auto [tensor, dst] : {std::pair{&out.global_pooled, &g}, {&out.local_pooled, &l},
                                   {&batch->labels, &y}}) {
            const std::vector<float> v = tensor->to_vector();
            dst->insert(dst->end(), v.begin(), v.end());
        }
    }
    const std::int64_t n = static_cast<std::int64_t>(y.size()) / data::kLabelCount;
    AGCNN_CHECK(n > 0, "stage fusion: the ", split_name(split), " split is empty");
    const std::int64_t f = static_cast<std::int64_t>(g.size()) / n;
    return {Tensor::from_vector({n, f}, g), Tensor::from_vector({n, f}, l),
            Tensor::from_vector({n, data::kLabelCount}, y)};
}

inline Tensor gather_rows(const Tensor& t, const std::vector<std::int64_t>& rows) {
    const std::int64_t width = t.dim(1);
    Tensor out = Tensor::empty({static_cast<std::int64_t>(rows.size()), width});
    for (std::size_t i = 0; i < rows.size(); ++i)
        std::copy_n(t.data() + rows[i] * width, width, out.data() + i * width);
    return out;
}

// The row order of cached epoch `epoch`: a Fisher-Yates shuffle drawn from (seed, epoch).
inline std::vector<std::int64_t> cached_order(std::int64_t n, std::uint64_t seed, int epoch) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    Rng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch) + 1);
    for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order[i], order[rng.below(static_cast<std::uint64_t>(i + 1))]);
    return order;
}

// Validation scores of the stage's branch.
inline Scores validate(model::AgCnn& net, const StageContext& ctx, Stage stage,
                       const FeatureCache* val_cache) {
    Scores scores;
    NoGradGuard no_grad;
    if (val_cache) {
        net.fusion.eval();
        scores.append(net.fuse(val_cache->global.to(ctx.device), val_cache->local.to(ctx.device)),
                      val_cache->labels);
        return scores;
    }
    const int batch_size = ctx.config.stage(stage).batch_size;
    auto reader = ctx.data->epoch(Split::val, 0, batch_size, 0);
    while (auto batch = reader->next()) {
        if (stage == Stage::global) {
            net.global.eval();
            scores.append(net.global.forward(batch->images.to(ctx.device)), batch->labels);
            continue;
        }
        const BranchOutputs out = infer(net, *batch, *ctx.data, ctx.config.attention(), ctx.device);
        scores.append(stage == Stage::local ? out.local_logits : out.fusion_logits, batch->labels);
    }
    return scores;
}

// The training loss of one batch for the stage (graph only through the trained branch).
inline Tensor stage_loss(model::AgCnn& net, const StageContext& ctx, Stage stage,
                         const data::Batch& batch) {
    const Tensor labels = batch.labels.to(ctx.device);
    if (stage == Stage::global) {
        net.global.train();
        return ops::bce_with_logits(net.global.forward(batch.images.to(ctx.device)), labels);
    }
    LocalInput in = local_input(net, batch, *ctx.data, ctx.config.attention(), ctx.device);
    if (stage == Stage::local) {
        net.local.train();
        return ops::bce_with_logits(net.local.forward(in.crops.to(ctx.device)), labels);
    }
    Tensor local_pooled;
    {
        NoGradGuard no_grad;
        net.local.eval();
        local_pooled = net.local.forward_all(in.crops.to(ctx.device)).pooled;
    }
    net.fusion.train();
    return ops::bce_with_logits(net.fuse(in.global.pooled, local_pooled), labels);
}

// On resume: drops the stage's lines of epochs not yet checkpointed (a crash between the
// metrics line and the checkpoint would otherwise repeat them).
inline void trim_metrics(const StageContext& ctx, Stage stage, int epochs_done) {
    const std::string path = ctx.path("metrics.jsonl");
    if (!std::filesystem::exists(path)) return;
    std::ifstream in(path);
    std::string kept, text;
    while (std::getline(in, text)) {
        const auto line = nlohmann::json::parse(text, nullptr, false);
        if (!line.is_discarded() && line.value("stage", "") == stage_name(stage) &&
            line.value("epoch", 0) > epochs_done)
            continue;
        kept += text + "\n";
    }
    io::write_file_atomic(path, kept);
}

inline void append_metrics_line(const StageContext& ctx, const nlohmann::ordered_json& line) {
    std::ofstream out(ctx.path("metrics.jsonl"), std::ios::app);
    out << line.dump() << '\n';
    AGCNN_CHECK(out.good(), ctx.path("metrics.jsonl"), ": write failed");
}

// Runs (or continues) one stage. The model must hold the stage's starting weights unless a
// checkpoint of the stage exists, which then overrides them.
inline void run_stage(model::AgCnn& net, const StageContext& ctx, Stage stage) {
    const TrainConfig& c = ctx.config;
    const StageConfig& sc = c.stage(stage);
    for (Stage s : kStages) stage_module(net, s).set_requires_grad(s == stage);
    const std::string prefix = std::string(stage_name(stage)) + ".";
    auto optimizer = make_optimizer(c, stage_module(net, stage).named_parameters(prefix));
    StageState state;
    if (std::filesystem::exists(ctx.checkpoint(stage))) {
        state = load_checkpoint(ctx.checkpoint(stage), net, *optimizer, stage);
        if (state.finished) return;
        trim_metrics(ctx, stage, state.epoch);
        ctx.progress->line(std::string("resuming stage ") + stage_name(stage) + " at epoch " +
                           std::to_string(state.epoch + 1) + ", batch " + std::to_string(state.batch));
    }
    const bool cached = stage == Stage::fusion && c.fusion_cache && !c.augment;
    FeatureCache train_cache, val_cache;
    if (cached && state.epoch < sc.epochs) {
        ctx.progress->line("stage fusion: computing the frozen branches' features once");
        train_cache = cache_features(net, ctx, Split::train);
        val_cache = cache_features(net, ctx, Split::val);
    }
    const std::int64_t batches = cached ? (train_cache.labels.dim(0) + sc.batch_size - 1) / sc.batch_size
                                        : ctx.data->batches(Split::train, sc.batch_size);
    for (; state.epoch < sc.epochs; ++state.epoch, state.batch = 0, state.loss_sum = 0) {
        const auto started = std::chrono::steady_clock::now();
        optimizer->set_lr(optim::step_decay_lr(c.lr, state.epoch, c.lr_step, c.lr_gamma));
        ctx.progress->start(stage_name(stage), state.epoch, sc.epochs, batches, state.batch);
        std::unique_ptr<BatchReader> reader;
        std::vector<std::int64_t> order;
        if (cached)
            order = cached_order(train_cache.labels.dim(0), c.seed, state.epoch);
        else
            reader = ctx.data->epoch(Split::train, state.epoch, sc.batch_size, state.batch);
        while (state.batch < batches) {
            Tensor loss;
            std::int64_t count = 0;
            if (cached) {
                const auto first = order.begin() + state.batch * sc.batch_size;
                const std::vector<std::int64_t> rows(
                    first, first + std::min<std::int64_t>(sc.batch_size, order.end() - first));
                count = static_cast<std::int64_t>(rows.size());
                net.fusion.train();
                loss = ops::bce_with_logits(
                    net.fuse(gather_rows(train_cache.global, rows).to(ctx.device),
                             gather_rows(train_cache.local, rows).to(ctx.device)),
                    gather_rows(train_cache.labels, rows).to(ctx.device));
            } else {
                auto batch = reader->next();
                AGCNN_CHECK(batch.has_value(), "stage ", stage_name(stage), ": the loader ended after ",
                            state.batch, " of ", batches, " batches");
                count = batch->labels.dim(0);
                loss = stage_loss(net, ctx, stage, *batch);
            }
            const double value = loss.item();
            AGCNN_CHECK(std::isfinite(value), "stage ", stage_name(stage), " epoch ", state.epoch + 1,
                        " batch ", state.batch + 1, ": the loss is ", value,
                        "; training stopped. The last good checkpoint is kept: ",
                        ctx.checkpoint(stage), " (lower the learning rate or check the data)");
            optimizer->zero_grad();
            backward(loss);
            optimizer->step();
            ++state.batch;
            state.loss_sum += value;
            ctx.progress->update(state.batch, count, value);
            if (ctx.after_batch) ctx.after_batch(stage, state.epoch, state.batch);
            if (stop_requested() && state.batch < batches) {
                save_checkpoint(ctx.checkpoint(stage), net, *optimizer, stage, state, ctx.config_json);
                throw Interrupted{ctx.checkpoint(stage)};
            }
        }
        const Scores scores = validate(net, ctx, stage, cached ? &val_cache : nullptr);
        const double mean = scores.mean_auroc();
        const bool better = state.best_epoch < 0 ||
                            (!std::isnan(mean) && (std::isnan(state.best_auroc) || mean > state.best_auroc));
        if (better) {
            state.best_auroc = mean, state.best_epoch = state.epoch;
            net.save(ctx.best(stage), {{"stage", stage_name(stage)},
                                       {"epoch", std::to_string(state.epoch + 1)},
                                       {"val_mean_auroc", detail::exact(mean)},
                                       {"config", ctx.config_json}});
        }
        nlohmann::ordered_json line = {
            {"stage", stage_name(stage)},
            {"epoch", state.epoch + 1},
            {"lr", optimizer->lr()},
            {"train_loss", state.loss_sum / double(batches)},
            {"best", better},
            {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
        line.update(auroc_json(scores));  // "mean_auroc", then "auroc" per label
        append_metrics_line(ctx, line);
        char text[160];
        std::snprintf(text, sizeof text, "[%s] epoch %d/%d: train loss %.4f, val mean AUROC %.4f%s",
                      stage_name(stage), state.epoch + 1, sc.epochs, state.loss_sum / double(batches),
                      mean, better ? " (best)" : "");
        ctx.progress->line(text);
        StageState next = state;
        ++next.epoch, next.batch = 0, next.loss_sum = 0;
        save_checkpoint(ctx.checkpoint(stage), net, *optimizer, stage, next, ctx.config_json);
        if (stop_requested() && next.epoch < sc.epochs) throw Interrupted{ctx.checkpoint(stage)};
    }
    state.batch = 0;
    state.finished = true;
    if (state.best_epoch < 0)  // zero epochs: the starting weights are the stage's result
        net.save(ctx.best(stage), {{"stage", stage_name(stage)}, {"epoch", "0"}, {"config", ctx.config_json}});
    save_checkpoint(ctx.checkpoint(stage), net, *optimizer, stage, state, ctx.config_json);
}

}  // namespace agcnn::train
