// agcnn/train/stage.hpp — one of AG-CNN's three training stages (Guan et al. 2018, section 3.4).
//
//   I   global: the global branch learns on whole images.
//   II  local:  the local branch learns on the attention crops; the global branch is frozen
//               (eval mode, gradients off, no activations kept). With augmentation off an
//               image's network input, and so its attention box, is the same every epoch: the
//               boxes are computed once per split (attention_cache) and each batch crops from
//               them, which skips the frozen global branch's forward pass (a quarter of a
//               stage-II step at the demo's scale) and trains the same weights, bit for bit.
//   III fusion: only the fusion layer learns, on the two frozen branches' pooled vectors. With
//               augmentation off and fusion_cache on, those vectors are computed once per split
//               and each epoch shuffles the cached rows (order drawn from (seed, epoch)).
// Every batch runs model::forward (model/forward.hpp) with the stage's branch trained. Every
// epoch: validation AUROC of the stage's branch, one line in RUN/metrics.jsonl, the best epoch by
// validation mean AUROC saved as RUN/<stage>-best.safetensors, then an atomic checkpoint
// RUN/checkpoint-<stage>.safetensors; within an epoch, a checkpoint at most every
// config.checkpoint_minutes, so a crash loses no more. A stop request (SIGINT, SIGTERM)
// checkpoints mid-epoch and throws Interrupted. Divergence, a NaN or infinite loss or a NaN
// validation score, throws an Error and leaves the last checkpoint (and best weights) untouched.
//
// Steps and data parallelism (docs/distributed.md): an optimizer step averages the gradients of
// config.accumulate micro-batches on each of the communicator's processes (each loss scaled by
// 1 / (accumulate x processes) before its backward; train/gradient_reducer.hpp sums them across
// processes). Rank r trains on micro-batches r x K .. r x K + K - 1 of every K x N of the epoch's
// one order (data::Shard), so a run of N processes and a run of one with accumulate K x N take
// the same micro-batches into each step. Batch norm normalises each micro-batch by its own
// statistics (PyTorch DDP's default); rank 0's running statistics go to every rank after each
// step. Every rank validates the same weights on the whole split (the figures are a single
// process's); only rank 0 writes files (checkpoints, best weights, metrics, step weights), and
// the ranks agree after each step on the stop request, rank 0's checkpoint clock and the loss.
#pragma once

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "agcnn/autograd/backward.hpp"
#include "agcnn/core/reporter.hpp"
#include "agcnn/metrics/scores.hpp"
#include "agcnn/model/forward.hpp"
#include "agcnn/ops/bce_with_logits.hpp"
#include "agcnn/ops/cpu/packed_filters.hpp"
#include "agcnn/optim/adam.hpp"
#include "agcnn/train/checkpoint.hpp"
#include "agcnn/train/communicator.hpp"
#include "agcnn/train/data_source.hpp"
#include "agcnn/train/gradient_reducer.hpp"
#include "agcnn/train/interrupt.hpp"

namespace agcnn::train {

struct StageContext {
    TrainConfig config;
    std::string run_dir;
    DataSource* data = nullptr;
    Device device;
    Reporter* reporter = &silent_reporter();
    std::string config_json;
    // Called after every trained batch (tests interrupt runs at a chosen batch with it).
    std::function<void(Stage, int epoch, std::int64_t batch)> after_batch;
    Communicator* comm = &single_process();
    // When set, rank 0 writes the trained branch's parameters after every optimizer step to
    // <step_weights>/<stage>-step-<n>.safetensors (n counts the stage's steps from 1; checks).
    std::string step_weights;
    // Stage II's attention boxes computed once when augmentation is off (see the top).
    bool attention_cache = true;

    bool writes() const { return comm->rank() == 0; }
    // Which micro-batches of an epoch this process trains on.
    data::Shard shard() const { return {comm->rank(), comm->size(), config.accumulate}; }

    std::string path(const std::string& file) const { return run_dir + "/" + file; }
    std::string checkpoint(Stage s) const {
        return path(std::string("checkpoint-") + model::branch_name(s) + ".safetensors");
    }
    std::string best(Stage s) const { return path(std::string(model::branch_name(s)) + "-best.safetensors"); }
};

// model::forward's options for this run: `trained` learns, the pass stops after `through`.
inline model::ForwardOptions forward_options(const StageContext& ctx, std::optional<Stage> trained,
                                             Stage through = Stage::fusion) {
    return {ctx.config.attention(), ctx.device, trained, through, false};
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
        const model::AgCnnOutputs out = model::forward(net, batch->images, crop_from(*ctx.data, *batch),
                                                       forward_options(ctx, std::nullopt, Stage::local));
        for (auto [tensor, dst] : {std::pair{&out.global.pooled, &g}, {&out.local.pooled, &l},
                                   {&batch->labels, &y}}) {
            const std::vector<float> v = tensor->to_vector();
            dst->insert(dst->end(), v.begin(), v.end());
        }
    }
    const std::int64_t n = static_cast<std::int64_t>(y.size()) / model::kLabelCount;
    AGCNN_CHECK(n > 0, "stage fusion: the ", split_name(split), " split is empty");
    const std::int64_t f = static_cast<std::int64_t>(g.size()) / n;
    return {Tensor::from_vector({n, f}, g), Tensor::from_vector({n, f}, l),
            Tensor::from_vector({n, model::kLabelCount}, y)};
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

// Stage II's attention boxes, per image name: the frozen global branch's box of each image of a
// split (its evaluation-transform input; augmentation off).
using BoxCache = std::unordered_map<std::string, Box>;

inline BoxCache cache_attention(model::AgCnn& net, const StageContext& ctx, Split split) {
    BoxCache boxes;
    auto reader = ctx.data->epoch(split, 0, ctx.config.local.batch_size, 0);
    while (auto batch = reader->next()) {
        const model::AgCnnOutputs out = model::forward(net, batch->images, crop_from(*ctx.data, *batch),
                                                       forward_options(ctx, std::nullopt, Stage::global));
        const auto attention = model::attend_batch(out.global.features, static_cast<int>(batch->images.dim(1)),
                                                   ctx.config.attention());
        for (std::size_t i = 0; i < attention.size(); ++i) boxes[batch->names[i]] = attention[i].box;
    }
    return boxes;
}

// The stage's pass over one batch: up to `stage`, the trained branch (if any) learning; stage II
// takes the batch's boxes from `boxes` when given (model::forward refuses them for other stages).
inline model::AgCnnOutputs stage_forward(model::AgCnn& net, const StageContext& ctx, const data::Batch& batch,
                                         std::optional<Stage> trained, Stage stage, const BoxCache* boxes) {
    model::ForwardOptions options = forward_options(ctx, trained, stage);
    std::vector<Box> known;
    if (boxes) {
        for (const std::string& name : batch.names) {
            const auto it = boxes->find(name);
            AGCNN_CHECK(it != boxes->end(), "stage local: no cached attention box for ", name);
            known.push_back(it->second);
        }
        options.boxes = &known;
    }
    return model::forward(net, batch.images, crop_from(*ctx.data, batch), options);
}

// Validation scores of the stage's branch.
inline metrics::Scores validate(model::AgCnn& net, const StageContext& ctx, Stage stage,
                                const FeatureCache* val_cache, const BoxCache* val_boxes) {
    metrics::Scores scores;
    if (val_cache) {
        NoGradGuard no_grad;
        net.fusion.eval();
        scores.append(net.fuse(val_cache->global.to(ctx.device), val_cache->local.to(ctx.device)),
                      val_cache->labels);
        return scores;
    }
    cpu::PackedFilters packed;  // the weights hold still for the pass: their filters packed once
    cpu::PackedFiltersScope packed_scope(packed);
    auto reader = ctx.data->epoch(Split::val, 0, ctx.config.stage(stage).batch_size, 0);
    while (auto batch = reader->next()) {
        const model::AgCnnOutputs out = stage_forward(net, ctx, *batch, std::nullopt, stage, val_boxes);
        scores.append(out.logits(stage), batch->labels);
    }
    return scores;
}

// One training batch: its loss, with the autograd graph through the trained branch only.
struct TrainingBatch {
    Tensor loss;
    std::int64_t images = 0;
};

// The batches of one epoch from `first_batch` on, as a function that returns the next one.
using EpochBatches = std::function<TrainingBatch()>;

// From the data source: this process's micro-batches of the epoch from `first_batch` (of its
// shard) on; every one runs the forward pass up to the stage's branch (stage_forward).
inline EpochBatches loader_batches(model::AgCnn& net, const StageContext& ctx, Stage stage, int epoch,
                                   std::int64_t first_batch, std::int64_t batches, const BoxCache* boxes) {
    std::shared_ptr<BatchReader> reader =
        ctx.data->shard_epoch(Split::train, epoch, ctx.config.stage(stage).batch_size, first_batch, ctx.shard());
    return [&net, &ctx, stage, reader, next = first_batch, batches, boxes]() mutable {
        const auto batch = reader->next();
        AGCNN_CHECK(batch.has_value(), "stage ", model::branch_name(stage), ": the loader ended after ", next,
                    " of ", batches, " batches");
        ++next;
        const model::AgCnnOutputs out = stage_forward(net, ctx, *batch, stage, stage, boxes);
        return TrainingBatch{ops::bce_with_logits(out.logits(stage), batch->labels.to(ctx.device)),
                             batch->labels.dim(0)};
    };
}

// Stage III from the feature cache: the fusion layer alone, on rows shuffled per epoch (this
// process's micro-batches of them, from `first_batch` of its shard on).
inline EpochBatches cached_fusion_batches(model::AgCnn& net, const StageContext& ctx, const FeatureCache& cache,
                                          int epoch, std::int64_t first_batch) {
    const std::int64_t batch_size = ctx.config.fusion.batch_size;
    return [&net, &ctx, &cache, batch_size, next = first_batch, shard = ctx.shard(),
            order = cached_order(cache.labels.dim(0), ctx.config.seed, epoch)]() mutable {
        const auto first = order.begin() + shard.batch(next) * batch_size;
        const std::vector<std::int64_t> rows(first, first + std::min<std::int64_t>(batch_size, order.end() - first));
        ++next;
        net.fusion.train();
        const Tensor logits = net.fuse(gather_rows(cache.global, rows).to(ctx.device),
                                       gather_rows(cache.local, rows).to(ctx.device));
        return TrainingBatch{ops::bce_with_logits(logits, gather_rows(cache.labels, rows).to(ctx.device)),
                             static_cast<std::int64_t>(rows.size())};
    };
}

// On resume: drops the stage's lines of epochs not yet checkpointed (a crash between the
// metrics line and the checkpoint would otherwise repeat them).
inline void trim_metrics(const StageContext& ctx, Stage stage, int epochs_done) {
    const std::string path = ctx.path("metrics.jsonl");
    if (!ctx.writes() || !std::filesystem::exists(path)) return;
    std::istringstream in(io::read_file(path));
    std::string kept, text;
    while (std::getline(in, text)) {
        const auto line = nlohmann::json::parse(text, nullptr, false);
        if (!line.is_discarded() && line.value("stage", "") == model::branch_name(stage) &&
            line.value("epoch", 0) > epochs_done)
            continue;
        kept += text + "\n";
    }
    io::write_file_atomic(path, kept);
}

inline void append_metrics_line(const StageContext& ctx, const nlohmann::ordered_json& line) {
    if (!ctx.writes()) return;
    std::ofstream out(ctx.path("metrics.jsonl"), std::ios::app);
    out << line.dump() << '\n';
    AGCNN_CHECK(out.good(), ctx.path("metrics.jsonl"), ": write failed");
}

inline void save_best(model::AgCnn& net, const StageContext& ctx, Stage stage, int epochs, double val_mean) {
    if (!ctx.writes()) return;
    std::map<std::string, std::string> metadata{
        {"stage", model::branch_name(stage)}, {"epoch", std::to_string(epochs)}, {"config", ctx.config_json}};
    if (epochs > 0) metadata["val_mean_auroc"] = detail::exact(val_mean);
    io::save_agcnn(net, ctx.best(stage), metadata);
}

// The error that stops a diverged stage: `what` went wrong, where, and which checkpoint is kept
// (the last one written; before the first there is none, and a rerun starts the stage).
inline Error divergence_error(const StageContext& ctx, Stage stage, const std::string& what) {
    const std::string checkpoint = ctx.checkpoint(stage);
    const std::string kept = std::filesystem::exists(checkpoint)
                                 ? "The last good checkpoint is kept: " + checkpoint
                                 : std::string("No checkpoint of this stage was written yet (one is written after "
                                               "each epoch and every checkpoint_minutes)");
    return Error("stage " + std::string(model::branch_name(stage)) + " " + what + "; training stopped. " + kept +
                 " (lower the learning rate or check the data)");
}

// The training checkpoint of the stage (rank 0 writes it).
inline void write_checkpoint(model::AgCnn& net, const StageContext& ctx, Stage stage, optim::Optimizer& optimizer,
                             const StageState& state) {
    if (ctx.writes()) save_checkpoint(ctx.checkpoint(stage), net, optimizer, stage, state, ctx.config_json);
}

// True on every rank when `flag` is true on any.
inline bool any_rank(const StageContext& ctx, bool flag) {
    double value = flag ? 1 : 0;
    ctx.comm->sum(&value, 1);
    return value > 0;
}

// The trained branch's parameters after step `n` of the stage (StageContext::step_weights).
inline void write_step_weights(model::AgCnn& net, const StageContext& ctx, Stage stage, std::int64_t n) {
    if (ctx.step_weights.empty() || !ctx.writes()) return;
    std::filesystem::create_directories(ctx.step_weights);
    io::TensorFile file;
    file.metadata = {{"stage", model::branch_name(stage)}, {"step", std::to_string(n)}};
    for (const auto& [name, p] : net.branch(stage).named_parameters(std::string(model::branch_name(stage)) + "."))
        file.add_f32(name, p->shape(), p->to_vector().data());
    io::write_safetensors(ctx.step_weights + "/" + model::branch_name(stage) + "-step-" + std::to_string(n) +
                              ".safetensors",
                          file);
}

// Time and images of a stage's training steps (validation excluded), for its closing note.
struct StepTotals {
    double seconds = 0;
    std::int64_t images = 0, steps = 0;
};

// Trains the steps of state.epoch from state.batch on, with a mid-epoch checkpoint every
// config.checkpoint_minutes (rank 0's clock). A stop request on any rank checkpoints mid-epoch
// and throws Interrupted on every rank. `reducer` is null in a run of one process.
inline void train_epoch(model::AgCnn& net, const StageContext& ctx, Stage stage, optim::Optimizer& optimizer,
                        StageState& state, std::int64_t batches, const EpochBatches& next_batch,
                        GradientReducer* reducer, StepTotals& totals) {
    const int epochs = ctx.config.stage(stage).epochs;
    const int micro = ctx.config.accumulate, ranks = ctx.comm->size();
    Step step{"[" + std::string(model::branch_name(stage)) + "] epoch " + std::to_string(state.epoch + 1) + "/" +
                  std::to_string(epochs),
              state.batch, batches, state.batch, 0};
    const double checkpoint_seconds = ctx.config.checkpoint_minutes * 60;
    auto last_checkpoint = std::chrono::steady_clock::now();
    while (state.batch < batches) {
        const auto step_started = std::chrono::steady_clock::now();
        optimizer.zero_grad();
        // shared = {this rank's loss sum, stop requested, rank 0's checkpoint is due}, summed
        double shared[3] = {0, 0, 0};
        std::int64_t images = 0;
        for (int k = 0; k < micro; ++k) {
            const TrainingBatch batch = next_batch();
            const double value = batch.loss.item();
            if (!std::isfinite(value))
                throw divergence_error(ctx, stage, "epoch " + std::to_string(state.epoch + 1) + " batch " +
                                                       std::to_string(state.batch + 1) + ": the loss is " +
                                                       std::to_string(value));
            // The step's gradient is the mean over its K x N micro-batches: each loss weighs 1 / (K N).
            const Tensor weight =
                micro * ranks == 1
                    ? Tensor()
                    : Tensor::full(batch.loss.shape(), 1.0f / float(micro * ranks)).to(batch.loss.device());
            backward(batch.loss, weight, reducer && k == micro - 1 ? reducer->leaf_done() : nullptr);
            shared[0] += value, images += batch.images;
        }
        if (reducer) reducer->finish();
        optimizer.step();
        if (reducer) broadcast_buffers(net.branch(stage), *ctx.comm);
        ++state.batch;
        if (ctx.after_batch) ctx.after_batch(stage, state.epoch, state.batch);
        const auto now = std::chrono::steady_clock::now();
        shared[1] = stop_requested() ? 1 : 0;
        shared[2] = ctx.writes() && checkpoint_seconds > 0 &&
                    std::chrono::duration<double>(now - last_checkpoint).count() >= checkpoint_seconds;
        ctx.comm->sum(shared, 3);
        const double value = shared[0] / double(micro * ranks);
        state.loss_sum += value;
        totals.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count();
        totals.images += images * ranks, ++totals.steps;
        write_step_weights(net, ctx, stage, std::int64_t(state.epoch) * batches + state.batch);
        step.done = state.batch, step.items += images * ranks, step.loss = value;
        ctx.reporter->step(step);
        if (state.batch == batches) break;  // the epoch's end writes its own checkpoint
        if (shared[1] > 0 || shared[2] > 0) {
            write_checkpoint(net, ctx, stage, optimizer, state);
            last_checkpoint = now;
        }
        if (shared[1] > 0) throw Interrupted{ctx.checkpoint(stage)};
    }
}

// After an epoch's batches: validation, the best weights, the metrics line (its seconds count
// from `started`, validation included), the checkpoint.
inline void finish_epoch(model::AgCnn& net, const StageContext& ctx, Stage stage, optim::Optimizer& optimizer,
                         StageState& state, std::int64_t batches, std::chrono::steady_clock::time_point started,
                         const FeatureCache* val_cache, const BoxCache* val_boxes) {
    const metrics::Scores scores = validate(net, ctx, stage, val_cache, val_boxes);
    if (scores.nan_scores() > 0)
        throw divergence_error(ctx, stage, "epoch " + std::to_string(state.epoch + 1) + ": " +
                                               std::to_string(scores.nan_scores()) + " of " +
                                               std::to_string(scores.probabilities.size()) +
                                               " validation scores are NaN");
    const double mean = scores.mean_auroc();
    const bool better =
        state.best_epoch < 0 || (!std::isnan(mean) && (std::isnan(state.best_auroc) || mean > state.best_auroc));
    if (better) {
        state.best_auroc = mean, state.best_epoch = state.epoch;
        save_best(net, ctx, stage, state.epoch + 1, mean);
    }
    nlohmann::ordered_json line = {{"stage", model::branch_name(stage)},
                                   {"epoch", state.epoch + 1},
                                   {"lr", optimizer.lr()},
                                   {"train_loss", state.loss_sum / double(batches)},
                                   {"best", better},
                                   {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
    line.update(metrics::auroc_json(scores));  // "mean_auroc", then "auroc" per label
    append_metrics_line(ctx, line);
    char text[160];
    std::snprintf(text, sizeof text, "[%s] epoch %d/%d: train loss %.4f, val mean AUROC %.4f%s",
                  model::branch_name(stage), state.epoch + 1, ctx.config.stage(stage).epochs,
                  state.loss_sum / double(batches), mean, better ? " (best)" : "");
    ctx.reporter->note(text);
    ++state.epoch, state.batch = 0, state.loss_sum = 0;
    write_checkpoint(net, ctx, stage, optimizer, state);
}

// The steps of one training epoch: full batches only, as torch's DataLoader(drop_last=True); a
// step takes batch_size x accumulate x processes images. Each epoch leaves out its last
// `images % (images of a step)` images (others each epoch: the order is shuffled), and a note
// says so. Why: batch norm's statistics over a last batch of a few images
// are noise and its gradients are not small. With 34 images in batches of 8 at input 32, the last
// batch of 2 put 2 values per channel into layer4's batch norm; its gradients were 1000 times
// the other batches', one SGD step multiplied the weights sixty-fold, and the evaluation's
// activations overflowed to Inf and NaN. Fewer training images than one batch is an error when
// there is training to do.
inline std::int64_t training_batches(const StageContext& ctx, Stage stage, std::int64_t images, bool training) {
    const int batch_size = ctx.config.stage(stage).batch_size;
    const std::int64_t per_step = std::int64_t(batch_size) * ctx.config.accumulate * ctx.comm->size();
    const std::string name = model::branch_name(stage);
    const bool batches = per_step == batch_size;  // no accumulation, one process
    const std::string size = batches ? " of " + std::to_string(batch_size)
                                     : " of " + std::to_string(per_step) + " (batch " + std::to_string(batch_size) +
                                           " x accumulate " + std::to_string(ctx.config.accumulate) +
                                           " x processes " + std::to_string(ctx.comm->size()) + ")";
    AGCNN_CHECK(!training || images >= per_step, "stage ", name, ": the training split has ", images,
                " images, fewer than one ", batches ? "batch" : "step", size, " (lower --", name, "-batch)");
    if (training && images % per_step != 0)
        ctx.reporter->note("stage " + name + ": " + std::to_string(images) + " training images in " +
                           (batches ? "batches" : "steps") + size + "; each epoch leaves out " + std::to_string(images % per_step) +
                           " (full batches only: batch norm over a few images makes exploding gradients)");
    return images / per_step;
}

// The closing note of a stage's training: images/s of its steps, and with several processes the
// time spent in the gradient reductions per step. Steps on cached feature vectors (stage III)
// see no image, so for them the note gives the time, not a meaningless images/s.
inline void note_throughput(const StageContext& ctx, Stage stage, const StepTotals& totals,
                            const GradientReducer* reducer, bool cached_features) {
    if (totals.steps == 0 || totals.seconds <= 0) return;
    char text[240];
    const auto steps = static_cast<long long>(totals.steps);
    if (cached_features)
        std::snprintf(text, sizeof text, "%lld training steps on cached feature vectors in %.2f s", steps,
                      totals.seconds);
    else
        std::snprintf(text, sizeof text, "%.2f images/s in %lld training steps",
                      double(totals.images) / totals.seconds, steps);
    const int processes = ctx.comm->size();
    std::string line = std::string("stage ") + model::branch_name(stage) + ": " + text + " (" +
                       std::to_string(processes) + (processes == 1 ? " process" : " processes") +
                       ", validation excluded)";
    if (reducer && reducer->steps() > 0) {
        std::snprintf(text, sizeof text, "; gradient allreduce %.2f ms per step (%.1f MB in %zu bucket%s)",
                      1000 * reducer->seconds() / double(reducer->steps()), reducer->bytes_per_step() / 1e6,
                      reducer->bucket_count(), reducer->bucket_count() == 1 ? "" : "s");
        line += text;
    }
    ctx.reporter->note(line);
}


// What a stage computes once, before its epochs, when augmentation is off (the stage's inputs are
// then the same every epoch), for the train and validation splits: stage II's attention boxes
// (StageContext::attention_cache), stage III's feature vectors (config.fusion_cache). Nothing is
// computed when no epoch is left to train.
struct StageCaches {
    bool features = false, boxes = false;  // which one this stage uses
    FeatureCache train_features, val_features;
    BoxCache train_boxes, val_boxes;
};

inline StageCaches prepare_caches(model::AgCnn& net, const StageContext& ctx, Stage stage, bool epochs_left) {
    StageCaches caches;
    cpu::PackedFilters packed;  // the frozen branches' filters, packed once for all passes
    cpu::PackedFiltersScope packed_scope(packed);
    caches.features = stage == Stage::fusion && ctx.config.fusion_cache && !ctx.config.augment;
    caches.boxes = stage == Stage::local && ctx.attention_cache && !ctx.config.augment;
    if (epochs_left && caches.features) {
        ctx.reporter->note("stage fusion: computing the frozen branches' features once");
        caches.train_features = cache_features(net, ctx, Split::train);
        caches.val_features = cache_features(net, ctx, Split::val);
    }
    if (epochs_left && caches.boxes) {
        ctx.reporter->note("stage local: computing the frozen global branch's attention boxes once");
        caches.train_boxes = cache_attention(net, ctx, Split::train);
        caches.val_boxes = cache_attention(net, ctx, Split::val);
    }
    return caches;
}

// Runs (or continues) one stage. The model must hold the stage's starting weights unless a
// checkpoint of the stage exists, which then overrides them.
inline void run_stage(model::AgCnn& net, const StageContext& ctx, Stage stage) {
    const TrainConfig& c = ctx.config;
    const StageConfig& sc = c.stage(stage);
    for (Stage s : model::kBranches) net.branch(s).set_requires_grad(s == stage);
    const std::string prefix = std::string(model::branch_name(stage)) + ".";
    auto optimizer = make_optimizer(c, net.branch(stage).named_parameters(prefix));
    StageState state;
    if (std::filesystem::exists(ctx.checkpoint(stage))) {
        state = load_checkpoint(ctx.checkpoint(stage), net, *optimizer, stage, ctx.config_json);
        if (state.finished) return;
        trim_metrics(ctx, stage, state.epoch);
        ctx.reporter->note(std::string("resuming stage ") + model::branch_name(stage) + " at epoch " +
                           std::to_string(state.epoch + 1) + ", batch " + std::to_string(state.batch));
    }
    const StageCaches caches = prepare_caches(net, ctx, stage, state.epoch < sc.epochs);
    const bool cached = caches.features;
    // (the feature cache has one row per training image, and is empty when no epoch is left)
    const std::int64_t batches = training_batches(ctx, stage, ctx.data->images(Split::train), state.epoch < sc.epochs);
    std::unique_ptr<GradientReducer> reducer;
    if (ctx.comm->size() > 1) reducer = std::make_unique<GradientReducer>(optimizer->parameters(), *ctx.comm);
    StepTotals totals;
    const std::int64_t micro = c.accumulate;  // micro-batches of this process per step
    while (state.epoch < sc.epochs) {
        const auto started = std::chrono::steady_clock::now();
        optimizer->set_lr(optim::step_decay_lr(c.lr, state.epoch, c.lr_step, c.lr_gamma));
        train_epoch(net, ctx, stage, *optimizer, state, batches,
                    cached ? cached_fusion_batches(net, ctx, caches.train_features, state.epoch, state.batch * micro)
                           : loader_batches(net, ctx, stage, state.epoch, state.batch * micro, batches * micro,
                                            caches.boxes ? &caches.train_boxes : nullptr),
                    reducer.get(), totals);
        finish_epoch(net, ctx, stage, *optimizer, state, batches, started, cached ? &caches.val_features : nullptr,
                     caches.boxes ? &caches.val_boxes : nullptr);
        if (any_rank(ctx, stop_requested()) && state.epoch < sc.epochs) throw Interrupted{ctx.checkpoint(stage)};
    }
    note_throughput(ctx, stage, totals, reducer.get(), cached);
    state.batch = 0;
    state.finished = true;
    if (state.best_epoch < 0) save_best(net, ctx, stage, 0, 0);  // zero epochs: the starting weights
    write_checkpoint(net, ctx, stage, *optimizer, state);
    ctx.comm->barrier();  // the next stage reads what rank 0 wrote
}

}  // namespace agcnn::train
