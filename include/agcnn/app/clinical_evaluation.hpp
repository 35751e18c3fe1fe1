// agcnn/app/clinical_evaluation.hpp — what an evaluation committee asks of a run, from the scores
// of the test split (and the validation split, for thresholds):
//   - 95% intervals of every class's AUROC and of the mean, per branch, by resampling patients
//     (metrics/bootstrap.hpp; `bootstrap` resamples, seeded);
//   - per class, an operating point chosen on the validation split (Youden's J, or the highest
//     threshold reaching `target_sensitivity`) and applied unchanged to the test split:
//     sensitivity, specificity, PPV and NPV there, each with its interval from the same resamples
//     (the threshold is held fixed; its own uncertainty on validation is not in the interval);
//   - expected calibration error per class and a reliability table over all 14 diseases;
//   - AUROC per class by sex, age band and view position (metrics/subgroups.hpp).
// Operating points, calibration and subgroups are of the fusion branch: AG-CNN's output.
// clinical_json() is the results.json form; thresholds_json() is RUN/thresholds.json, which
// `agcnn predict` reads to call each finding positive or negative.
#pragma once

#include <map>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "agcnn/app/split_evaluation.hpp"
#include "agcnn/metrics/bootstrap.hpp"
#include "agcnn/metrics/calibration.hpp"
#include "agcnn/metrics/operating_point.hpp"
#include "agcnn/metrics/subgroups.hpp"

namespace agcnn::app {

struct ClinicalOptions {
    int bootstrap = 1000;              // resamples of patients
    std::uint64_t seed = 0;            // of the resamples
    double target_sensitivity = 0;     // 0: Youden's J; else the threshold reaching this sensitivity
    int calibration_bins = 10;
};

inline std::string threshold_rule(const ClinicalOptions& o) {
    if (o.target_sensitivity <= 0) return "youden";
    char text[48];
    std::snprintf(text, sizeof text, "sensitivity>=%g", o.target_sensitivity);
    return text;
}

struct ClassOperatingPoint {
    double threshold = std::numeric_limits<double>::quiet_NaN();
    metrics::Confusion val, test;
    metrics::Interval sensitivity, specificity, ppv, npv;  // at test
};

struct ClinicalResults {
    ClinicalOptions options;
    int patients = 0;
    std::size_t val_images = 0;
    std::map<Branch, std::array<metrics::Interval, model::kLabelCount>> auroc;
    std::map<Branch, metrics::Interval> mean_auroc;
    std::array<ClassOperatingPoint, model::kLabelCount> points{};
    std::array<metrics::Calibration, model::kLabelCount> calibration{};
    metrics::Calibration pooled;  // the 14 diseases' predictions together
    double mean_ece = std::numeric_limits<double>::quiet_NaN();
    std::vector<metrics::Subgroup> subgroups;
};

// test: the evaluated split; val: the validation split (thresholds; may be empty: then none);
// people[i] describes test row i.
inline ClinicalResults clinical_evaluation(const Evaluation& test, const Evaluation& val,
                                           const std::vector<metrics::Demographics>& people,
                                           const ClinicalOptions& options) {
    ClinicalResults r;
    r.options = options;
    const metrics::Scores& fusion = test.scores.at(Branch::fusion);
    AGCNN_CHECK(std::int64_t(people.size()) == fusion.rows(), "clinical evaluation: ", people.size(),
                " patient records for ", fusion.rows(), " images");
    std::unordered_map<std::string, int> patient_index;
    std::vector<int> patient_of_row;
    for (const auto& p : people) patient_of_row.push_back(patient_index.emplace(p.patient, int(patient_index.size())).first->second);
    r.patients = int(patient_index.size());

    // Thresholds on validation.
    const bool have_val = val.scores.count(Branch::fusion) && val.scores.at(Branch::fusion).rows() > 0;
    r.val_images = have_val ? std::size_t(val.scores.at(Branch::fusion).rows()) : 0;
    std::array<std::vector<float>, model::kLabelCount> test_p, test_y;
    for (int k = 0; k < model::kLabelCount; ++k) {
        test_p[k] = fusion.column(fusion.probabilities, k), test_y[k] = fusion.column(fusion.labels, k);
        ClassOperatingPoint& point = r.points[std::size_t(k)];
        if (have_val) {
            const metrics::Scores& v = val.scores.at(Branch::fusion);
            const auto vp = v.column(v.probabilities, k), vy = v.column(v.labels, k);
            point.threshold = options.target_sensitivity > 0
                                  ? metrics::sensitivity_threshold(vp, vy, options.target_sensitivity)
                                  : metrics::youden_threshold(vp, vy);
            if (!std::isnan(point.threshold)) point.val = metrics::confusion_at(vp, vy, point.threshold);
        }
        if (!std::isnan(point.threshold)) point.test = metrics::confusion_at(test_p[k], test_y[k], point.threshold);
        r.calibration[std::size_t(k)] = metrics::calibration(test_p[k], test_y[k], options.calibration_bins);
    }
    std::vector<float> pooled_p, pooled_y;
    std::vector<double> eces;
    for (int k = 0; k < model::kDiseaseCount; ++k) {
        pooled_p.insert(pooled_p.end(), test_p[k].begin(), test_p[k].end());
        pooled_y.insert(pooled_y.end(), test_y[k].begin(), test_y[k].end());
        eces.push_back(r.calibration[std::size_t(k)].ece);
    }
    r.pooled = metrics::calibration(pooled_p, pooled_y, options.calibration_bins);
    r.mean_ece = metrics::nan_mean(eces);

    // Intervals: per branch 15 AUROCs and the mean, then 4 rates per class at its threshold.
    std::vector<metrics::WeightedRanking> rankings;
    for (Branch b : model::kBranches) {
        const metrics::Scores& s = test.scores.at(b);
        for (int k = 0; k < model::kLabelCount; ++k)
            rankings.emplace_back(s.column(s.probabilities, k), s.column(s.labels, k));
    }
    const std::size_t per_branch = model::kLabelCount + 1, count = 3 * per_branch + 4 * model::kLabelCount;
    const metrics::PatientResampler resampler(patient_of_row, options.bootstrap, options.seed);
    const auto intervals = metrics::bootstrap_intervals(resampler, count, [&](const std::vector<std::uint32_t>& w) {
        std::vector<double> v;
        v.reserve(count);
        for (int b = 0; b < 3; ++b) {
            std::vector<double> diseases;
            for (int k = 0; k < model::kLabelCount; ++k) {
                v.push_back(rankings[std::size_t(b * model::kLabelCount + k)].auroc(w));
                if (k < model::kDiseaseCount) diseases.push_back(v.back());
            }
            v.push_back(metrics::nan_mean(diseases));
        }
        for (int k = 0; k < model::kLabelCount; ++k) {
            const double t = r.points[std::size_t(k)].threshold;
            const metrics::Confusion c = std::isnan(t) ? metrics::Confusion{} : metrics::confusion_at(test_p[k], test_y[k], t, w);
            v.insert(v.end(), {c.sensitivity(), c.specificity(), c.ppv(), c.npv()});
        }
        return v;
    });
    for (Branch b : model::kBranches) {
        const std::size_t base = std::size_t(int(b)) * per_branch;
        for (int k = 0; k < model::kLabelCount; ++k) r.auroc[b][std::size_t(k)] = intervals[base + std::size_t(k)];
        r.mean_auroc[b] = intervals[base + model::kLabelCount];
    }
    for (int k = 0; k < model::kLabelCount; ++k) {
        const std::size_t base = 3 * per_branch + 4 * std::size_t(k);
        ClassOperatingPoint& p = r.points[std::size_t(k)];
        p.sensitivity = intervals[base], p.specificity = intervals[base + 1], p.ppv = intervals[base + 2],
        p.npv = intervals[base + 3];
    }
    r.subgroups = metrics::subgroup_aurocs(fusion, people);
    return r;
}

namespace detail {

inline nlohmann::ordered_json number_or_null(double v) {
    return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
}

inline nlohmann::ordered_json interval_json(const metrics::Interval& i) {
    return {{"estimate", number_or_null(i.estimate)},
            {"lower", number_or_null(i.lower)},
            {"upper", number_or_null(i.upper)},
            {"resamples", i.resamples}};
}

inline nlohmann::ordered_json bins_json(const metrics::Calibration& c) {
    nlohmann::ordered_json bins = nlohmann::ordered_json::array();
    for (const auto& b : c.bins)
        bins.push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count},
                        {"mean_probability", number_or_null(b.mean_probability)},
                        {"positive_rate", number_or_null(b.positive_rate)}});
    return bins;
}

}  // namespace detail

// results.json's "confidence_intervals", "operating_points", "calibration" and "subgroups".
inline nlohmann::ordered_json clinical_json(const ClinicalResults& r, const std::string& split) {
    using nlohmann::ordered_json;
    using detail::interval_json, detail::number_or_null;
    ordered_json ci = {{"method", "percentile bootstrap over patients"},
                       {"level", 0.95},
                       {"resamples", r.options.bootstrap},
                       {"seed", r.options.seed},
                       {"patients", r.patients}};
    for (Branch b : model::kBranches) {
        ordered_json per = ordered_json::object();
        for (int k = 0; k < model::kLabelCount; ++k)
            per[std::string(model::kLabelNames[std::size_t(k)])] = interval_json(r.auroc.at(b)[std::size_t(k)]);
        ci[model::branch_name(b)] = {{"mean_auroc", interval_json(r.mean_auroc.at(b))}, {"auroc", per}};
    }
    ordered_json points = {{"branch", "fusion"},
                           {"rule", threshold_rule(r.options)},
                           {"chosen_on", "val"},
                           {"val_images", r.val_images},
                           {"applied_to", split},
                           {"positive_when", "probability >= threshold"}};
    ordered_json per_class = ordered_json::object();
    for (int k = 0; k < model::kLabelCount; ++k) {
        const ClassOperatingPoint& p = r.points[std::size_t(k)];
        const auto counts = [](const metrics::Confusion& c) {
            return ordered_json{{"tp", c.tp}, {"fp", c.fp}, {"tn", c.tn}, {"fn", c.fn}};
        };
        per_class[std::string(model::kLabelNames[std::size_t(k)])] = {
            {"threshold", number_or_null(p.threshold)},
            {"val", {{"sensitivity", number_or_null(p.val.sensitivity())},
                     {"specificity", number_or_null(p.val.specificity())}}},
            {"test_counts", counts(p.test)},
            {"sensitivity", interval_json(p.sensitivity)},
            {"specificity", interval_json(p.specificity)},
            {"ppv", interval_json(p.ppv)},
            {"npv", interval_json(p.npv)}};
    }
    points["classes"] = per_class;
    ordered_json ece = ordered_json::object();
    for (int k = 0; k < model::kLabelCount; ++k)
        ece[std::string(model::kLabelNames[std::size_t(k)])] = number_or_null(r.calibration[std::size_t(k)].ece);
    ordered_json calibration = {{"branch", "fusion"},
                                {"bins", r.options.calibration_bins},
                                {"mean_ece_14", number_or_null(r.mean_ece)},
                                {"ece", ece},
                                {"reliability_14_diseases", detail::bins_json(r.pooled)}};
    ordered_json groups = ordered_json::array();
    for (const metrics::Subgroup& g : r.subgroups) {
        ordered_json per = ordered_json::object();
        for (int k = 0; k < model::kLabelCount; ++k) {
            const metrics::SubgroupClass& c = g.classes[std::size_t(k)];
            per[std::string(model::kLabelNames[std::size_t(k)])] = {
                {"auroc", number_or_null(c.auroc)}, {"positives", c.positives}, {"small", c.small()}};
        }
        groups.push_back({{"attribute", g.attribute},
                          {"group", g.group},
                          {"images", g.images},
                          {"patients", g.patients},
                          {"mean_auroc", number_or_null(g.mean_auroc)},
                          {"warning", g.warning.empty() ? ordered_json(nullptr) : ordered_json(g.warning)},
                          {"classes", per}});
    }
    return {{"confidence_intervals", ci},
            {"operating_points", points},
            {"calibration", calibration},
            {"subgroups", {{"branch", "fusion"}, {"min_class_count", metrics::kMinClassCount}, {"groups", groups}}}};
}

// The figures as text for a person: AUROC with intervals per branch, the operating points at test,
// ECE, and the subgroups' sizes, means and warnings.
inline std::string clinical_text(const ClinicalResults& r) {
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "95%% intervals: patient bootstrap, %d resamples of %d patients, seed %llu\n",
                  r.options.bootstrap, r.patients, static_cast<unsigned long long>(r.options.seed));
    out += line;
    out += "label                 global               local                fusion\n";
    auto cell = [](const metrics::Interval& i) {
        char text[48];
        std::snprintf(text, sizeof text, "%.3f [%.3f,%.3f]", i.estimate, i.lower, i.upper);
        return std::string(text);
    };
    for (int k = 0; k <= model::kLabelCount; ++k) {
        const bool mean = k == model::kLabelCount;
        std::snprintf(line, sizeof line, "%-20s", mean ? "MEAN (14 diseases)" : std::string(model::kLabelNames[std::size_t(k)]).c_str());
        out += line;
        for (Branch b : model::kBranches)
            out.append(" ").append(cell(mean ? r.mean_auroc.at(b) : r.auroc.at(b)[std::size_t(k)]));
        out += "\n";
    }
    std::snprintf(line, sizeof line, "operating points (fusion; %s on val, %zu images) at test:\n",
                  threshold_rule(r.options).c_str(), r.val_images);
    out += line;
    out += "label                threshold  TP   FP   TN   FN   sensitivity          specificity          PPV                  NPV\n";
    for (int k = 0; k < model::kLabelCount; ++k) {
        const ClassOperatingPoint& p = r.points[std::size_t(k)];
        const std::string label(model::kLabelNames[std::size_t(k)]);
        if (std::isnan(p.threshold)) {
            out.append(label).append(21 - std::min<std::size_t>(20, label.size()), ' ');
            out.append("no threshold: the validation split has no positive or no negative\n");
            continue;
        }
        std::snprintf(line, sizeof line, "%-20s %9.3f %4.0f %4.0f %4.0f %4.0f ", label.c_str(), p.threshold, p.test.tp,
                      p.test.fp, p.test.tn, p.test.fn);
        out.append(line).append(cell(p.sensitivity)).append(" ").append(cell(p.specificity)).append(" ");
        out.append(cell(p.ppv)).append(" ").append(cell(p.npv)).append("\n");
    }
    std::snprintf(line, sizeof line, "calibration (fusion): mean ECE over 14 diseases %.3f (%d bins)\n", r.mean_ece,
                  r.options.calibration_bins);
    out += line;
    out += "subgroups (fusion): attribute group images patients mean-AUROC\n";
    for (const metrics::Subgroup& g : r.subgroups) {
        std::snprintf(line, sizeof line, "  %-5s %-8s %6zu %6zu %.3f", g.attribute.c_str(), g.group.c_str(), g.images,
                      g.patients, g.mean_auroc);
        out.append(line);
        if (!g.warning.empty()) out.append("  WARNING: ").append(g.warning);
        out.append("\n");
    }
    return out;
}

// RUN/thresholds.json: the fusion branch's threshold per label, and for which weights.
inline nlohmann::ordered_json thresholds_json(const ClinicalResults& r, const std::string& weights,
                                              const std::string& weights_sha256) {
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    for (int k = 0; k < model::kLabelCount; ++k)
        t[std::string(model::kLabelNames[std::size_t(k)])] = detail::number_or_null(r.points[std::size_t(k)].threshold);
    return {{"branch", "fusion"},
            {"rule", threshold_rule(r.options)},
            {"chosen_on", "val"},
            {"val_images", r.val_images},
            {"positive_when", "probability >= threshold"},
            {"weights", weights},
            {"weights_sha256", weights_sha256},
            {"thresholds", t}};
}

}  // namespace agcnn::app
