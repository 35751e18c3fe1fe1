// agcnn/app/evaluate_run.hpp — `agcnn eval`: a trained run's three branches on a split.
//
// Reads RUN/config.json (data, input size, tau, ...), loads RUN/fusion-best.safetensors (all
// three branches after stage III) or the weights given, evaluates, and writes atomically
//   RUN/results.json  {"evaluation": {what was evaluated, by what: below},
//                      "global": {"mean_auroc": x, "auroc": {"Atelectasis": x, ...}},
//                      "local": ..., "fusion": ..., "localization": ... (when boxes exist),
//                      "confidence_intervals", "operating_points", "calibration", "subgroups"
//                      (app/clinical_evaluation.hpp), "paper_table_1" (app/paper_results.hpp)}
//   RUN/results-<split>-<UTC time>.json  the same, kept: an evaluation never overwrites another
//   RUN/thresholds.json  the fusion branch's operating points, chosen on the validation split
//                        (for `agcnn predict`)
//   RUN/report.html   (app/report.hpp), with heatmaps of the first images of the split.
//   RUN/manifest.json (app/manifest.hpp), last, so it hashes all of the above.
// The validation split is evaluated too (for the thresholds) when the run has one; without it
// there are no operating points, with a warning.
// "evaluation" records the split and its size, the weights file and its sha256, the software
// version and the commit it was built from, the command, and the time (UTC).
// auroc_table() is the same figures as text for a person. A branch with NaN scores gets null
// AUROCs and a warning through the Reporter.
#pragma once

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include "agcnn/app/clinical_evaluation.hpp"
#include "agcnn/app/manifest.hpp"
#include "agcnn/app/overlay.hpp"
#include "agcnn/app/paper_results.hpp"
#include "agcnn/app/report.hpp"
#include "agcnn/io/agcnn_weights.hpp"
#include "agcnn/io/sha256.hpp"
#include "agcnn/train/dataset_source.hpp"
#include "agcnn/train/run_paths.hpp"
#include "agcnn/train/run.hpp"

namespace agcnn::app {

struct EvalOptions {
    std::string run_dir;
    Split split = Split::test;
    std::string weights;       // default RUN/fusion-best.safetensors
    std::string device = "";   // default: the run's device
    int samples = 8;           // heatmaps in the report
    int batch_size = 32;
    std::string version = "unknown", commit = "unknown", command;  // recorded in results.json
    std::string build_flags = "unknown";                            // recorded in manifest.json
    ClinicalOptions clinical;  // bootstrap resamples and seed, threshold rule
};

// The provenance block of results.json.
inline nlohmann::ordered_json evaluation_record(const EvalOptions& options, const std::string& weights,
                                                std::size_t images, const std::string& time_utc) {
    return {{"split", train::split_name(options.split)},
            {"images", images},
            {"weights", weights},
            {"weights_sha256", sha256_file(weights)},
            {"software_version", options.version},
            {"software_commit", options.commit},
            {"command", options.command},
            {"time_utc", time_utc}};
}

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

// "paper_table_1": the paper's per-class AUROCs per branch and the split they are from, beside
// the split this evaluation used.
inline nlohmann::ordered_json paper_json(const std::string& our_split) {
    nlohmann::ordered_json j = {{"source", kPaperSource}, {"paper_split", kPaperSplit}, {"this_run_split", our_split}};
    for (Branch b : model::kBranches) {
        nlohmann::ordered_json per = nlohmann::ordered_json::object();
        for (int k = 0; k < model::kDiseaseCount; ++k)
            per[std::string(model::kLabelNames[std::size_t(k)])] = kPaperAuroc[std::size_t(int(b))][std::size_t(k)];
        j[model::branch_name(b)] = {{"mean_auroc", kPaperMeanAuroc[std::size_t(int(b))]}, {"auroc", per}};
    }
    return j;
}

// Who each evaluated image is (patient, sex, age, view), from the data set's records.
inline std::vector<metrics::Demographics> demographics_of(const std::vector<std::string>& names,
                                                          const data::Dataset& dataset) {
    std::map<std::string, const data::ImageRecord*> by_name;
    for (const auto& r : dataset.records) by_name[r.name] = &r;
    std::vector<metrics::Demographics> out;
    for (const std::string& name : names) {
        const auto it = by_name.find(name);
        AGCNN_CHECK(it != by_name.end(), "evaluation: image '", name, "' is not in the data set's records");
        out.push_back({it->second->patient, it->second->sex, it->second->view, it->second->age});
    }
    return out;
}

struct EvalOutcome {
    Evaluation evaluation;
    ClinicalResults clinical;
    nlohmann::ordered_json results;
    std::string results_file;  // RUN/results-<split>-<time>.json
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
    train::DatasetSource data(train::resolve_data_paths(config, options.run_dir), reporter, 0);  // one pass
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
    Evaluation val;
    if (data.images(Split::val) > 0)
        val = evaluate_split(*net, data, Split::val, options.batch_size, config.attention(), device);
    else
        reporter.warning("the run has no validation split: no operating points (thresholds) are chosen");
    if (options.split == Split::val)
        reporter.warning("thresholds chosen on the validation split are applied to it again: its sensitivity and "
                         "specificity are optimistic");
    outcome.clinical = clinical_evaluation(outcome.evaluation, val,
                                           demographics_of(outcome.evaluation.names, data.dataset()), options.clinical);
    const std::string stamp = utc_stamp(),
                      weights = options.weights.empty() ? options.run_dir + "/fusion-best.safetensors" : options.weights;
    outcome.results = {{"evaluation", evaluation_record(options, weights, outcome.evaluation.names.size(), stamp)}};
    outcome.results.update(results_json(outcome.evaluation));
    outcome.results.update(clinical_json(outcome.clinical, train::split_name(options.split)));
    outcome.results["paper_table_1"] = paper_json(data.dataset().description);
    std::string kept = options.run_dir + "/results-" + train::split_name(options.split) + "-" + stamp;
    for (int n = 2; std::filesystem::exists(kept + ".json"); ++n)  // two evaluations in one second
        kept = options.run_dir + "/results-" + train::split_name(options.split) + "-" + stamp + "-" + std::to_string(n);
    outcome.results_file = kept + ".json";
    io::write_file_atomic(outcome.results_file, outcome.results.dump(2) + "\n");
    io::write_file_atomic(options.run_dir + "/results.json", outcome.results.dump(2) + "\n");
    io::write_file_atomic(options.run_dir + "/thresholds.json",
                          thresholds_json(outcome.clinical, weights, outcome.results["evaluation"]["weights_sha256"].get<std::string>())
                                  .dump(2) + "\n");
    report.evaluation = &outcome.evaluation;
    report.clinical = &outcome.clinical;
    report.data_description = data.dataset().description;
    io::write_file_atomic(options.run_dir + "/report.html", report_html(report));
    write_manifest(options.run_dir, config, {options.version, options.commit, options.build_flags}, "agcnn eval", stamp);
    return outcome;
}

}  // namespace agcnn::app
