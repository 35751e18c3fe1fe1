// agcnn/app/report_clinical.hpp — the report's sections for a clinical reviewer, from
// app/clinical_evaluation.hpp's results: AUROC with 95% intervals, the paper's Table I beside the
// run, operating points at test with their intervals, calibration (reliability diagram and ECE),
// subgroups with their sizes and warnings; and the footer every report carries (intended use,
// not cleared for clinical use).
#pragma once

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "agcnn/app/clinical_evaluation.hpp"
#include "agcnn/app/paper_results.hpp"
#include "agcnn/app/report_charts.hpp"

namespace agcnn::app {

inline constexpr const char* kIntendedUse =
    "agcnn is research software for training and studying AG-CNN on chest X-ray data sets. It is not a "
    "medical device and is not cleared or approved for clinical use: its outputs must not be used to "
    "diagnose, treat or triage any patient (docs/compliance/intended-use.md).";

namespace detail {

// "0.812 [0.781, 0.840]", or a dash where undefined.
inline std::string interval_text(const metrics::Interval& i) {
    if (std::isnan(i.estimate)) return "&ndash;";
    char text[64];
    if (std::isnan(i.lower))
        std::snprintf(text, sizeof text, "%.3f", i.estimate);
    else
        std::snprintf(text, sizeof text, "%.3f <small>[%.3f, %.3f]</small>", i.estimate, i.lower, i.upper);
    return text;
}

inline std::string fixed3(double v) {
    if (std::isnan(v)) return "&ndash;";
    char text[16];
    std::snprintf(text, sizeof text, "%.3f", v);
    return text;
}

}  // namespace detail

inline std::string clinical_sections(const ClinicalResults& r, const std::string& split,
                                     const std::string& data_description) {
    using detail::fixed3, detail::interval_text;
    std::ostringstream html;
    html << "<h2>AUROC with 95% confidence intervals</h2><p>Percentile bootstrap over <b>patients</b> ("
         << r.patients << " in the " << html_escape(split) << " split; " << r.options.bootstrap
         << " resamples, seed " << r.options.seed
         << "): every image of a drawn patient is in the resample, so follow-ups of one patient do not "
            "narrow the interval.</p><table><tr><th>label</th>";
    for (Branch b : model::kBranches) html << "<th>" << model::branch_name(b) << "</th>";
    html << "</tr>";
    for (int k = 0; k < model::kLabelCount; ++k) {
        html << "<tr><td>" << model::kLabelNames[std::size_t(k)] << "</td>";
        for (Branch b : model::kBranches) html << "<td>" << interval_text(r.auroc.at(b)[std::size_t(k)]) << "</td>";
        html << "</tr>";
        if (k + 1 == model::kDiseaseCount) {
            html << "<tr><th>mean (14 diseases)</th>";
            for (Branch b : model::kBranches) html << "<th>" << interval_text(r.mean_auroc.at(b)) << "</th>";
            html << "</tr>";
        }
    }
    html << "</table>";

    html << "<h2>The paper beside this run</h2><p>" << kPaperSource << ", on the " << kPaperSplit
         << " (Guan et al. 2018). This run: the " << html_escape(split) << " split (" << html_escape(data_description)
         << "). Figures from different data and splits are not comparable as measurements; the table shows "
            "where the run stands, not whether it reproduces the paper.</p><table><tr><th>disease</th>";
    for (Branch b : model::kBranches) html << "<th>paper " << model::branch_name(b) << "</th>";
    for (Branch b : model::kBranches) html << "<th>run " << model::branch_name(b) << "</th>";
    html << "</tr>";
    for (int k = 0; k <= model::kDiseaseCount; ++k) {
        const bool mean = k == model::kDiseaseCount;
        if (mean)
            html << "<tr><th>mean</th>";
        else
            html << "<tr><td>" << model::kLabelNames[std::size_t(k)] << "</td>";
        for (Branch b : model::kBranches)
            html << "<td>" << fixed3(mean ? kPaperMeanAuroc[std::size_t(int(b))] : kPaperAuroc[std::size_t(int(b))][std::size_t(k)])
                 << "</td>";
        for (Branch b : model::kBranches)
            html << "<td>" << fixed3(mean ? r.mean_auroc.at(b).estimate : r.auroc.at(b)[std::size_t(k)].estimate) << "</td>";
        html << "</tr>";
    }
    html << "</table>";

    html << "<h2>Operating points (fusion)</h2><p>Per class, the threshold is chosen on the validation split ("
         << r.val_images << " images) by <b>" << html_escape(threshold_rule(r.options))
         << "</b> and applied unchanged to the " << html_escape(split)
         << " split; a finding is positive when its probability is at least the threshold. Intervals: the same "
            "patient bootstrap, threshold held fixed. The ROC curves below mark each point.</p>"
            "<table><tr><th>label</th><th>threshold</th><th>val sens / spec</th><th>TP</th><th>FP</th><th>TN</th>"
            "<th>FN</th><th>sensitivity</th><th>specificity</th><th>PPV</th><th>NPV</th></tr>";
    for (int k = 0; k < model::kLabelCount; ++k) {
        const ClassOperatingPoint& p = r.points[std::size_t(k)];
        html << "<tr><td>" << model::kLabelNames[std::size_t(k)] << "</td><td>" << fixed3(p.threshold) << "</td><td>"
             << fixed3(p.val.sensitivity()) << " / " << fixed3(p.val.specificity()) << "</td>";
        for (double count : {p.test.tp, p.test.fp, p.test.tn, p.test.fn})
            html << "<td>" << (std::isnan(p.threshold) ? std::string("&ndash;") : std::to_string(std::llround(count)))
                 << "</td>";
        for (const metrics::Interval* i : {&p.sensitivity, &p.specificity, &p.ppv, &p.npv})
            html << "<td>" << interval_text(*i) << "</td>";
        html << "</tr>";
    }
    html << "</table>";

    html << "<h2>Calibration (fusion)</h2><p>Do the probabilities mean what they say? The 14 diseases' "
            "predictions in "
         << r.options.calibration_bins
         << " equal-width bins: mean predicted probability against the share that is positive (the diagonal is "
            "perfect calibration). Expected calibration error (ECE): the bins' |positive share - mean "
            "probability| weighted by their size.</p><div class='grid'>";
    std::vector<detail::Series> reliability{{"perfect calibration", "#999", {{0, 0}, {1, 1}}},
                                    {"fusion, 14 diseases", detail::kBranchColours[int(Branch::fusion)], {}}};
    for (const auto& bin : r.pooled.bins)
        if (bin.count > 0) {
            reliability[1].points.emplace_back(bin.mean_probability, bin.positive_rate);
            reliability[1].markers.emplace_back(bin.mean_probability, bin.positive_rate);
        }
    html << detail::line_chart("reliability diagram", reliability, 0, 1, "mean predicted probability", 320, 300);
    html << "<table><tr><th>bin</th><th>predictions</th><th>mean probability</th><th>positive share</th></tr>";
    for (const auto& bin : r.pooled.bins)
        html << "<tr><td>" << fixed3(bin.lower) << "&ndash;" << fixed3(bin.upper) << "</td><td>" << bin.count
             << "</td><td>" << fixed3(bin.mean_probability) << "</td><td>" << fixed3(bin.positive_rate) << "</td></tr>";
    html << "</table><table><tr><th>label</th><th>ECE</th></tr>";
    for (int k = 0; k < model::kLabelCount; ++k)
        html << "<tr><td>" << model::kLabelNames[std::size_t(k)] << "</td><td>" << fixed3(r.calibration[std::size_t(k)].ece)
             << "</td></tr>";
    html << "<tr><th>mean (14 diseases)</th><th>" << fixed3(r.mean_ece) << "</th></tr></table></div>";

    static const char* abbreviations[model::kDiseaseCount] = {"Atel", "Card", "Effu", "Infi", "Mass", "Nod",  "Pna",
                                                              "Ptx",  "Cons", "Edem", "Emph", "Fib",  "PT",   "Her"};
    html << "<h2>Subgroups (fusion)</h2><p>AUROC per disease by sex, age band and view position, from "
            "Data_Entry_2017.csv. Values in <i>grey italics</i> rest on fewer than "
         << metrics::kMinClassCount
         << " positives or negatives in the group and say little; &#9888; k/14: k diseases are so (results.json names "
            "them); &#9888; n images: a group too small for anything. Columns: ";
    for (int k = 0; k < model::kDiseaseCount; ++k)
        html << (k ? ", " : "") << abbreviations[k] << " " << model::kLabelNames[std::size_t(k)];
    html << ".</p><table><tr><th>attribute</th><th>group</th><th>images</th><th>patients</th><th>mean</th>";
    for (int k = 0; k < model::kDiseaseCount; ++k)
        html << "<th title='" << model::kLabelNames[std::size_t(k)] << "'>" << abbreviations[k] << "</th>";
    html << "<th>warning</th></tr>";
    for (const metrics::Subgroup& g : r.subgroups) {
        html << "<tr><td>" << g.attribute << "</td><td>" << html_escape(g.group) << "</td><td>" << g.images
             << "</td><td>" << g.patients << "</td><td>" << fixed3(g.mean_auroc) << "</td>";
        for (int k = 0; k < model::kDiseaseCount; ++k) {
            const metrics::SubgroupClass& c = g.classes[std::size_t(k)];
            html << (c.small() ? "<td style='color:#999;font-style:italic'>" : "<td>") << fixed3(c.auroc) << "</td>";
        }
        html << "<td style='text-align:left;white-space:nowrap' title='" << html_escape(g.warning) << "'>";
        if (g.images < std::size_t(metrics::kMinClassCount))
            html << "&#9888; " << g.images << " images";
        else if (g.small_diseases > 0)
            html << "&#9888; " << g.small_diseases << "/" << model::kDiseaseCount;
        html << "</td></tr>";
    }
    html << "</table>";
    return html.str();
}

inline std::string intended_use_footer() {
    return std::string("<footer style='margin-top:24px;padding:8px;border-top:2px solid #c00;font-size:12px'><b>"
                       "Research software, not cleared for clinical use.</b> ") +
           kIntendedUse + "</footer>";
}

}  // namespace agcnn::app
