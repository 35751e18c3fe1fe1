// agcnn/data/dataset.hpp — open a ChestX-ray14-style data set and split it: the one call that
// training, evaluation and `agcnn dataset` make.
//
// Two forms:
//   official layout (DataSpec::data_dir): images in DIR/images/ or DIR/images_NNN/images/,
//     Data_Entry_2017_v2020.csv (preferred) or Data_Entry_2017.csv, optional train_val_list.txt +
//     test_list.txt (needed for the official split) and BBox_List_2017.csv;
//   list files (DataSpec::images_dir + train/val/test CheXNet-style lists): the lists are the split.
// Images are PNG, JPEG or DICOM files (data/image_file.hpp), named in the CSV and lists as they
// are on disk (00000001_000.png, 00000001_000.dcm).
// Every record must have its image (and, with check_png_headers, a readable header); problems
// throw naming the file and line, or with skip_bad are logged and the image left out.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agcnn/data/list_readers.hpp"
#include "agcnn/data/image_file.hpp"
#include "agcnn/data/splits.hpp"

namespace agcnn::data {

struct DataSpec {
    std::string data_dir;                              // official layout
    std::string split = "official";                    // official | random (official layout)
    std::string images_dir, train_list, val_list, test_list;  // list-file form
    std::uint64_t seed = 0;                            // validation carve-out / random split
    double val_fraction = 1.0 / 8;                     // official: share of train_val patients
    std::array<double, 3> random_fractions{0.7, 0.1, 0.2};  // random: train, val, test shares of
                                                            // the patients (the paper's; sum 1)
    bool skip_bad = false;
    bool check_png_headers = true;
};

struct Dataset {
    std::vector<ImageRecord> records;
    Split split;
    std::vector<BoundingBox> boxes;
    std::vector<Problem> problems;
    std::string description;
};

namespace detail {

namespace fs = std::filesystem;

// name -> path of every image file in the given folders; a name in two folders is a problem.
inline std::unordered_map<std::string, std::string> index_images(const std::vector<fs::path>& folders,
                                                               ProblemLog& log) {
    std::unordered_map<std::string, std::string> paths;
    for (const fs::path& folder : folders)
        for (const auto& entry : fs::directory_iterator(folder)) {
            const std::string name = entry.path().filename().string();
            if (!is_image_name(name) || !entry.is_regular_file()) continue;
            const auto [it, inserted] = paths.emplace(name, entry.path().string());
            if (!inserted) log.report(entry.path().string(), name, "duplicate image, also " + it->second);
        }
    return paths;
}

inline std::vector<fs::path> official_image_folders(const fs::path& root) {
    std::vector<fs::path> folders;
    if (fs::is_directory(root / "images")) folders.push_back(root / "images");
    std::vector<fs::path> parts;
    for (const auto& entry : fs::directory_iterator(root))
        if (entry.is_directory() && entry.path().filename().string().rfind("images_", 0) == 0 &&
            fs::is_directory(entry.path() / "images"))
            parts.push_back(entry.path() / "images");
    std::sort(parts.begin(), parts.end());
    folders.insert(folders.end(), parts.begin(), parts.end());
    AGCNN_CHECK(!folders.empty(), root.string(), ": no images/ or images_NNN/images/ folder");
    return folders;
}

// Sets each record's path; drops (through the log) records without a usable image.
inline void attach_images(std::vector<ImageRecord>& records,
                          const std::unordered_map<std::string, std::string>& paths,
                          const std::string& folders, bool check_headers, ProblemLog& log) {
    std::vector<ImageRecord> kept;
    for (ImageRecord& r : records) {
        const auto it = paths.find(r.name);
        if (it == paths.end()) {
            log.report(r.origin, r.name, "image '" + r.name + "' not found in " + folders);
            continue;
        }
        r.path = it->second;
        if (check_headers) {
            try {
                read_image_size(r.path);
            } catch (const Error& e) {
                log.report(r.origin, r.name, e.what());
                continue;
            }
        }
        kept.push_back(std::move(r));
    }
    records = std::move(kept);
}

inline std::unordered_map<std::string, int> index_names(const std::vector<ImageRecord>& records) {
    std::unordered_map<std::string, int> index;
    for (std::size_t i = 0; i < records.size(); ++i) index[records[i].name] = static_cast<int>(i);
    return index;
}

// Record indices of `names`; names never in the CSV are problems, names dropped earlier (their
// problem already logged) are not.
inline std::vector<int> lookup(const std::vector<std::string>& names,
                               const std::unordered_map<std::string, int>& index,
                               const std::string& list_path, const std::string& csv_path,
                               ProblemLog& log) {
    std::unordered_set<std::string> dropped;
    for (const Problem& p : log.problems()) dropped.insert(p.name);
    std::vector<int> out;
    for (const std::string& name : names) {
        const auto it = index.find(name);
        if (it != index.end())
            out.push_back(it->second);
        else if (!dropped.count(name))
            log.report(list_path, name, "image '" + name + "' is not in " + csv_path);
    }
    std::sort(out.begin(), out.end());
    return out;
}

inline Dataset open_official(const DataSpec& spec, ProblemLog& log) {
    const fs::path root(spec.data_dir);
    AGCNN_CHECK(fs::is_directory(root), spec.data_dir, ": not a folder");
    const fs::path csv = fs::exists(root / "Data_Entry_2017_v2020.csv")
                             ? root / "Data_Entry_2017_v2020.csv"
                             : root / "Data_Entry_2017.csv";
    Dataset data;
    data.records = read_data_entry(csv.string(), log);
    const std::vector<fs::path> folders = official_image_folders(root);
    attach_images(data.records, index_images(folders, log), "images/ or images_NNN/images/ of " + root.string(),
                  spec.check_png_headers, log);
    if (fs::exists(root / "BBox_List_2017.csv"))
        data.boxes = read_bbox_list((root / "BBox_List_2017.csv").string(), log);
    const auto index = index_names(data.records);
    if (spec.split == "random") {
        const auto& f = spec.random_fractions;
        AGCNN_CHECK(f[0] > 0 && f[1] >= 0 && f[2] >= 0 && std::abs(f[0] + f[1] + f[2] - 1) < 1e-6,
                    "random split fractions ", f[0], ", ", f[1], ", ", f[2],
                    ": expected train > 0, val and test >= 0, summing to 1");
        data.split = split_random(data.records, spec.seed, f[0], f[1]);
        char shares[64];
        std::snprintf(shares, sizeof shares, "%g/%g/%g", 100 * f[0], 100 * f[1], 100 * f[2]);
        data.description = std::string("random patient-wise ") + shares + " split, seed " + std::to_string(spec.seed);
        return data;
    }
    AGCNN_CHECK(spec.split == "official", "unknown split '", spec.split, "' (official or random)");
    const fs::path train_val = root / "train_val_list.txt", test = root / "test_list.txt";
    AGCNN_CHECK(fs::exists(train_val) && fs::exists(test), root.string(),
                ": the official split needs train_val_list.txt and test_list.txt (or use the random split)");
    std::vector<int> tv = lookup(read_name_list(train_val.string(), log), index, train_val.string(),
                                 csv.string(), log);
    std::vector<int> te = lookup(read_name_list(test.string(), log), index, test.string(), csv.string(), log);
    std::vector<char> listed(data.records.size(), 0);
    for (int i : tv) listed[static_cast<std::size_t>(i)] = 1;
    for (int i : te) {
        if (listed[static_cast<std::size_t>(i)])
            log.report(test.string(), data.records[static_cast<std::size_t>(i)].name,
                       "image is in both train_val_list.txt and test_list.txt");
        listed[static_cast<std::size_t>(i)] = 1;
    }
    for (std::size_t i = 0; i < listed.size(); ++i)
        if (!listed[i])
            log.report(data.records[i].origin, data.records[i].name,
                       "image is in neither train_val_list.txt nor test_list.txt");
    std::vector<int> te_only;
    std::copy_if(te.begin(), te.end(), std::back_inserter(te_only),
                 [&](int i) { return !std::binary_search(tv.begin(), tv.end(), i); });
    data.split = split_official(data.records, std::move(tv), std::move(te_only), spec.seed, spec.val_fraction);
    data.description = "official split, validation 1/" + std::to_string(std::lround(1 / std::max(spec.val_fraction, 1e-9))) +
                       " of train_val patients, seed " + std::to_string(spec.seed);
    return data;
}

inline Dataset open_lists(const DataSpec& spec, ProblemLog& log) {
    AGCNN_CHECK(fs::is_directory(spec.images_dir), spec.images_dir, ": not a folder");
    AGCNN_CHECK(!spec.train_list.empty(), "the list-file form needs at least a train list");
    Dataset data;
    std::vector<int>* parts[] = {&data.split.train, &data.split.val, &data.split.test};
    const std::string* lists[] = {&spec.train_list, &spec.val_list, &spec.test_list};
    for (int p = 0; p < 3; ++p) {
        if (lists[p]->empty()) continue;
        std::vector<ImageRecord> records = read_chexnet_list(*lists[p], log);
        for (ImageRecord& r : records) {
            parts[p]->push_back(static_cast<int>(data.records.size()));
            data.records.push_back(std::move(r));
        }
    }
    // A name listed twice across lists is a problem; the later entry goes.
    std::unordered_map<std::string, int> first;
    std::vector<char> keep(data.records.size(), 1);
    for (std::size_t i = 0; i < data.records.size(); ++i)
        if (!first.emplace(data.records[i].name, static_cast<int>(i)).second) {
            log.report(data.records[i].origin, data.records[i].name,
                       "image '" + data.records[i].name + "' is also at " +
                           data.records[static_cast<std::size_t>(first[data.records[i].name])].origin);
            keep[i] = 0;
        }
    ProblemLog strict(false);
    const auto paths = index_images({fs::path(spec.images_dir)}, strict);
    std::vector<ImageRecord> records;
    std::vector<int> old_to_new(data.records.size(), -1);
    for (std::size_t i = 0; i < data.records.size(); ++i) {
        if (!keep[i]) continue;
        std::vector<ImageRecord> one{data.records[i]};
        attach_images(one, paths, spec.images_dir, spec.check_png_headers, log);
        if (one.empty()) continue;
        old_to_new[i] = static_cast<int>(records.size());
        records.push_back(std::move(one[0]));
    }
    for (std::vector<int>* part : parts) {
        std::vector<int> mapped;
        for (int i : *part)
            if (old_to_new[static_cast<std::size_t>(i)] >= 0) mapped.push_back(old_to_new[static_cast<std::size_t>(i)]);
        *part = std::move(mapped);
    }
    data.records = std::move(records);
    check_patient_disjoint(data.records, data.split);
    data.description = "split given by the list files";
    return data;
}

}  // namespace detail

inline Dataset open_dataset(const DataSpec& spec) {
    ProblemLog log(spec.skip_bad);
    AGCNN_CHECK(spec.data_dir.empty() != spec.images_dir.empty(),
                "give either a data folder (official layout) or an images folder with list files");
    Dataset data = spec.data_dir.empty() ? detail::open_lists(spec, log) : detail::open_official(spec, log);
    data.problems = log.problems();
    return data;
}

}  // namespace agcnn::data
