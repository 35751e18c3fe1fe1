// agcnn/data/summary.hpp — what `agcnn dataset --summary` prints: images, patients and positives
// per split and class, then the problems found (a count and the first few).
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "agcnn/data/dataset.hpp"

namespace agcnn::data {

struct SplitSummary {
    std::string name;
    int images = 0, patients = 0;
    std::array<int, model::kLabelCount> positives{};
};

inline std::vector<SplitSummary> summarize(const Dataset& data) {
    std::vector<SplitSummary> out;
    const std::pair<const char*, const std::vector<int>*> parts[] = {
        {"train", &data.split.train}, {"val", &data.split.val}, {"test", &data.split.test}};
    for (const auto& [name, indices] : parts) {
        SplitSummary s;
        s.name = name;
        std::unordered_set<std::string> patients;
        for (int i : *indices) {
            const ImageRecord& r = data.records[static_cast<std::size_t>(i)];
            ++s.images;
            patients.insert(r.patient);
            for (int k = 0; k < model::kLabelCount; ++k) s.positives[static_cast<std::size_t>(k)] += r.labels[static_cast<std::size_t>(k)] > 0;
        }
        s.patients = static_cast<int>(patients.size());
        out.push_back(s);
    }
    return out;
}

inline std::string format_summary(const Dataset& data, std::size_t max_problems = 10) {
    const std::vector<SplitSummary> parts = summarize(data);
    std::string text = data.description + "\n";
    char line[160];
    std::snprintf(line, sizeof line, "%-20s %8s %8s %8s\n", "", "train", "val", "test");
    text += line;
    std::snprintf(line, sizeof line, "%-20s %8d %8d %8d\n", "images", parts[0].images, parts[1].images, parts[2].images);
    text += line;
    std::snprintf(line, sizeof line, "%-20s %8d %8d %8d\n", "patients", parts[0].patients, parts[1].patients,
                  parts[2].patients);
    text += line;
    for (int k = 0; k < model::kLabelCount; ++k) {
        const auto i = static_cast<std::size_t>(k);
        std::snprintf(line, sizeof line, "%-20s %8d %8d %8d\n", std::string(model::kLabelNames[i]).c_str(),
                      parts[0].positives[i], parts[1].positives[i], parts[2].positives[i]);
        text += line;
    }
    text += "bounding boxes: " + std::to_string(data.boxes.size()) + "\n";
    text += "problems: " + std::to_string(data.problems.size()) + "\n";
    for (std::size_t i = 0; i < data.problems.size() && i < max_problems; ++i) {
        const Problem& p = data.problems[i];
        text += "  " + p.where + ": " + (p.name.empty() ? "" : p.name + ": ") + p.message + "\n";
    }
    if (data.problems.size() > max_problems)
        text += "  ... and " + std::to_string(data.problems.size() - max_problems) + " more\n";
    return text;
}

}  // namespace agcnn::data
