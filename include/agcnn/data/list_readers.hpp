// agcnn/data/list_readers.hpp — the ChestX-ray14 text files, each into records or names:
//
//   Data_Entry_2017.csv (and Data_Entry_2017_v2020.csv): a header naming the columns (located by
//     name: 'Image Index', 'Finding Labels', 'Patient ID'), pipe-separated labels; the optional
//     'Patient Gender', 'Patient Age' and 'View Position' are kept for subgroup figures (a value
//     that is not F/M, an age in years, or PA/AP is kept as given, or as age -1: "unknown").
//   train_val_list.txt / test_list.txt: one file name per line (the official split).
//   BBox_List_2017.csv: 'Image Index,Finding Label,Bbox [x,y,w,h],,,' then name, label, x, y, w, h
//     (the release spells Infiltration 'Infiltrate').
//   CheXNet-style lists: a file name, then 14 labels 0/1 in the canonical order; all zeros is
//     No Finding.
//
// A malformed row or an unknown label is reported to the ProblemLog as "file:line: ...".
#pragma once

#include <charconv>
#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include "agcnn/data/image_names.hpp"
#include "agcnn/data/records.hpp"
#include "agcnn/data/text_lines.hpp"

namespace agcnn::data {

namespace detail {

// Index of an optional column, -1 when the header lacks it.
inline int optional_column(const std::vector<std::string>& header, const std::string& name) {
    for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return static_cast<int>(i);
    return -1;
}

inline int find_column(const std::vector<std::string>& header, const std::string& name,
                       const std::string& path) {
    const int column = optional_column(header, name);
    if (column < 0) throw Error(path + ":1: header has no column '" + name + "'");
    return column;
}

// 'Patient Age': "58" (v2020) or "058Y" (2017: Y years, M months, D days); -1 when unreadable or
// above 130 (the release has a few ages in the 400s, typing errors).
inline int parse_age(const std::string& text) {
    int value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || value < 0) return -1;
    if (ptr != end && !(ptr + 1 == end && (*ptr == 'Y' || *ptr == 'M' || *ptr == 'D'))) return -1;
    if (ptr != end && *ptr != 'Y') value = 0;  // months or days old
    return value <= 130 ? value : -1;
}

inline bool parse_double(const std::string& text, double& value) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    return ec == std::errc() && ptr == end;
}

// Splits on spaces and tabs.
inline std::vector<std::string> split_words(const std::string& text) {
    std::vector<std::string> words;
    std::size_t start = 0;
    while ((start = text.find_first_not_of(" \t", start)) != std::string::npos) {
        const auto end = text.find_first_of(" \t", start);
        words.push_back(text.substr(start, end - start));
        start = end;
    }
    return words;
}

}  // namespace detail

// Records of Data_Entry_2017.csv (paths not yet set). Duplicate names are problems.
inline std::vector<ImageRecord> read_data_entry(const std::string& path, ProblemLog& log) {
    const std::vector<TextLine> lines = read_text_lines(path);
    AGCNN_CHECK(!lines.empty(), path, ": empty file; expected a Data_Entry CSV with a header");
    const std::vector<std::string> header = split_csv(lines[0], path);
    const int name_col = detail::find_column(header, "Image Index", path);
    const int labels_col = detail::find_column(header, "Finding Labels", path);
    const int patient_col = detail::find_column(header, "Patient ID", path);
    const int sex_col = detail::optional_column(header, "Patient Gender");
    const int age_col = detail::optional_column(header, "Patient Age");
    const int view_col = detail::optional_column(header, "View Position");
    const std::size_t needed = static_cast<std::size_t>(std::max({name_col, labels_col, patient_col})) + 1;
    auto optional = [](const std::vector<std::string>& fields, int col) {
        return col >= 0 && static_cast<std::size_t>(col) < fields.size() ? fields[static_cast<std::size_t>(col)]
                                                                          : std::string();
    };
    std::vector<ImageRecord> records;
    std::unordered_set<std::string> seen;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string at = where(path, lines[i].number);
        ImageRecord record;
        try {
            const std::vector<std::string> fields = split_csv(lines[i], path);
            AGCNN_CHECK(fields.size() >= needed, at, ": expected at least ", needed,
                        " fields, got ", fields.size());
            record.name = fields[static_cast<std::size_t>(name_col)];
            AGCNN_CHECK(is_image_name(record.name), at, ": 'Image Index' is '", record.name,
                        "', expected an image file name (.png, .jpg, .jpeg or .dcm)");
            const std::string& patient = fields[static_cast<std::size_t>(patient_col)];
            AGCNN_CHECK(!patient.empty() && patient.find_first_not_of("0123456789") == std::string::npos,
                        at, ": 'Patient ID' is '", patient, "', expected digits");
            record.patient = canonical_patient(patient);
            record.labels = parse_finding_labels(fields[static_cast<std::size_t>(labels_col)], at);
            record.origin = at;
            record.sex = optional(fields, sex_col);
            record.age = detail::parse_age(optional(fields, age_col));
            record.view = optional(fields, view_col);
            AGCNN_CHECK(seen.insert(record.name).second, at, ": duplicate image '", record.name, "'");
            records.push_back(std::move(record));
        } catch (const Error& e) {
            log.report(at, record.name, std::string(e.what()).substr(at.size() + 2));
        }
    }
    return records;
}

// One file name per line (train_val_list.txt, test_list.txt).
inline std::vector<std::string> read_name_list(const std::string& path, ProblemLog& log) {
    std::vector<std::string> names;
    std::unordered_set<std::string> seen;
    const std::vector<TextLine> lines = read_text_lines(path);
    AGCNN_CHECK(!lines.empty(), path, ": empty list: it names no image");
    for (const TextLine& line : lines) {
        const std::string at = where(path, line.number);
        const std::vector<std::string> words = detail::split_words(line.text);
        if (words.size() != 1 || !is_image_name(words[0]))
            log.report(at, "", "expected one image file name per line, got '" + line.text + "'");
        else if (!seen.insert(words[0]).second)
            log.report(at, words[0], "duplicate image '" + words[0] + "'");
        else
            names.push_back(words[0]);
    }
    return names;
}

// CheXNet-style list: "name l1 ... l14" (paths not yet set; patient from the name).
inline std::vector<ImageRecord> read_chexnet_list(const std::string& path, ProblemLog& log) {
    std::vector<ImageRecord> records;
    std::unordered_set<std::string> seen;
    const std::vector<TextLine> lines = read_text_lines(path);
    AGCNN_CHECK(!lines.empty(), path, ": empty list: it names no image");
    for (const TextLine& line : lines) {
        const std::string at = where(path, line.number);
        const std::vector<std::string> words = detail::split_words(line.text);
        if (words.size() != 1 + model::kDiseaseCount || !is_image_name(words[0])) {
            log.report(at, "", "expected an image file name and " + std::to_string(model::kDiseaseCount) +
                                   " labels 0/1, got " + std::to_string(words.size()) + " fields");
            continue;
        }
        ImageRecord record;
        record.name = words[0];
        record.patient = patient_of_name(record.name);
        record.origin = at;
        bool ok = true;
        for (int k = 0; k < model::kDiseaseCount && ok; ++k) {
            const std::string& w = words[static_cast<std::size_t>(k) + 1];
            ok = w == "0" || w == "1";
            if (!ok) log.report(at, record.name, "label " + std::to_string(k + 1) + " (" +
                                    std::string(model::kLabelNames[static_cast<std::size_t>(k)]) +
                                    ") is '" + w + "', expected 0 or 1");
            record.labels[static_cast<std::size_t>(k)] = w == "1" ? 1.0f : 0.0f;
        }
        if (!ok) continue;
        if (!seen.insert(record.name).second) {
            log.report(at, record.name, "duplicate image '" + record.name + "'");
            continue;
        }
        set_no_finding(record.labels);
        records.push_back(std::move(record));
    }
    return records;
}

namespace detail {
// No X-ray is this many pixels across; a coordinate beyond it (1e308, inf, nan) is a broken row.
constexpr double kMaxBoxCoordinate = 100000;
inline bool plausible_box(const BoundingBox& b) {
    const auto within = [](double v) { return std::isfinite(v) && std::abs(v) <= kMaxBoxCoordinate; };
    return within(b.x) && within(b.y) && within(b.w) && within(b.h) && b.w > 0 && b.h > 0;
}
}  // namespace detail

// BBox_List_2017.csv.
inline std::vector<BoundingBox> read_bbox_list(const std::string& path, ProblemLog& log) {
    const std::vector<TextLine> lines = read_text_lines(path);
    AGCNN_CHECK(!lines.empty(), path, ": empty file; expected a BBox_List CSV with a header");
    AGCNN_CHECK(lines[0].text.rfind("Image Index,Finding Label,Bbox", 0) == 0, path,
                ":1: header should start 'Image Index,Finding Label,Bbox [x,y,w,h]'");
    std::vector<BoundingBox> boxes;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string at = where(path, lines[i].number);
        const std::vector<std::string> f = split_csv(lines[i], path);
        BoundingBox box;
        const bool shape_ok = f.size() >= 6 && is_image_name(f[0]);
        const std::string label = shape_ok && f[1] == "Infiltrate" ? "Infiltration" : (shape_ok ? f[1] : "");
        box.label = model::label_index(label);
        if (!shape_ok) {
            log.report(at, "", "expected 'name,label,x,y,w,h', got '" + lines[i].text + "'");
        } else if (box.label < 0 || box.label >= model::kDiseaseCount) {
            log.report(at, f[0], "unknown finding label '" + f[1] + "'");
        } else if (!detail::parse_double(f[2], box.x) || !detail::parse_double(f[3], box.y) ||
                   !detail::parse_double(f[4], box.w) || !detail::parse_double(f[5], box.h) ||
                   !detail::plausible_box(box)) {
            log.report(at, f[0], "box '" + f[2] + "," + f[3] + "," + f[4] + "," + f[5] +
                                     "' is not four finite numbers with positive width and height, within " +
                                     std::to_string(int(detail::kMaxBoxCoordinate)) + " pixels");
        } else {
            box.name = f[0];
            boxes.push_back(box);
        }
    }
    return boxes;
}

}  // namespace agcnn::data
