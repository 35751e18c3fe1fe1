// agcnn/train/eval_run.hpp — `agcnn eval`: a trained run's three branches on a split.
//
// Reads RUN/config.json (data, input size, tau, ...), loads RUN/fusion-best.safetensors (all
// three branches after stage III) or the weights given, evaluates, and writes atomically
//   RUN/results.json  {"global": {"mean_auroc": x, "auroc": {"Atelectasis": x, ...}},
//                      "local": ..., "fusion": ..., "localization": ... (when boxes exist)}
//   RUN/report.html   (train/report.hpp), with heatmaps of the first images of the split.
#pragma once

#include <cstdio>
#include <string>

#include "agcnn/train/data_adapter.hpp"
#include "agcnn/train/overlay.hpp"
#include "agcnn/train/report.hpp"

namespace agcnn::train {

struct EvalOptions {
    std::string run_dir;
    Split split = Split::test;
    std::string weights;       // default RUN/fusion-best.safetensors
    std::string device = "";   // default: the run's device
    int samples = 8;           // heatmaps in the report
    int batch_size = 32;
};

inline nlohmann::json read_run_config(const std::string& run_dir, TrainConfig& config) {
    const std::string path = run_dir + "/config.json";
    auto j = nlohmann::json::parse(io::read_file(path), nullptr, false);
    AGCNN_CHECK(!j.is_discarded() && j.contains("config"), path, ": not an agcnn run configuration");
    try {
        from_json(j["config"], config);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": bad configuration: " + e.what());
    }
    return j;
}

// "Cardiomegaly 0.91, Effusion 0.40, Mass 0.33" (the three highest disease probabilities).
inline std::string top_findings(const Tensor& logits, std::int64_t row, int count = 3) {
    const std::vector<float> l = logits.to_vector();
    std::vector<std::pair<float, int>> p;
    for (int k = 0; k < data::kDiseaseCount; ++k)
        p.emplace_back(1.0f / (1.0f + std::exp(-l[row * data::kLabelCount + k])), k);
    std::sort(p.rbegin(), p.rend());
    std::string out;
    for (int i = 0; i < count; ++i) {
        char text[64];
        std::snprintf(text, sizeof text, "%s%s %.2f", i ? ", " : "", std::string(data::kLabelNames[p[i].second]).c_str(),
                      p[i].first);
        out += text;
    }
    return out;
}

inline std::string auroc_table(const Evaluation& e) {
    std::string out = "label                 global   local  fusion\n";
    std::map<Branch, std::array<double, data::kLabelCount>> values;
    for (Branch b : kBranches) values[b] = e.scores.at(b).auroc();
    auto row = [&](const std::string& name, auto get) {
        char text[96];
        std::snprintf(text, sizeof text, "%-20s %7.3f %7.3f %7.3f\n", name.c_str(), get(Branch::global),
                      get(Branch::local), get(Branch::fusion));
        out += text;
    };
    for (int k = 0; k < data::kLabelCount; ++k) {
        row(std::string(data::kLabelNames[k]), [&](Branch b) { return values[b][k]; });
        if (k + 1 == data::kDiseaseCount)
            row("MEAN (14 diseases)", [&](Branch b) { return e.scores.at(b).mean_auroc(); });
    }
    return out;
}

struct EvalOutcome {
    Evaluation evaluation;
    nlohmann::ordered_json results;
};

inline EvalOutcome evaluate_run(const EvalOptions& options) {
    TrainConfig config;
    const nlohmann::json config_file = read_run_config(options.run_dir, config);
    const Device device = parse_device(options.device.empty() ? config.device : options.device);
    DatasetSource data(config);
    model::AgCnn net({config.base_width, config.seed});
    net.load(options.weights.empty() ? options.run_dir + "/fusion-best.safetensors" : options.weights);
    net.to(device);
    ReportInputs report{options.run_dir, split_name(options.split), config_file, read_metrics(options.run_dir), nullptr, {}};
    EvalOutcome outcome;
    outcome.evaluation = evaluate(net, data, options.split, options.batch_size, config.attention(), device,
                                  [&](const data::Batch& batch, const BranchOutputs& out) {
                                      for (std::size_t i = 0; i < batch.names.size(); ++i) {
                                          if (int(report.samples.size()) >= options.samples) return;
                                          report.samples.push_back(
                                              {batch.names[i], png_bytes(attention_picture(batch.images, i, out.attention[i])),
                                               "fusion: " + top_findings(out.fusion_logits, i)});
                                      }
                                  });
    outcome.results = results_json(outcome.evaluation);
    io::write_file_atomic(options.run_dir + "/results.json", outcome.results.dump(2) + "\n");
    report.evaluation = &outcome.evaluation;
    io::write_file_atomic(options.run_dir + "/report.html", report_html(report));
    return outcome;
}

}  // namespace agcnn::train
