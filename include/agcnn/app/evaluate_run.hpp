// agcnn/app/evaluate_run.hpp — `agcnn eval`: a trained run's three branches on a split.
//
// Reads RUN/config.json (data, input size, tau, ...), loads RUN/fusion-best.safetensors (all
// three branches after stage III) or the weights given, evaluates, and writes atomically
//   RUN/results.json  {"global": {"mean_auroc": x, "auroc": {"Atelectasis": x, ...}},
//                      "local": ..., "fusion": ..., "localization": ... (when boxes exist)}
//   RUN/report.html   (app/report.hpp), with heatmaps of the first images of the split.
// auroc_table() is the same figures as text for a person. A branch with NaN scores gets null
// AUROCs and a warning through the Reporter.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "agcnn/app/overlay.hpp"
#include "agcnn/app/report.hpp"
#include "agcnn/io/agcnn_weights.hpp"
#include "agcnn/train/dataset_source.hpp"
#include "agcnn/train/run.hpp"

namespace agcnn::app {

struct EvalOptions {
    std::string run_dir;
    Split split = Split::test;
    std::string weights;       // default RUN/fusion-best.safetensors
    std::string device = "";   // default: the run's device
    int samples = 8;           // heatmaps in the report
    int batch_size = 32;
};

// "Cardiomegaly 0.91, Effusion 0.40, Mass 0.33" (the three highest disease probabilities).
inline std::string top_findings(const Tensor& logits, std::int64_t row, int count = 3) {
    const std::vector<float> l = logits.to_vector();
    std::vector<std::pair<float, int>> p;
    for (int k = 0; k < model::kDiseaseCount; ++k)
        p.emplace_back(1.0f / (1.0f + std::exp(-l[row * model::kLabelCount + k])), k);
    std::sort(p.rbegin(), p.rend());
    std::string out;
    for (int i = 0; i < count; ++i) {
        char text[64];
        std::snprintf(text, sizeof text, "%s%s %.2f", i ? ", " : "", std::string(model::kLabelNames[p[i].second]).c_str(),
                      p[i].first);
        out += text;
    }
    return out;
}

inline std::string auroc_table(const Evaluation& e) {
    std::string out = "label                 global   local  fusion\n";
    std::map<Branch, std::array<double, model::kLabelCount>> values;
    for (Branch b : model::kBranches) values[b] = e.scores.at(b).auroc();
    auto row = [&](const std::string& name, auto get) {
        char text[96];
        std::snprintf(text, sizeof text, "%-20s %7.3f %7.3f %7.3f\n", name.c_str(), get(Branch::global),
                      get(Branch::local), get(Branch::fusion));
        out += text;
    };
    for (int k = 0; k < model::kLabelCount; ++k) {
        row(std::string(model::kLabelNames[k]), [&](Branch b) { return values[b][k]; });
        if (k + 1 == model::kDiseaseCount)
            row("MEAN (14 diseases)", [&](Branch b) { return e.scores.at(b).mean_auroc(); });
    }
    return out;
}

struct EvalOutcome {
    Evaluation evaluation;
    nlohmann::ordered_json results;
};

// The run's model with its best weights RUN/fusion-best.safetensors (or `weights`), on `device`.
inline std::unique_ptr<model::AgCnn> load_run_model(const train::TrainConfig& config, const std::string& run_dir,
                                                    const std::string& weights, Device device) {
    auto net = std::make_unique<model::AgCnn>(model::AgCnnConfig{config.base_width, config.seed});
    io::load_agcnn(*net, weights.empty() ? run_dir + "/fusion-best.safetensors" : weights);
    net->to(device);
    return net;
}

inline EvalOutcome evaluate_run(const EvalOptions& options, Reporter& reporter = silent_reporter()) {
    train::TrainConfig config;
    const nlohmann::json config_file = train::read_run_config(options.run_dir, config);
    const Device device = parse_device(options.device.empty() ? config.device : options.device);
    train::DatasetSource data(config, reporter);
    const auto net = load_run_model(config, options.run_dir, options.weights, device);
    ReportInputs report{options.run_dir, train::split_name(options.split), config_file, read_metrics(options.run_dir), nullptr, {}};
    EvalOutcome outcome;
    outcome.evaluation = evaluate_split(*net, data, options.split, options.batch_size, config.attention(), device,
                                  [&](const data::Batch& batch, const model::AgCnnOutputs& out) {
                                      for (std::size_t i = 0; i < batch.names.size(); ++i) {
                                          if (int(report.samples.size()) >= options.samples) return;
                                          report.samples.push_back(
                                              {batch.names[i], png_bytes(attention_picture(batch.images, i, out.attention[i])),
                                               "fusion: " + top_findings(out.fusion_logits, i)});
                                      }
                                  });
    for (Branch b : model::kBranches)
        if (const std::size_t nan = outcome.evaluation.scores.at(b).nan_scores(); nan > 0)
            reporter.warning(std::string(model::branch_name(b)) + " branch: " + std::to_string(nan) + " of " +
                             std::to_string(outcome.evaluation.scores.at(b).probabilities.size()) +
                             " scores are NaN (NaN weights or a diverged model); its AUROC is reported as null");
    outcome.results = results_json(outcome.evaluation);
    io::write_file_atomic(options.run_dir + "/results.json", outcome.results.dump(2) + "\n");
    report.evaluation = &outcome.evaluation;
    io::write_file_atomic(options.run_dir + "/report.html", report_html(report));
    return outcome;
}

}  // namespace agcnn::app
