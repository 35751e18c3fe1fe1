// agcnn/metrics/subgroups.hpp — AUROC per class within subgroups of the patients: sex, age band
// and view position, as Data_Entry_2017.csv records them ('Patient Gender', 'Patient Age',
// 'View Position').
//
// Groups: sex "F" / "M"; age band "<20", "20-39", "40-59", "60+" (age in years at the image);
// view "PA" / "AP"; any other or missing value is the group "unknown". Each group reports its
// image and patient counts and, per class, its positives and AUROC. An AUROC from fewer than
// kMinClassCount positives or negatives is too noisy to compare groups with: it is still given,
// marked small, and the group carries a warning naming those classes (a group under
// kMinClassCount images gets one warning for all of it).
#pragma once

#include <array>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "agcnn/metrics/scores.hpp"

namespace agcnn::metrics {

inline constexpr int kMinClassCount = 10;

// What one image's record says about its patient; age < 0 = unknown.
struct Demographics {
    std::string patient, sex, view;
    int age = -1;
};

inline std::string age_band(int age) {
    if (age < 0) return "unknown";
    return age < 20 ? "<20" : age < 40 ? "20-39" : age < 60 ? "40-59" : "60+";
}

struct SubgroupClass {
    int positives = 0, negatives = 0;
    double auroc = std::numeric_limits<double>::quiet_NaN();
    bool small() const { return positives < kMinClassCount || negatives < kMinClassCount; }
};

struct Subgroup {
    std::string attribute, group;  // "sex" "F"; "age" "60+"; "view" "PA"
    std::size_t images = 0, patients = 0;
    std::array<SubgroupClass, model::kLabelCount> classes{};
    double mean_auroc = std::numeric_limits<double>::quiet_NaN();  // 14 diseases, NaN skipped
    int small_diseases = 0;  // diseases with fewer than kMinClassCount positives or negatives
    std::string warning;     // empty when every disease has enough positives and negatives
};

// The group of each attribute for one image, in the order sex, age, view.
inline std::array<std::pair<std::string, std::string>, 3> groups_of(const Demographics& d) {
    const std::string sex = d.sex == "F" || d.sex == "M" ? d.sex : "unknown";
    const std::string view = d.view == "PA" || d.view == "AP" ? d.view : "unknown";
    return {{{"sex", sex}, {"age", age_band(d.age)}, {"view", view}}};
}

// Where a group comes in its attribute's list: F, M; <20 ... 60+; PA, AP; "unknown" last.
inline int group_rank(const std::string& group) {
    static const char* order[] = {"F", "M", "<20", "20-39", "40-59", "60+", "PA", "AP"};
    for (int i = 0; i < 8; ++i)
        if (group == order[i]) return i;
    return 8;
}

// Subgroups of the rows of `scores` (people[i] describes row i), ordered by attribute (sex, age,
// view), then as group_rank() says.
inline std::vector<Subgroup> subgroup_aurocs(const Scores& scores, const std::vector<Demographics>& people) {
    AGCNN_CHECK(std::int64_t(people.size()) == scores.rows(), "subgroups: ", people.size(),
                " demographic records for ", scores.rows(), " scored images");
    static const char* attribute_order[] = {"sex", "age", "view"};
    std::map<std::tuple<int, int, std::string>, std::vector<std::size_t>> rows;
    for (std::size_t i = 0; i < people.size(); ++i) {
        const auto groups = groups_of(people[i]);
        for (int a = 0; a < 3; ++a) {
            const std::string& group = groups[std::size_t(a)].second;
            rows[{a, group_rank(group), group}].push_back(i);
        }
    }
    std::vector<Subgroup> out;
    for (const auto& [key, members] : rows) {
        Subgroup g;
        g.attribute = attribute_order[std::get<0>(key)];
        g.group = std::get<2>(key);
        g.images = members.size();
        std::set<std::string> patients;
        for (std::size_t i : members) patients.insert(people[i].patient);
        g.patients = patients.size();
        std::vector<double> disease_aurocs;
        std::string small;
        for (int k = 0; k < model::kLabelCount; ++k) {
            std::vector<float> p, y;
            for (std::size_t i : members) {
                p.push_back(scores.probabilities[i * model::kLabelCount + std::size_t(k)]);
                y.push_back(scores.labels[i * model::kLabelCount + std::size_t(k)]);
            }
            SubgroupClass& c = g.classes[std::size_t(k)];
            for (float l : y) (l > 0.5f ? c.positives : c.negatives) += 1;
            c.auroc = auroc(p, y);
            if (k < model::kDiseaseCount) {
                disease_aurocs.push_back(c.auroc);
                if (c.small()) {
                    small.append(small.empty() ? "" : ", ").append(model::kLabelNames[std::size_t(k)]);
                    ++g.small_diseases;
                }
            }
        }
        g.mean_auroc = nan_mean(disease_aurocs);
        if (g.images < std::size_t(kMinClassCount))
            g.warning = "only " + std::to_string(g.images) + " images: too few to say anything";
        else if (g.small_diseases == model::kDiseaseCount)
            g.warning = "every disease has fewer than " + std::to_string(kMinClassCount) +
                        " positives or negatives here: no AUROC of this group is reliable";
        else if (g.small_diseases > 0)
            g.warning = "fewer than " + std::to_string(kMinClassCount) + " positives or negatives for " + small +
                        ": those AUROCs are not reliable";
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace agcnn::metrics
