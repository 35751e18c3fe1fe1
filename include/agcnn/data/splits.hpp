// agcnn/data/splits.hpp — patient-wise train/validation/test splits of a list of records.
//
// No patient is ever in two splits (follow-up images of one patient look alike, so a split by
// image would leak). Three ways:
//   official: NIH's train_val_list / test_list; validation is carved out of train_val by
//             patient, a seeded shuffle of the patients taking `val_fraction` (1/8 by default);
//   random:   the paper's random patient-wise 70/10/20 (fractions configurable), seeded;
//   explicit: given lists (see dataset.hpp), checked for patient overlap.
// The shuffles use agcnn::Rng, so a seed gives the same split on every machine.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/core/rng.hpp"
#include "agcnn/data/records.hpp"

namespace agcnn::data {

// Indices into the record list, each in file order.
struct Split {
    std::vector<int> train, val, test;
};

namespace detail {

// The patients of `indices`, in order of first appearance, shuffled by `seed`.
inline std::vector<std::string> shuffled_patients(const std::vector<ImageRecord>& records,
                                                  const std::vector<int>& indices,
                                                  std::uint64_t seed) {
    std::vector<std::string> patients;
    std::unordered_map<std::string, bool> seen;
    for (int i : indices)
        if (seen.emplace(records[static_cast<std::size_t>(i)].patient, true).second)
            patients.push_back(records[static_cast<std::size_t>(i)].patient);
    Rng rng(seed);
    for (std::size_t i = patients.size(); i > 1; --i)
        std::swap(patients[i - 1], patients[rng.below(i)]);
    return patients;
}

// Moves the images of the first `count` patients of `order` from `from` into `to`.
inline void move_patients(const std::vector<ImageRecord>& records,
                          const std::vector<std::string>& order, std::size_t count,
                          std::vector<int>& from, std::vector<int>& to) {
    std::unordered_map<std::string, bool> chosen;
    for (std::size_t i = 0; i < count && i < order.size(); ++i) chosen[order[i]] = true;
    std::vector<int> kept;
    for (int i : from)
        (chosen.count(records[static_cast<std::size_t>(i)].patient) ? to : kept).push_back(i);
    from = std::move(kept);
}

inline std::vector<int> all_indices(std::size_t n) {
    std::vector<int> indices(n);
    for (std::size_t i = 0; i < n; ++i) indices[i] = static_cast<int>(i);
    return indices;
}

}  // namespace detail

// Throws naming the first patient found in two splits.
inline void check_patient_disjoint(const std::vector<ImageRecord>& records, const Split& split) {
    std::unordered_map<std::string, std::pair<const char*, const std::string*>> owner;
    const std::pair<const char*, const std::vector<int>*> parts[] = {
        {"train", &split.train}, {"val", &split.val}, {"test", &split.test}};
    for (const auto& [part, indices] : parts)
        for (int i : *indices) {
            const ImageRecord& r = records[static_cast<std::size_t>(i)];
            const auto [it, inserted] = owner.emplace(r.patient, std::make_pair(part, &r.name));
            AGCNN_CHECK(inserted || it->second.first == part, "patient ", r.patient, " is in ",
                        it->second.first, " (", *it->second.second, ") and in ", part, " (",
                        r.name, "); splits must be patient-wise");
        }
}

// Official split: `train_val` and `test` are the record indices named by the two lists.
inline Split split_official(const std::vector<ImageRecord>& records, std::vector<int> train_val,
                            std::vector<int> test, std::uint64_t seed, double val_fraction = 1.0 / 8) {
    AGCNN_CHECK(val_fraction >= 0 && val_fraction < 1, "validation fraction ", val_fraction,
                " outside [0, 1)");
    Split split;
    split.train = std::move(train_val);
    split.test = std::move(test);
    const std::vector<std::string> patients = detail::shuffled_patients(records, split.train, seed);
    const auto count = static_cast<std::size_t>(std::llround(val_fraction * patients.size()));
    detail::move_patients(records, patients, count, split.train, split.val);
    check_patient_disjoint(records, split);
    return split;
}

// Random patient-wise split of all records (the paper's 70/10/20).
inline Split split_random(const std::vector<ImageRecord>& records, std::uint64_t seed,
                          double train_fraction = 0.7, double val_fraction = 0.1) {
    AGCNN_CHECK(train_fraction > 0 && val_fraction >= 0 && train_fraction + val_fraction <= 1,
                "split fractions train ", train_fraction, " val ", val_fraction, " are not valid");
    Split split;
    split.train = detail::all_indices(records.size());
    const std::vector<std::string> patients = detail::shuffled_patients(records, split.train, seed);
    const auto n = static_cast<double>(patients.size());
    const auto test_count = static_cast<std::size_t>(std::llround((1 - train_fraction - val_fraction) * n));
    const auto val_count = static_cast<std::size_t>(std::llround(val_fraction * n));
    detail::move_patients(records, patients, test_count, split.train, split.test);
    const std::vector<std::string> rest(patients.begin() + static_cast<std::ptrdiff_t>(std::min(test_count, patients.size())),
                                       patients.end());
    detail::move_patients(records, rest, val_count, split.train, split.val);
    return split;
}

}  // namespace agcnn::data
