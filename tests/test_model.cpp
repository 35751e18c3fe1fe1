// Tests of the model layer and training: attention geometry on hand-made feature maps, AUROC
// against brute-force pair counting, localization ratios, checkpoints, exact resume, NaN stop.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>

#include "agcnn/metrics/auroc.hpp"
#include "agcnn/metrics/localization.hpp"
#include "agcnn/model/agcnn_model.hpp"
#include "agcnn/model/attention.hpp"
#include "agcnn/model/forward.hpp"
#include "agcnn/app/demo.hpp"
#include "agcnn/app/predict.hpp"
#include "agcnn/app/report.hpp"
#include "agcnn/data/synth_dataset.hpp"
#include "agcnn/io/convert_weights.hpp"
#include "agcnn/io/sha256.hpp"
#include "agcnn/train/dataset_source.hpp"
#include "agcnn/train/run.hpp"
#include "fake_data.hpp"
#include "hostile_input.hpp"
#include "tutorial.inc"  // agcnn.hpp's tutorial, cut from its comment (tests/CMakeLists.txt)

using namespace agcnn;

namespace {

// h x w x c features, zero except the given cells, which get `value` in channel `channel`.
std::vector<float> features(int h, int w, int c, std::vector<std::pair<int, int>> cells,
                            float value = 1.0f, int channel = 0) {
    std::vector<float> f(std::size_t(h) * w * c, 0.0f);
    for (auto [y, x] : cells) f[(std::size_t(y) * w + x) * c + channel] = value;
    return f;
}

std::string temp_dir(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / ("agcnn-test-model-" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

}  // namespace

TEST_CASE("attention: channel statistics max, L1, L2 of |f|") {
    const std::vector<float> f = {-3.0f, 2.0f};  // one pixel, two channels
    CHECK(model::channel_statistic(f.data(), 1, 1, 2, HeatmapStatistic::max)[0] == 3.0f);
    CHECK(model::channel_statistic(f.data(), 1, 1, 2, HeatmapStatistic::l1)[0] == 5.0f);
    CHECK(model::channel_statistic(f.data(), 1, 1, 2, HeatmapStatistic::l2)[0] ==
          doctest::Approx(std::sqrt(13.0)).epsilon(1e-6));
}

TEST_CASE("attention: bilinear resize has half-pixel centres and clamps at the edges") {
    const auto out = model::resize_bilinear({0, 1, 2, 3}, 2, 2, 4, 4);
    // x = u / 2 - 0.25, clamped to [0, 1]: columns 0, 0.25, 0.75, 1 of the 2x2 grid.
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == doctest::Approx(0.25));
    CHECK(out[3] == doctest::Approx(1.0));
    CHECK(out[5] == doctest::Approx(0.75));  // (0.25, 0.25): 0.1875 + 2 * 0.375 * ... = 0.75
    CHECK(out[15] == doctest::Approx(3.0));
    CHECK(model::resize_bilinear({5, 6, 7}, 1, 3, 1, 3) == std::vector<float>{5, 6, 7});
}

TEST_CASE("attention: largest 8-connected region, first one on ties") {
    // A diagonal of 3 (one region with 8-connectivity, three with 4) beats a horizontal pair.
    const std::vector<std::uint8_t> mask = {1, 0, 0, 0, 1, 1,
                                            0, 1, 0, 0, 0, 0,
                                            0, 0, 1, 0, 0, 0};
    const auto region = model::largest_region(mask, 6, 3);
    CHECK(region == std::vector<std::uint8_t>{1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
    CHECK(model::bounding_box(region, 6, 3) == Box{0, 0, 3, 3});
    const std::vector<std::uint8_t> tie = {0, 1, 0, 1};  // two single pixels
    CHECK(model::largest_region(tie, 4, 1) == std::vector<std::uint8_t>{0, 1, 0, 0});
}

TEST_CASE("attention: a one-cell peak at the input resolution gives a one-pixel box") {
    const auto f = features(4, 4, 3, {{1, 2}}, -2.0f, 1);  // |f| is used: a negative peak counts
    const auto a = model::attend(f.data(), 4, 4, 3, 4, {});
    CHECK(a.box == Box{2, 1, 3, 2});
    CHECK(std::count(a.region.begin(), a.region.end(), 1) == 1);
}

TEST_CASE("attention: a peak in the corner gives a box on the border") {
    // 4x4 -> 8x8: the top-right cell's weights are 1 at (0,7), 0.75 at (0,6) and (1,7), 0.5625
    // at (1,6); tau 0.7 keeps three pixels.
    const auto f = features(4, 4, 2, {{0, 3}});
    const auto a = model::attend(f.data(), 4, 4, 2, 8, {});
    CHECK(a.heatmap[7] == doctest::Approx(1.0));
    CHECK(a.heatmap[6] == doctest::Approx(0.75));
    CHECK(a.heatmap[14] == doctest::Approx(0.5625));
    CHECK(a.box == Box{6, 0, 8, 2});
    CHECK(std::count(a.mask.begin(), a.mask.end(), 1) == 3);
}

TEST_CASE("attention: two peaks, the bigger region wins; L1 changes which") {
    // Channel 0: a 2-cell blob at the left; channel 1: one stronger cell at the right.
    std::vector<float> f = features(6, 6, 2, {{1, 0}, {1, 1}}, 1.0f, 0);
    f[(1 * 6 + 4) * 2 + 1] = 1.0f;
    f[(1 * 6 + 4) * 2 + 0] = 0.9f;  // max = 1 there too, L1 = 1.9 there
    const auto with_max = model::attend(f.data(), 6, 6, 2, 6, {});
    CHECK(with_max.box == Box{0, 1, 2, 2});
    const auto with_l1 = model::attend(f.data(), 6, 6, 2, 6, {0.7, HeatmapStatistic::l1});
    CHECK(with_l1.box == Box{4, 1, 5, 2});  // 1.9 scaled to 1, the blob (1.0) to 0.526
}

TEST_CASE("attention: a constant heatmap gives the whole input") {
    const auto f = features(7, 7, 4, {});
    const auto a = model::attend(f.data(), 7, 7, 4, 32, {});
    CHECK(a.box == Box{0, 0, 32, 32});
}

TEST_CASE("attention: no pixel above tau falls back to the first maximum") {
    // An interior cell upsampled x2 peaks at 0.75^2 = 0.5625 on four pixels: below tau 0.7.
    const auto f = features(4, 4, 1, {{1, 1}});
    const auto a = model::attend(f.data(), 4, 4, 1, 8, {});
    CHECK(a.box == Box{2, 2, 3, 3});
    CHECK_THROWS_AS(model::attend(f.data(), 4, 4, 1, 8, {1.0, HeatmapStatistic::max}), Error);
}

TEST_CASE("AUROC: exact with ties, equal to brute-force pair counting") {
    CHECK(metrics::auroc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}) == doctest::Approx(0.75));
    CHECK(metrics::auroc({0.5f, 0.5f}, {0, 1}) == doctest::Approx(0.5));
    CHECK(std::isnan(metrics::auroc({0.1f, 0.2f}, {1, 1})));
    Rng rng(3);
    for (int trial = 0; trial < 20; ++trial) {
        std::vector<float> s, l;
        for (int i = 0; i < 200; ++i) {
            s.push_back(float(rng.below(12)) / 11.0f);  // many ties
            l.push_back(rng.uniform() < 0.3 ? 1.0f : 0.0f);
        }
        double wins = 0, pairs = 0;
        for (std::size_t i = 0; i < s.size(); ++i)
            for (std::size_t j = 0; j < s.size(); ++j)
                if (l[i] == 1 && l[j] == 0) {
                    pairs += 1;
                    wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
                }
        CHECK(metrics::auroc(s, l) == doctest::Approx(wins / pairs).epsilon(1e-12));
        // The ROC curve's trapezoid area is the same number.
        const auto curve = metrics::roc_curve(s, l);
        double area = 0;
        for (std::size_t k = 1; k < curve.size(); ++k)
            area += (curve[k].fpr - curve[k - 1].fpr) * (curve[k].tpr + curve[k - 1].tpr) / 2;
        CHECK(area == doctest::Approx(wins / pairs).epsilon(1e-12));
    }
}

TEST_CASE("AUROC: a NaN score gives NaN and no curve, never a loop; infinities rank as numbers") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    // Run where a loop cannot last: a child process with 10 s of CPU (the old tie loop spun on NaN).
    CHECK(testing::in_bounded_child(
        [&] {
            const std::vector<float> labels{1, 0, 1, 0, 1, 0};
            bool ok = true;
            for (const std::vector<float>& scores : {std::vector<float>{nan, 0.2f, nan, 0.1f, 0.9f, nan},
                                                     std::vector<float>{0.3f, 0.2f, 0.8f, 0.1f, 0.9f, nan},
                                                     std::vector<float>(6, nan)}) {
                ok = ok && std::isnan(metrics::auroc(scores, labels));
                const auto curve = metrics::roc_curve(scores, labels);
                ok = ok && curve.size() == 1 && curve[0].fpr == 0 && curve[0].tpr == 0;
            }
            return ok;
        },
        10));
    CHECK(metrics::count_nan({nan, 1.0f, nan, inf}) == 2);
    // Infinities are ordered: +Inf above every finite score, -Inf below, equal ones tie.
    CHECK(metrics::auroc({inf, -inf, 0.5f, 0.4f}, {1, 0, 1, 0}) == doctest::Approx(1.0));
    CHECK(metrics::auroc({inf, inf, -inf, -inf}, {1, 0, 1, 0}) == doctest::Approx(0.5));
    // Scores: the count, NaN for the label, and no headline mean from a partly NaN model (in a
    // bounded child too: the per-label AUROC meets the NaN).
    metrics::Scores scores;
    Tensor logits = Tensor::zeros({4, model::kLabelCount}), targets = Tensor::zeros({4, model::kLabelCount});
    for (std::int64_t i = 0; i < 4; ++i)
        for (int k = 0; k < model::kLabelCount; ++k)
            logits.at(i * model::kLabelCount + k) = float(i), targets.at(i * model::kLabelCount + k) = float(i % 2);
    logits.at(2 * model::kLabelCount + 3) = nan;
    scores.append(logits, targets);
    CHECK(scores.nan_scores() == 1);
    CHECK(testing::in_bounded_child(
        [&] {
            const auto auroc = scores.auroc();
            return std::isnan(auroc[3]) && std::abs(auroc[0] - 0.75) < 1e-12 && std::isnan(scores.mean_auroc());
        },
        10));
}

TEST_CASE("localization: IoU, IoBB and hit counts at the thresholds") {
    const Box pred = Box::from_xywh(0, 0, 10, 10), truth = Box::from_xywh(5, 0, 10, 10);
    CHECK(metrics::iou(pred, truth) == doctest::Approx(50.0 / 150.0));
    CHECK(metrics::iobb(pred, truth) == doctest::Approx(0.5));
    CHECK(metrics::iou(pred, Box::from_xywh(20, 20, 5, 5)) == 0.0);
    metrics::LocalizationResult r;
    r.add("Mass", pred, truth);               // IoU 0.333, IoBB 0.5
    r.add("Mass", pred, pred);                // 1, 1
    r.add("Nodule", pred, Box::from_xywh(50, 50, 3, 3));    // 0, 0
    CHECK(r.per_disease["Mass"].iou_rate(2) == doctest::Approx(1.0));  // T = 0.3
    CHECK(r.per_disease["Mass"].iou_rate(3) == doctest::Approx(0.5));  // T = 0.4
    CHECK(r.per_disease["Mass"].iobb_rate(4) == doctest::Approx(0.5)); // T = 0.5: 0.5 is not > 0.5
    CHECK(r.overall.iobb_rate(0) == doctest::Approx(2.0 / 3));
    // Held: at least half of the annotated box inside the predicted one (truth (5,0)-(15,10) is
    // half inside pred; a 3x3 box far away is not; a small box inside a big one is).
    CHECK(metrics::truth_inside(pred, truth) == doctest::Approx(0.5));
    CHECK(r.per_disease["Mass"].held == 2);
    CHECK(r.per_disease["Nodule"].held == 0);
    r.add("Nodule", Box::from_xywh(0, 0, 100, 100), Box::from_xywh(50, 50, 3, 3));  // IoBB 0.0009, held
    CHECK(r.per_disease["Nodule"].held_rate() == doctest::Approx(0.5));
    CHECK(r.per_disease["Nodule"].iobb_rate(0) == 0.0);
    r.add("Nodule", Box::from_xywh(0, 0, 51, 51), Box::from_xywh(50, 50, 3, 3));  // 1 of 9 pixels inside
    CHECK(r.overall.held == 3);
}

TEST_CASE("AG-CNN: weight names and shapes") {
    model::AgCnn net({2, 0});
    auto state = net.state();
    CHECK(state.front().name == "global.conv1.weight");
    const auto fusion = std::find_if(state.begin(), state.end(), [](auto& e) { return e.name == "fusion.weight"; });
    REQUIRE(fusion != state.end());
    CHECK(fusion->tensor->shape() == Shape{15, 2 * 2 * 32});
    CHECK(std::count_if(state.begin(), state.end(), [](auto& e) { return e.name.rfind("local.", 0) == 0; }) ==
          std::count_if(state.begin(), state.end(), [](auto& e) { return e.name.rfind("global.", 0) == 0; }));
}

namespace {

train::TrainConfig tiny_config() {
    train::TrainConfig c;
    c.input_size = c.resize = 64;
    c.base_width = 2;
    c.augment = false;
    c.optimizer = "adam";
    c.lr = 1e-3;
    c.weight_decay = 0;
    c.global = {2, 8};
    c.local = {2, 8};
    c.fusion = {2, 8};
    c.seed = 5;
    c.threads = 2;
    return c;
}

std::vector<float> weights_of(const std::string& path) {
    std::vector<float> all;
    for (const auto& r : io::read_safetensors(path).tensors) {
        if (r.name.rfind("optimizer.", 0) == 0 || r.dtype != "F32") continue;
        const auto v = r.to_float32(path);
        all.insert(all.end(), v.begin(), v.end());
    }
    return all;
}

}  // namespace

TEST_CASE("model::forward: the five steps, composed by hand, give the same numbers bit for bit") {
    set_num_threads(2);
    model::AgCnn net({2, 4});
    Rng rng(11);
    std::vector<std::shared_ptr<const data::GrayImage>> sources;
    for (int i = 0; i < 3; ++i) {  // non-square sources, larger than the input
        auto image = std::make_shared<data::GrayImage>();
        image->width = 90 + 10 * i, image->height = 80;
        for (int p = 0; p < image->width * image->height; ++p)
            image->pixels.push_back(static_cast<std::uint8_t>(rng.below(256)));
        sources.push_back(image);
    }
    data::TransformConfig t = data::eval_transform(64);
    const data::Batch batch = data::inference_batch(sources, {"a", "b", "c"}, t);
    const model::CropFn crop = [&](const std::vector<Box>& boxes) {
        return data::crop_local_batch(batch, boxes, 64, t);
    };
    const model::AttentionOptions attention{0.6, HeatmapStatistic::max};
    const model::AgCnnOutputs out =
        model::forward(net, batch.images, crop, {attention, Device::cpu(), std::nullopt, model::Branch::fusion, false});

    NoGradGuard no_grad;
    net.eval();
    const nn::ResNetOutput global = net.global.forward_all(batch.images);
    const auto attended = model::attend_batch(global.features, 64, attention);
    const Tensor crops = crop(model::boxes_of(attended));
    const nn::ResNetOutput local = net.local.forward_all(crops);
    CHECK(out.global.logits.to_vector() == global.logits.to_vector());
    REQUIRE(out.attention.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(out.attention[i].box == attended[i].box);
    CHECK(out.local_input.to_vector() == crops.to_vector());
    CHECK(out.local.logits.to_vector() == local.logits.to_vector());
    CHECK(out.fusion_logits.to_vector() == net.fuse(global.pooled, local.pooled).to_vector());
    CHECK(out.logits(model::Branch::local).to_vector() == local.logits.to_vector());
    CHECK(out.local_attention.empty());  // only when asked
}

TEST_CASE("model::forward: only the trained branch learns; `through` stops the pass") {
    set_num_threads(2);
    model::AgCnn net({2, 6});
    testing::FakeData data(4, 4, 64);
    auto reader = data.epoch(train::Split::train, 0, 4, 0);
    const data::Batch batch = *reader->next();
    int crops = 0;
    const model::CropFn crop = [&](const std::vector<Box>& boxes) {
        ++crops;
        return data.crop(batch, boxes);
    };
    for (model::Branch b : model::kBranches) net.branch(b).set_requires_grad(b == model::Branch::local);
    const model::AgCnnOutputs out =
        model::forward(net, batch.images, crop, {{}, Device::cpu(), model::Branch::local, model::Branch::local});
    CHECK(crops == 1);
    CHECK_FALSE(out.fusion_logits.defined());  // stopped after the local branch
    CHECK(net.local.is_training());
    CHECK_FALSE(net.global.is_training());
    CHECK_FALSE(out.global.logits.requires_grad());  // frozen: no graph
    REQUIRE(out.local.logits.requires_grad());
    backward(ops::bce_with_logits(out.local.logits, batch.labels));
    CHECK(net.local.conv1.weight->grad().defined());
    CHECK_FALSE(net.global.conv1.weight->grad().defined());

    const model::AgCnnOutputs global_only =
        model::forward(net, batch.images, crop, {{}, Device::cpu(), std::nullopt, model::Branch::global});
    CHECK(crops == 1);  // no attention, no crop
    CHECK(global_only.attention.empty());
    CHECK_THROWS_WITH_AS(
        model::forward(net, batch.images, crop, {{}, Device::cpu(), model::Branch::fusion, model::Branch::local}),
        doctest::Contains("fusion is trained but the pass stops after local"), Error);
}

TEST_CASE("the tutorial in agcnn.hpp runs: a training step, then AG-CNN on a non-square X-ray") {
    set_num_threads(2);
    const std::string png = temp_dir("tutorial") + "/xray.png";
    data::GrayImage xray{300, 240, {}};
    for (int y = 0; y < 240; ++y)
        for (int x = 0; x < 300; ++x) xray.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 3) % 256));
    data::write_png(png, xray);
    Rng rng(3);
    std::vector<float> pixels(2 * 64 * 64 * 3), labels(2 * model::kLabelCount);
    for (float& v : pixels) v = static_cast<float>(rng.uniform(-2, 2));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = i % 3 == 0 ? 1.0f : 0.0f;
    const Tensor logits = tutorial(Tensor::from_vector({2, 64, 64, 3}, pixels),
                                   Tensor::from_vector({2, model::kLabelCount}, labels), png, 2);
    CHECK(logits.shape() == Shape{1, model::kLabelCount});
    for (float v : logits.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("data::inference_batch: the evaluation transform of each source, sources kept") {
    auto image = std::make_shared<data::GrayImage>();
    image->width = 300, image->height = 200;
    image->pixels.assign(300 * 200, 128);
    const data::TransformConfig t = data::eval_transform(64);
    const data::Batch b = data::inference_batch({image}, {"x.png"}, t);
    CHECK(b.images.shape() == Shape{1, 64, 64, 3});
    CHECK(b.labels.shape() == Shape{1, model::kLabelCount});
    CHECK(b.sources[0] == image);
    Rng unused(0);
    const data::CropGeometry g = data::sample_geometry(t, 300, 200, unused);
    CHECK(b.geometry[0].x0 == g.x0);
    CHECK(b.geometry[0].width == g.width);
    CHECK_THROWS_WITH_AS(data::inference_batch({image}, {"x.png"}, data::train_transform(64)),
                         doctest::Contains("evaluation transform"), Error);
    CHECK_THROWS_AS(data::inference_batch({image}, {}, t), Error);
}

TEST_CASE("checkpoint: model, optimizer moments and stage state round-trip exactly") {
    const std::string dir = temp_dir("checkpoint");
    model::AgCnn net({2, 1});
    optim::Adam adam(net.fusion.named_parameters("fusion."), {.lr = 0.1});
    net.fusion.weight->set_grad(Tensor::full(net.fusion.weight->shape(), 0.5f));
    adam.step();
    train::StageState s{3, 7, 1.25, 0.6125, 2, false};
    train::save_checkpoint(dir + "/c.safetensors", net, adam, train::Stage::fusion, s, "{}");
    model::AgCnn other({2, 9});
    optim::Adam other_adam(other.fusion.named_parameters("fusion."), {.lr = 0.1});
    const auto back = train::load_checkpoint(dir + "/c.safetensors", other, other_adam, train::Stage::fusion);
    CHECK(back.epoch == 3);
    CHECK(back.batch == 7);
    CHECK(back.loss_sum == 1.25);
    CHECK(back.best_auroc == 0.6125);
    CHECK(other_adam.steps() == 1);
    CHECK(other.fusion.weight->to_vector() == net.fusion.weight->to_vector());
    CHECK(other.global.conv1.weight->to_vector() == net.global.conv1.weight->to_vector());
    CHECK(other_adam.state()[0].second->to_vector() == adam.state()[0].second->to_vector());
    CHECK_THROWS_AS(train::load_checkpoint(dir + "/c.safetensors", other, other_adam, train::Stage::local), Error);
}

TEST_CASE("training: an interrupted and resumed run ends with the uninterrupted run's weights") {
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    const train::TrainConfig config = tiny_config();
    const std::string whole = temp_dir("whole"), parts = temp_dir("parts");
    train::RunOptions options;
    train::run_training(config, whole, data, options);

    // Interrupt mid-epoch in each stage (batch 2 of epoch 1 in global, batch 1 in local and
    // fusion), resuming each time by re-running the same call.
    int interruptions = 0;
    options.after_batch = [&](train::Stage s, int epoch, std::int64_t batch) {
        if ((s == train::Stage::global && epoch == 1 && batch == 2) ||
            (s != train::Stage::global && epoch == 0 && batch == 1))
            train::request_stop();
    };
    for (int attempt = 0; attempt < 10; ++attempt) {
        train::stop_flag() = false;
        try {
            train::run_training(config, parts, data, options);
            break;
        } catch (const train::Interrupted&) {
            ++interruptions;
        }
    }
    train::stop_flag() = false;
    CHECK(interruptions == 3);
    for (const char* file : {"global-best.safetensors", "local-best.safetensors", "fusion-best.safetensors",
                             "checkpoint-fusion.safetensors"})
        CHECK_MESSAGE(weights_of(whole + "/" + file) == weights_of(parts + "/" + file), file);
    // metrics.jsonl has one line per epoch: 2 epochs x 3 stages.
    std::ifstream lines(parts + "/metrics.jsonl");
    CHECK(std::count(std::istreambuf_iterator<char>(lines), {}, '\n') == 6);
}

TEST_CASE("training: a run stopped after its last epoch's checkpoint, before the stage was marked finished, completes") {
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    const train::TrainConfig config = tiny_config();  // augmentation off: stage III on cached features
    const std::string dir = temp_dir("last-epoch-done");
    train::RunOptions options;
    train::run_training(config, dir, data, options);
    const std::vector<float> trained = weights_of(dir + "/fusion-best.safetensors");
    // The checkpoint as the last epoch's end wrote it: every epoch done, the stage not finished.
    const std::string checkpoint = dir + "/checkpoint-fusion.safetensors";
    model::AgCnn net({config.base_width, config.seed});
    auto optimizer = train::make_optimizer(config, net.fusion.named_parameters("fusion."));
    train::StageState state = train::load_checkpoint(checkpoint, net, *optimizer, train::Stage::fusion);
    REQUIRE(state.finished);
    REQUIRE(state.epoch == config.fusion.epochs);
    state.finished = false;
    train::save_checkpoint(checkpoint, net, *optimizer, train::Stage::fusion, state, train::recorded_config(config));
    train::run_training(config, dir, data, options);  // before the fix: "use of an undefined tensor"
    CHECK(train::load_checkpoint(checkpoint, net, *optimizer, train::Stage::fusion).finished);
    CHECK(weights_of(dir + "/fusion-best.safetensors") == trained);
}

TEST_CASE("weight files record no input paths; a checkpoint that recorded them still resumes") {
    set_num_threads(2);
    train::TrainConfig config = tiny_config();
    config.data_dir = "/somewhere/data";
    config.weights = "imagenet.safetensors";
    const auto recorded = nlohmann::json::parse(train::recorded_config(config));
    CHECK(recorded["data_dir"] == "");
    CHECK(recorded["weights"] == "");
    CHECK(recorded["seed"] == config.seed);
    // A checkpoint as earlier versions wrote it: the paths in its config.
    model::AgCnn net({config.base_width, config.seed});
    auto optimizer = train::make_optimizer(config, net.fusion.named_parameters("fusion."));
    const std::string checkpoint = temp_dir("paths-recorded") + "/checkpoint-fusion.safetensors";
    train::save_checkpoint(checkpoint, net, *optimizer, train::Stage::fusion, {}, nlohmann::json(config).dump());
    CHECK_NOTHROW(train::load_checkpoint(checkpoint, net, *optimizer, train::Stage::fusion,
                                         train::recorded_config(config)));
    // A weight-relevant setting that differs is still refused.
    train::TrainConfig other = config;
    other.seed += 1;
    CHECK_THROWS_WITH(train::load_checkpoint(checkpoint, net, *optimizer, train::Stage::fusion,
                                             train::recorded_config(other)),
                      doctest::Contains("another configuration (seed"));
}

TEST_CASE("training: stage II on cached attention boxes trains the uncached run's weights, bit for bit") {
    struct Notes final : Reporter {
        std::vector<std::string> notes;
        void note(const std::string& text) override { notes.push_back(text); }
    };
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    const train::TrainConfig config = tiny_config();  // augmentation off: the cache applies
    auto cached_note = [](const Notes& r) {
        return std::count_if(r.notes.begin(), r.notes.end(), [](const std::string& n) {
            return n.find("attention boxes once") != std::string::npos;
        });
    };
    Notes with, without;
    train::RunOptions options;
    options.reporter = &with;
    const std::string cached = temp_dir("boxes-cached"), uncached = temp_dir("boxes-uncached");
    train::run_training(config, cached, data, options);
    options.reporter = &without;
    options.attention_cache = false;
    train::run_training(config, uncached, data, options);
    CHECK(cached_note(with) == 1);
    CHECK(cached_note(without) == 0);
    for (const char* file : {"local-best.safetensors", "fusion-best.safetensors", "checkpoint-local.safetensors"})
        CHECK_MESSAGE(weights_of(cached + "/" + file) == weights_of(uncached + "/" + file), file);
}

TEST_CASE("training reports to the Reporter it is given: steps, notes, the missing-weights warning") {
    struct Recorder final : Reporter {
        std::vector<Step> steps;
        std::vector<std::string> notes, warnings;
        void step(const Step& s) override { steps.push_back(s); }
        void note(const std::string& text) override { notes.push_back(text); }
        void warning(const std::string& text) override { warnings.push_back(text); }
    } recorder;
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    train::TrainConfig config = tiny_config();
    config.global = {1, 8};
    train::RunOptions options;
    options.stages = {train::Stage::global};
    options.reporter = &recorder;
    train::run_training(config, temp_dir("reported"), data, options);
    REQUIRE(recorder.steps.size() == 3);  // 24 images in batches of 8
    CHECK(recorder.steps[0].task == "[global] epoch 1/1");
    CHECK(recorder.steps[2].done == 3);
    CHECK(recorder.steps[2].total == 3);
    CHECK(recorder.steps[2].items == 24);
    CHECK(std::isfinite(recorder.steps[2].loss));
    REQUIRE(recorder.notes.size() == 2);
    CHECK(recorder.notes[0].rfind("[global] epoch 1/1: train loss ", 0) == 0);
    // The stage's closing note: the training steps' speed (one process: no allreduce figure).
    CHECK(recorder.notes[1].rfind("stage global: ", 0) == 0);
    CHECK(recorder.notes[1].find(" images/s in 3 training steps (1 process, validation excluded)") != std::string::npos);
    REQUIRE(recorder.warnings.size() == 1);
    CHECK(recorder.warnings[0].find("no ImageNet weights") != std::string::npos);
}

TEST_CASE("training from a converted torch.save'd ResNet-50: backbone loaded, fc skipped and said") {
    // tests/reference/convert/resnet50_narrow.pth: torchvision's names and layouts, 1000-class
    // fc, num_batches_tracked, width 2 (make_convert_fixtures.py), converted as agcnn-convert does.
    const std::string source = std::string(AGCNN_TEST_DATA_DIR) + "/reference/convert/resnet50_narrow.pth";
    const std::string content = io::read_file(source);
    const io::Provenance from{source, io::sha256_hex(content), io::detect_format(content, source)};
    const io::TensorFile converted = io::convert_weights(io::parse_weights(content, source, from.format), from, {});
    CHECK(converted.metadata.at("fc") == "kept (1000 classes)");
    CHECK(converted.metadata.at("base_width") == "2");
    const std::string dir = temp_dir("from-imagenet"), weights = dir + "/imagenet.safetensors";
    io::write_safetensors(weights, converted);

    // The backbone arrives value for value (conv weights OIHW on disk, OHWI inside).
    nn::ResNet50 branch({model::kLabelCount, nn::GlobalPool::max, 2, 9});
    CHECK(train::load_backbone(branch, weights) == "fc.weight [1000, 64], fc.bias [1000]");
    CHECK(branch.conv1.weight->to_vector() ==
          io::oihw_to_ohwi(converted.find("conv1.weight")->to_float32(weights), branch.conv1.weight->shape()));
    io::TensorFile loaded;
    io::append_state(loaded, branch.layer3, "layer3.");
    CHECK(loaded.find("layer3.1.conv2.weight")->bytes == converted.find("layer3.1.conv2.weight")->bytes);
    CHECK(branch.bn1.running_var->to_vector() == converted.find("bn1.running_var")->to_float32(weights));

    // All three stages train from it; the run says what it skipped, once per branch.
    struct Notes final : Reporter {
        std::vector<std::string> lines;
        void note(const std::string& text) override { lines.push_back(text); }
    } notes;
    set_num_threads(2);
    testing::FakeData data(16, 8, 64);
    train::TrainConfig config = tiny_config();
    config.weights = weights;
    config.global = config.local = config.fusion = {1, 8};
    train::RunOptions options;
    options.reporter = &notes;
    train::run_training(config, dir + "/run", data, options);
    CHECK(std::filesystem::exists(dir + "/run/fusion-best.safetensors"));
    const auto said = std::count_if(notes.lines.begin(), notes.lines.end(), [&](const std::string& l) {
        return l.find("branch starts from " + weights) != std::string::npos &&
               l.find("skipped fc.weight [1000, 64], fc.bias [1000]") != std::string::npos;
    });
    CHECK(said == 2);  // global and local

    // A file that is not a ResNet-50 backbone is refused with the names that do not fit.
    io::TensorFile extra = converted;
    extra.add_f32("head.weight", {1}, std::vector<float>{1.0f}.data());
    io::write_safetensors(dir + "/extra.safetensors", extra);
    CHECK_THROWS_WITH_AS(train::load_backbone(branch, dir + "/extra.safetensors"),
                         doctest::Contains("not a torchvision ResNet-50 backbone: unexpected head.weight [1]"), Error);
}

TEST_CASE("training: local_init global starts the local branch as a copy of the trained global branch") {
    set_num_threads(2);
    testing::FakeData data(16, 8, 64);
    train::TrainConfig config = tiny_config();
    config.global = {1, 8};
    config.local = {0, 8};  // zero epochs: local-best holds the local branch's starting weights
    train::RunOptions options;
    options.stages = {train::Stage::global, train::Stage::local};
    const auto pairs_equal = [](const std::string& run) {  // {local.X == global.X, tensors compared}
        const io::TensorFile global = io::read_safetensors(run + "/global-best.safetensors");
        const io::TensorFile local = io::read_safetensors(run + "/local-best.safetensors");
        int same = 0, compared = 0;
        for (const io::TensorRecord& r : local.tensors) {
            if (r.name.rfind("local.", 0) != 0) continue;
            const io::TensorRecord* g = global.find("global." + r.name.substr(6));
            REQUIRE(g != nullptr);
            same += g->bytes == r.bytes, ++compared;
        }
        return std::pair{same, compared};
    };
    // The default: the local branch has its own random initialisation.
    const std::string own = temp_dir("local-init-own");
    train::run_training(config, own, data, options);
    const auto [own_same, own_compared] = pairs_equal(own);
    CHECK(own_compared > 300);  // every parameter and batch-norm buffer of a ResNet-50, and fc
    CHECK(own_same < own_compared / 2);
    // "global": every tensor of the trained global branch, classifier and running statistics too.
    config.local_init = "global";
    const std::string copied = temp_dir("local-init-global");
    train::run_training(config, copied, data, options);
    const auto [same, compared] = pairs_equal(copied);
    CHECK(compared == own_compared);
    CHECK(same == compared);
    // It is part of the run's configuration (the weights depend on it); folders written before it
    // existed read back as the default; a bad value is refused, naming the setting.
    train::TrainConfig back;
    train::read_run_config(copied, back);
    CHECK(back.local_init == "global");
    nlohmann::json old = train::TrainConfig{};
    old.erase("local_init");
    train::TrainConfig legacy;
    CHECK_NOTHROW(train::from_json(old, legacy));
    CHECK(legacy.local_init == "imagenet");
    config.local_init = "scratch";
    CHECK_THROWS_WITH_AS(config.validate(), doctest::Contains("bad local_init (--local-init) 'scratch'"), Error);
}

TEST_CASE("training: SIGTERM stops like Ctrl-C, with a checkpoint, and the guard restores the handler") {
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    train::TrainConfig config = tiny_config();
    const std::string dir = temp_dir("sigterm");
    train::RunOptions options;
    options.stages = {train::Stage::global};
    options.after_batch = [](train::Stage, int, std::int64_t batch) {
        if (batch == 1) std::raise(SIGTERM);  // what `docker stop` or a scheduler sends
    };
    void (*const before)(int) = std::signal(SIGTERM, SIG_DFL);  // doctest's own handler
    std::signal(SIGTERM, before);
    {
        train::StopSignalGuard guard;
        CHECK_THROWS_AS(train::run_training(config, dir, data, options), train::Interrupted);
        CHECK(train::stop_signal() == SIGTERM);
    }
    const bool restored = std::signal(SIGTERM, before) == before;
    CHECK(restored);
    model::AgCnn net({2, 0});
    optim::Adam adam(net.global.named_parameters("global."), {.lr = 1e-3});
    CHECK(train::load_checkpoint(dir + "/checkpoint-global.safetensors", net, adam, train::Stage::global).batch == 1);
    train::stop_flag() = false;
}

TEST_CASE("training: periodic mid-epoch checkpoints; a crash resumes to the uninterrupted weights") {
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    train::TrainConfig config = tiny_config();
    config.checkpoint_minutes = 1e-9;  // after every batch
    train::RunOptions options;
    options.stages = {train::Stage::global};
    const std::string whole = temp_dir("periodic-whole"), crashed = temp_dir("periodic-crashed");
    train::run_training(config, whole, data, options);

    // A crash (an exception the loop does not expect, like a killed process) in epoch 2, batch 2.
    const std::string checkpoint = crashed + "/checkpoint-global.safetensors";
    std::int64_t checkpointed_batch = -1;
    options.after_batch = [&](train::Stage, int epoch, std::int64_t batch) {
        if (epoch == 1 && batch == 2) {
            model::AgCnn net({2, 0});
            optim::Adam adam(net.global.named_parameters("global."), {.lr = 1e-3});
            checkpointed_batch = train::load_checkpoint(checkpoint, net, adam, train::Stage::global).batch;
            throw std::runtime_error("power cut");
        }
    };
    CHECK_THROWS_WITH(train::run_training(config, crashed, data, options), "power cut");
    CHECK(checkpointed_batch == 1);  // the batch before: the periodic checkpoint of this epoch
    options.after_batch = {};
    train::run_training(config, crashed, data, options);
    CHECK(weights_of(whole + "/global-best.safetensors") == weights_of(crashed + "/global-best.safetensors"));
    CHECK(weights_of(whole + "/checkpoint-global.safetensors") == weights_of(checkpoint));
}

TEST_CASE("training: a NaN loss stops the run and keeps the last good checkpoint") {
    set_num_threads(2);
    testing::FakeData data(24, 8, 64);
    data.poison_epoch = 1;
    data.poison_batch = 1;
    train::TrainConfig config = tiny_config();
    const std::string dir = temp_dir("nan");
    train::RunOptions options;
    options.stages = {train::Stage::global};
    CHECK_THROWS_WITH_AS(train::run_training(config, dir, data, options),
                         doctest::Contains("the loss is nan"), Error);
    model::AgCnn net({2, 0});
    optim::Adam adam(net.global.named_parameters("global."), {});
    const auto state = train::load_checkpoint(dir + "/checkpoint-global.safetensors", net, adam, train::Stage::global);
    CHECK(state.epoch == 1);  // the checkpoint after epoch 1, untouched
    CHECK(state.batch == 0);
    for (float v : net.global.fc.weight->to_vector()) REQUIRE(std::isfinite(v));
}

TEST_CASE("training: NaN validation scores stop the run like a NaN loss; the message names what is kept") {
    set_num_threads(2);
    auto error_of = [](const std::function<void()>& f) -> std::string {
        try {
            f();
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    train::RunOptions options;
    options.stages = {train::Stage::global};
    {  // the second epoch's validation scores are NaN: epoch 1's checkpoint and best weights stay
        testing::FakeData data(24, 8, 64);
        data.poison_validation = 1;
        const std::string dir = temp_dir("nan-validation");
        const std::string error = error_of([&] { train::run_training(tiny_config(), dir, data, options); });
        INFO(error);
        CHECK(error.find("stage global epoch 2: 15 of 120 validation scores are NaN; training stopped") !=
              std::string::npos);
        CHECK(error.find("The last good checkpoint is kept: " + dir + "/checkpoint-global.safetensors") !=
              std::string::npos);
        model::AgCnn net({2, 0});
        optim::Adam adam(net.global.named_parameters("global."), {});
        CHECK(train::load_checkpoint(dir + "/checkpoint-global.safetensors", net, adam, train::Stage::global).epoch == 1);
        CHECK(io::read_safetensors(dir + "/global-best.safetensors").metadata.at("epoch") == "1");
    }
    {  // a NaN loss before the first checkpoint: the message says there is none
        testing::FakeData data(24, 8, 64);
        data.poison_epoch = 0;
        data.poison_batch = 1;
        const std::string dir = temp_dir("nan-first-epoch");
        const std::string error = error_of([&] { train::run_training(tiny_config(), dir, data, options); });
        INFO(error);
        CHECK(error.find("stage global epoch 1 batch 2: the loss is nan") != std::string::npos);
        CHECK(error.find("No checkpoint of this stage was written yet") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(dir + "/checkpoint-global.safetensors"));
    }
}

TEST_CASE("training: another configuration in the same folder is refused") {
    testing::FakeData data(8, 4, 64);
    train::TrainConfig config = tiny_config();
    config.global.epochs = config.local.epochs = config.fusion.epochs = 0;
    const std::string dir = temp_dir("config");
    train::RunOptions options;
    options.stages = {train::Stage::global};
    train::run_training(config, dir, data, options);
    config.lr = 0.5;
    CHECK_THROWS_WITH_AS(train::run_training(config, dir, data, options), doctest::Contains("another run"), Error);
}

TEST_CASE("evaluation: attention boxes map to source pixels, flips undone") {
    const data::CropGeometry g{10, 20, 100, 50, true, 10, 200, 200};
    const Box r = app::box_in_source({0, 0, 2, 5}, g);
    CHECK(r.x0 == doctest::Approx(90));  // input columns 0-1 of a flipped input are source 90-110
    CHECK(r.width() == doctest::Approx(20));
    CHECK(r.y0 == doctest::Approx(20));
    CHECK(r.height() == doctest::Approx(25));
}

TEST_CASE("evaluation: results.json layout, localization and the report page") {
    set_num_threads(2);
    testing::FakeData data(8, 8, 64);
    model::AgCnn net({2, 3});
    const app::Evaluation e =
        app::evaluate_split(net, data, train::Split::val, 4, {}, Device::cpu());
    CHECK(e.names.size() == 8);
    const auto results = app::results_json(e);
    std::vector<std::string> keys;
    for (auto& [key, value] : results.items()) keys.push_back(key);
    CHECK(keys == std::vector<std::string>{"global", "local", "fusion", "localization"});
    CHECK(results["global"]["auroc"].begin().key() == "Atelectasis");
    CHECK(results["global"]["auroc"]["Hernia"].is_null());  // no positive image
    CHECK(results["localization"]["overall"]["boxes"] == 4);  // the 4 sick val images
    app::ReportInputs in{"RUN", "val", {{"version", "test"}}, {}, &e, {{"x.png", "PNGDATA", "caption"}}};
    const std::string html = app::report_html(in);
    CHECK(html.find("<svg") != std::string::npos);
    CHECK(html.find("data:image/png;base64,UE5HREFUQQ==") != std::string::npos);
    CHECK(html.find("Localization") != std::string::npos);
    CHECK(html.find("<th>held</th>") != std::string::npos);
    CHECK(results["localization"]["overall"]["held"].get<double>() == doctest::Approx(e.localization.overall.held_rate()));
    // The demo's table: a row per disease and the mean, with the boxes and the held share.
    app::EvalOutcome outcome;
    outcome.evaluation = e;
    const std::string table = app::demo_table(outcome);
    CHECK(std::count(table.begin(), table.end(), '\n') == 16);  // header, 14 diseases, mean
    char mean_row[64];
    std::snprintf(mean_row, sizeof mean_row, "%6d %5.2f\n", 4, e.localization.overall.held_rate());
    CHECK(table.find(mean_row) != std::string::npos);
}

TEST_CASE("training data: images come from the pack, annotated boxes scaled to the packed copy") {
    const std::string dir = temp_dir("pack");
    data::synth::write_dataset(dir, {12, 128, 5, 0.5});
    train::TrainConfig config;
    config.data_dir = dir;
    config.input_size = 32;
    config.resize = 32;
    config.pack_side = 64;  // the 128x128 sources are halved in the pack
    train::DatasetSource packed(config);
    CHECK(std::filesystem::exists(data::default_pack_path(dir, 64)));
    config.pack_side = 0;  // the PNGs themselves
    train::DatasetSource direct(config);
    const auto a = packed.annotated_boxes(), b = direct.annotated_boxes();
    REQUIRE(a.size() == b.size());
    REQUIRE_FALSE(a.empty());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].image == b[i].image);
        CHECK(a[i].box.x0 == doctest::Approx(b[i].box.x0 / 2));
        CHECK(a[i].box.y0 == doctest::Approx(b[i].box.y0 / 2));
        CHECK(a[i].box.width() == doctest::Approx(b[i].box.width() / 2));
        CHECK(a[i].box.height() == doctest::Approx(b[i].box.height() / 2));
    }
    // The loader hands out the packed copies, with geometry in their pixels.
    auto reader = packed.epoch(train::Split::test, 0, 4, 0);
    const auto batch = reader->next();
    REQUIRE(batch.has_value());
    CHECK(batch->sources.front()->width == 64);
    CHECK(batch->geometry.front().source_width == 64);
}

TEST_CASE("eval and predict give the same probabilities, heatmap and box for the same images") {
    set_num_threads(2);
    const std::string dir = temp_dir("eval-predict"), run = dir + "/run";
    train::TrainConfig config = tiny_config();  // input 64
    config.data_dir = dir + "/data";
    config.pack_side = 96;  // the 128-pixel sources are scaled down in the pack (NIH: 1024 -> 512)
    data::synth::write_dataset(config.data_dir, {60, 128, 6, 0.5});
    std::filesystem::create_directories(run);
    train::write_config(config, run, "test");
    model::AgCnn net({config.base_width, 3});
    io::save_agcnn(net, run + "/fusion-best.safetensors", {});

    // What `agcnn eval` computes on the test split (packed copies), keyed by file name.
    struct Seen {
        std::vector<double> fusion;
        Box box;  // in the file's pixels
        std::string picture;
    };
    std::map<std::string, Seen> eval;
    train::DatasetSource data(config);
    std::vector<std::string> paths;
    for (int i : data.dataset().split.test) paths.push_back(data.dataset().records[std::size_t(i)].path);
    REQUIRE(paths.size() >= 12);
    app::evaluate_split(net, data, train::Split::test, 4, config.attention(), Device::cpu(),
                        [&](const data::Batch& batch, const model::AgCnnOutputs& out) {
                            const std::vector<float> logits = out.fusion_logits.to_vector();
                            for (std::size_t i = 0; i < batch.names.size(); ++i) {
                                Seen& seen = eval[batch.names[i]];
                                for (int k = 0; k < model::kLabelCount; ++k)
                                    seen.fusion.push_back(1.0 / (1.0 + std::exp(-double(logits[i * model::kLabelCount + k]))));
                                const Box b = app::box_in_source(out.attention[i].box, batch.geometry[i]);
                                const double scale = 128.0 / batch.sources[i]->width;
                                seen.box = {b.x0 * scale, b.y0 * scale, b.x1 * scale, b.y1 * scale};
                                seen.picture = app::png_bytes(app::attention_picture(batch.images, i, out.attention[i]));
                            }
                        });

    app::PredictOptions options;
    options.run_dir = run;
    options.out_dir = dir + "/predictions";
    options.inputs = paths;
    options.batch_size = 4;
    REQUIRE(app::predict(options).images == paths.size());
    const auto json = nlohmann::json::parse(io::read_file(options.out_dir + "/predictions.json"));
    for (const std::string& path : paths) {
        const std::string name = std::filesystem::path(path).filename().string();
        CAPTURE(name);
        const Seen& seen = eval.at(name);
        const auto& entry = json.at(path);
        for (int k = 0; k < model::kLabelCount; ++k)
            CHECK(entry["fusion"][std::string(model::kLabelNames[k])].get<double>() == seen.fusion[k]);
        const auto box = entry["box"].get<std::vector<double>>();
        CHECK(box[0] == doctest::Approx(seen.box.x0));
        CHECK(box[1] == doctest::Approx(seen.box.y0));
        CHECK(box[2] == doctest::Approx(seen.box.width()));
        CHECK(box[3] == doctest::Approx(seen.box.height()));
        const std::string stem = std::filesystem::path(path).stem().string();
        CHECK(io::read_file(options.out_dir + "/" + stem + "-attention.png") == seen.picture);
    }

    // `agcnn eval` of the same run: results.json says what was evaluated, and a second evaluation
    // keeps the first one's file.
    app::EvalOptions eval_options;
    eval_options.run_dir = run;
    eval_options.batch_size = 4;
    eval_options.command = "agcnn eval --run RUN";
    const app::EvalOutcome first = app::evaluate_run(eval_options), second = app::evaluate_run(eval_options);
    CHECK(first.results_file != second.results_file);
    CHECK(std::filesystem::exists(first.results_file));
    const auto results = nlohmann::json::parse(io::read_file(run + "/results.json"));
    const auto& record = results.at("evaluation");
    CHECK(record.at("split") == "test");
    CHECK(record.at("images") == paths.size());
    CHECK(record.at("weights_sha256") == io::sha256_hex(io::read_file(run + "/fusion-best.safetensors")));
    CHECK(record.at("command") == "agcnn eval --run RUN");
    CHECK(results.at("fusion").at("mean_auroc") == second.results.at("fusion").at("mean_auroc"));
}

TEST_CASE("ResNet-50 in eval mode: the folded inference path equals conv, batch norm, add, relu") {
    // With autograd off, eval-mode blocks run nn::conv_bn's fused path (batch norm, residual and
    // ReLU in the GEMM's epilogue); with it on, the ops run apart. Same numbers either way.
    nn::ResNet50 net({7, nn::GlobalPool::max, 8, 3});
    Rng rng(4);
    const Tensor x = nn::normal_tensor({2, 64, 64, 3}, 1.0, rng);
    net.train();
    {
        NoGradGuard no_grad;
        net.forward(x);  // running statistics away from their initial 0 and 1
    }
    net.eval();
    Tensor apart = net.forward_all(x).features;
    REQUIRE(apart.grad_fn() != nullptr);  // the unfused ops ran, recording a graph
    NoGradGuard no_grad;
    const nn::ResNetOutput folded = net.forward_all(x);
    const std::vector<float> a = apart.to_vector(), b = folded.features.to_vector();
    double worst = 0, largest = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, double(std::abs(a[i] - b[i])));
        largest = std::max(largest, double(std::abs(a[i])));
    }
    INFO("largest difference ", worst, " of largest value ", largest);
    CHECK(largest > 0);
    CHECK(worst <= 1e-5 * largest);
}
