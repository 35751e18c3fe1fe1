// agcnn/data/records.hpp — what the readers produce: one record per image (name, patient, file,
// 15 labels, and what Data_Entry_2017.csv says about the patient: sex, age, view position), the
// bounding boxes, and the problems found on the way.
//
// Problems (a missing image, an unknown label, a duplicate name, a malformed row) are errors
// naming the file and line, unless the reader was asked to skip bad entries; then each one is
// logged, the entry is left out, and the log is reported (a count and the first names).
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/model/labels.hpp"

namespace agcnn::data {

using LabelVector = std::array<float, model::kLabelCount>;  // 0/1; index 14 is No Finding

struct ImageRecord {
    std::string name;     // file name, e.g. 00000001_000.png
    std::string patient;  // patient ID without leading zeros, e.g. "1"
    std::string path;     // where the PNG is (empty until the image folders are searched)
    LabelVector labels{};
    std::string origin;   // "file:line" it came from, for messages
    // From Data_Entry_2017.csv when it has the columns (empty / -1 otherwise, e.g. list files):
    std::string sex;      // 'Patient Gender': "F" or "M"
    int age = -1;         // 'Patient Age' in years ("58", or the 2017 release's "058Y")
    std::string view;     // 'View Position': "PA" or "AP"
};

// A box of BBox_List_2017.csv, in the pixel coordinates of the original image.
struct BoundingBox {
    std::string name;
    int label = 0;
    double x = 0, y = 0, w = 0, h = 0;
};

struct Problem {
    std::string where;  // "file:line" or a file
    std::string name;   // the image concerned, when there is one
    std::string message;
};

class ProblemLog {
public:
    explicit ProblemLog(bool skip_bad) : skip_bad_(skip_bad) {}
    // Throws, or (skipping bad entries) records the problem; the caller then drops the entry.
    void report(const std::string& where, const std::string& name, const std::string& message) {
        if (!skip_bad_) throw Error(where + ": " + message);
        problems_.push_back({where, name, message});
    }
    const std::vector<Problem>& problems() const { return problems_; }

private:
    bool skip_bad_;
    std::vector<Problem> problems_;
};

// "00000001" or "1" -> "1": patient IDs compare as numbers, whatever their padding.
inline std::string canonical_patient(std::string_view id) {
    while (id.size() > 1 && id.front() == '0') id.remove_prefix(1);
    return std::string(id);
}

// The patient of a ChestX-ray14 file name: the digits before the first '_' (00000001_000.png).
// Names that do not follow the pattern are their own patient.
inline std::string patient_of_name(const std::string& name) {
    const auto underscore = name.find('_');
    const std::string_view head = std::string_view(name).substr(0, underscore);
    const bool digits = underscore != std::string::npos && !head.empty() &&
                        std::all_of(head.begin(), head.end(),
                                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    return digits ? canonical_patient(head) : name;
}

// Labels from Data_Entry's pipe-separated 'Finding Labels' ("Cardiomegaly|Effusion",
// "No Finding"). Throws with `where` on an unknown or repeated label, or No Finding with a disease.
inline LabelVector parse_finding_labels(std::string_view text, const std::string& where) {
    LabelVector labels{};
    std::size_t start = 0;
    while (true) {
        const auto bar = text.find('|', start);
        std::string_view item = text.substr(start, bar == std::string_view::npos ? bar : bar - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        const int index = model::label_index(item);
        AGCNN_CHECK(index >= 0, where, ": unknown finding label '", item, "'");
        AGCNN_CHECK(labels[static_cast<std::size_t>(index)] == 0.0f, where, ": label '", item,
                    "' given twice");
        labels[static_cast<std::size_t>(index)] = 1.0f;
        if (bar == std::string_view::npos) break;
        start = bar + 1;
    }
    int diseases = 0;
    for (int i = 0; i < model::kDiseaseCount; ++i) diseases += labels[static_cast<std::size_t>(i)] != 0.0f;
    AGCNN_CHECK(!(diseases > 0 && labels[model::kNoFindingIndex] != 0.0f), where,
                ": 'No Finding' together with a disease");
    return labels;
}

// Sets No Finding from the 14 diseases (for list files, where all zeros means No Finding).
inline void set_no_finding(LabelVector& labels) {
    float any = 0.0f;
    for (int i = 0; i < model::kDiseaseCount; ++i) any = std::max(any, labels[static_cast<std::size_t>(i)]);
    labels[model::kNoFindingIndex] = any > 0.0f ? 0.0f : 1.0f;
}

}  // namespace agcnn::data
