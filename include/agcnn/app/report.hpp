// agcnn/app/report.hpp — RUN/report.html: one self-contained page (no scripts, no external
// files) with the configuration, the learning curves, the AUROC table, per-class ROC curves as
// inline SVG (each with the fusion branch's operating point marked), the localization hit rates,
// and sample heatmaps with their attention boxes as base64 PNGs; with clinical results, also
// their sections (app/report_clinical.hpp); and the intended-use footer.
#pragma once

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/app/report_charts.hpp"
#include "agcnn/app/report_clinical.hpp"
#include "agcnn/app/split_evaluation.hpp"
#include "agcnn/io/atomic_file.hpp"

namespace agcnn::app {

struct ReportSample {
    std::string name, png, caption;  // png: bytes
};

struct ReportInputs {
    std::string run_dir, split;
    nlohmann::json config;                  // RUN/config.json
    std::vector<nlohmann::json> metrics;    // RUN/metrics.jsonl lines
    const Evaluation* evaluation = nullptr;
    std::vector<ReportSample> samples;
    const ClinicalResults* clinical = nullptr;  // intervals, operating points, ... (optional)
    std::string data_description = {};          // the split, as the data set describes it
};


inline std::string report_html(const ReportInputs& in) {
    std::ostringstream html;
    html << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>AG-CNN report</title><style>"
            "body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}"
            "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;"
            "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
            ".grid{display:flex;flex-wrap:wrap;gap:8px}.sample{width:240px;font-size:12px}"
            ".sample img{width:224px;image-rendering:pixelated}pre{background:#f7f7f7;padding:8px;"
            "font-size:11px;max-height:300px;overflow:auto}</style></head><body>";
    html << "<h1>AG-CNN run report</h1><p>Run: <code>" << html_escape(in.run_dir) << "</code>, agcnn "
         << html_escape(in.config.value("version", "?")) << ". Evaluated on the <b>" << html_escape(in.split)
         << "</b> split. Global and local: ResNet-50 with global max pooling; fusion: FC over both "
            "pooled vectors (Guan et al. 2018).</p>";

    // Learning curves.
    html << "<h2>Learning curves</h2><div class='grid'>";
    std::vector<detail::Series> loss, auroc;
    double max_loss = 0.1;
    for (Branch s : model::kBranches) {
        detail::Series l{model::branch_name(s), detail::kBranchColours[int(s)], {}}, a = l;
        for (const auto& line : in.metrics) {
            if (line.value("stage", "") != model::branch_name(s)) continue;
            const double e = line.value("epoch", 0);
            if (line["train_loss"].is_number()) {
                l.points.emplace_back(e, line["train_loss"].get<double>());
                max_loss = std::max(max_loss, line["train_loss"].get<double>());
            }
            if (line["mean_auroc"].is_number()) a.points.emplace_back(e, line["mean_auroc"].get<double>());
        }
        loss.push_back(l), auroc.push_back(a);
    }
    html << detail::line_chart("training loss (BCE) per stage", loss, 0, max_loss * 1.05, "epoch")
         << detail::line_chart("validation mean AUROC (14 diseases)", auroc, 0.4, 1.0, "epoch") << "</div>";

    const Evaluation& e = *in.evaluation;
    html << "<h2>AUROC on " << html_escape(in.split) << " (" << e.names.size() << " images)</h2><table><tr><th>label</th>";
    for (Branch b : model::kBranches) html << "<th>" << model::branch_name(b) << "</th>";
    html << "</tr>";
    std::map<Branch, nlohmann::ordered_json> per;
    for (Branch b : model::kBranches) per[b] = metrics::auroc_json(e.scores.at(b));
    for (int k = 0; k < model::kLabelCount; ++k) {
        const std::string label(model::kLabelNames[k]);
        html << "<tr><td>" << label << "</td>";
        for (Branch b : model::kBranches) html << "<td>" << detail::number(per[b]["auroc"][label]) << "</td>";
        html << "</tr>";
        if (k + 1 == model::kDiseaseCount) {
            html << "<tr><th>mean (14 diseases)</th>";
            for (Branch b : model::kBranches) html << "<th>" << detail::number(per[b]["mean_auroc"]) << "</th>";
            html << "</tr>";
        }
    }
    html << "</table>";
    if (in.clinical) html << clinical_sections(*in.clinical, in.split, in.data_description);

    html << "<h2>ROC curves</h2><div class='grid'>";
    for (int k = 0; k < model::kLabelCount; ++k) {
        std::vector<detail::Series> curves;
        for (Branch b : model::kBranches) {
            const metrics::Scores& s = e.scores.at(b);
            detail::Series c{model::branch_name(b), detail::kBranchColours[int(b)], {}};
            for (auto p : metrics::roc_curve(s.column(s.probabilities, k), s.column(s.labels, k)))
                c.points.emplace_back(p.fpr, p.tpr);
            if (c.points.size() < 2) c.points.clear();
            if (b == Branch::fusion && in.clinical && !c.points.empty()) {
                const metrics::Confusion& t = in.clinical->points[std::size_t(k)].test;
                if (!std::isnan(t.sensitivity()) && !std::isnan(t.specificity())) {
                    c.markers.emplace_back(1 - t.specificity(), t.sensitivity());
                    c.label += " (o: operating point)";
                }
            }
            curves.push_back(c);
        }
        html << detail::line_chart(std::string(model::kLabelNames[k]), curves, 0, 1, "false positive rate", 270, 230);
    }
    html << "</div>";

    if (e.has_localization) {
        const nlohmann::ordered_json loc = localization_json(e.localization);
        html << "<h2>Localization (attention box vs BBox_List_2017.csv)</h2><p>Share of annotated boxes whose "
                "IoU or IoBB with the global branch's attention box exceeds T (Wang et al. 2017), and share of "
                "them at least half inside the attention box (held: the local branch's crop shows the lesion)."
                "</p><table><tr><th>disease</th><th>boxes</th><th>held</th>";
        for (double t : metrics::kLocalizationThresholds) html << "<th>IoU&gt;" << t << "</th>";
        for (double t : metrics::kLocalizationThresholds) html << "<th>IoBB&gt;" << t << "</th>";
        html << "</tr>";
        auto row = [&](const std::string& name, const nlohmann::ordered_json& g) {
            html << "<tr><td>" << html_escape(name) << "</td><td>" << g["boxes"] << "</td><td>"
                 << detail::number(g["held"]) << "</td>";
            for (const char* kind : {"iou", "iobb"})
                for (auto& [key, value] : g[kind].items()) html << "<td>" << detail::number(value) << "</td>";
            html << "</tr>";
        };
        for (auto& [name, g] : loc["per_disease"].items()) row(name, g);
        row("all", loc["overall"]);
        html << "</table>";
    }

    html << "<h2>Sample heatmaps</h2><p>Global branch's heatmap over the input; green: the attention box "
            "(largest region above tau) that the local branch sees.</p><div class='grid'>";
    for (const auto& s : in.samples)
        html << "<div class='sample'><img alt='" << html_escape(s.name) << "' src='data:image/png;base64,"
             << base64(s.png) << "'><br><b>" << html_escape(s.name) << "</b><br>" << html_escape(s.caption) << "</div>";
    html << "</div><h2>Configuration</h2><pre>" << html_escape(in.config.dump(2)) << "</pre>" << intended_use_footer()
         << "</body></html>\n";
    return html.str();
}

// Lines of RUN/metrics.jsonl (none when it is absent).
inline std::vector<nlohmann::json> read_metrics(const std::string& run_dir) {
    std::vector<nlohmann::json> lines;
    const std::string path = run_dir + "/metrics.jsonl";
    if (!std::filesystem::exists(path)) return lines;
    std::istringstream in(io::read_file(path));
    std::string text;
    while (std::getline(in, text)) {
        auto line = nlohmann::json::parse(text, nullptr, false);
        if (!line.is_discarded()) lines.push_back(std::move(line));
    }
    return lines;
}

}  // namespace agcnn::app
