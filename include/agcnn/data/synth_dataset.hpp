// agcnn/data/synth_dataset.hpp — `agcnn synth`: a synthetic ChestX-ray14 in the official layout.
//
//   DIR/images/<patient>_<follow-up>.png   8-bit gray, size x size (format "png"), or
//   DIR/images/<patient>_<follow-up>.dcm   DICOM in 20 variants of photometric interpretation,
//                                          bits and transfer syntax (format "dicom"; synth_dicom.hpp)
//   DIR/Data_Entry_2017.csv                 the release's columns; pipe-separated labels
//   DIR/train_val_list.txt, test_list.txt   patient-wise (test_fraction of the patients)
//   DIR/BBox_List_2017.csv                  one box per finding, in pixels of the image
//
// Patients get 1-4 images (follow-ups: same anatomy, slightly moved), a sex, an age (5-84 at the
// first visit) and a view position per image (AP about 40%, else PA), for subgroup figures; the
// pictures do not depend on them. About a quarter of images show no
// finding; the rest 1-3 findings, and a patient's chronic finding (cardiomegaly, emphysema,
// fibrosis, pleural thickening, hernia, nodule, mass) tends to persist across follow-ups.
// Everything is drawn from Rngs seeded by (seed, patient, follow-up), so a seed gives the same
// files whatever the thread count.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "agcnn/data/png.hpp"
#include "agcnn/data/records.hpp"
#include "agcnn/data/synth_dicom.hpp"
#include "agcnn/data/synth_findings.hpp"
#include "agcnn/io/atomic_file.hpp"

namespace agcnn::data::synth {

// The most images one data set may have: about twice ChestX-ray14's 112,120. The plan of every
// image and the CSV rows are held in memory until the end (about 1 KiB an image), so the count
// is bounded before anything is allocated.
constexpr int kMaxSynthImages = 250000;

struct SynthConfig {
    int images = 200;
    int size = 512;
    std::uint64_t seed = 0;
    double test_fraction = 0.2;
    std::string format = "png";  // png | dicom
};

struct SynthFinding {
    int label = 0;
    RelBox box;
};

struct SynthPlan {
    std::string name;
    int patient = 0, follow_up = 0, age = 0;
    char sex = 'F';
    std::string view = "PA";  // "AP" for about 40% of images, as in ChestX-ray14
    bool test = false;
    Anatomy anatomy;
    std::vector<int> labels;  // diseases, ascending
    std::uint64_t seed = 0;   // of the image's own Rng
};

namespace detail {

inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
    return seed ^ (0x9E3779B97F4A7C15ull * (a + 1)) ^ (0xC2B2AE3D27D4EB4Full * (b + 1));
}

inline bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace detail

// The share of images that get 1-3 findings on top of a patient's chronic one: high enough that
// each disease has about 80-190 positive images among the demo's 1,680-odd training images.
inline constexpr double kFindingShare = 0.7;

// Who is imaged when, with which findings.
inline std::vector<SynthPlan> plan_dataset(const SynthConfig& config) {
    static const char* chronic[] = {"Cardiomegaly", "Emphysema", "Fibrosis", "Pleural_Thickening",
                                    "Hernia", "Nodule", "Mass"};
    std::vector<SynthPlan> plans;
    for (int patient = 1; static_cast<int>(plans.size()) < config.images; ++patient) {
        Rng rng(detail::mix_seed(config.seed, static_cast<std::uint64_t>(patient), 0xFFFF));
        const Anatomy anatomy = Anatomy::random(rng);
        const int visits = 1 + static_cast<int>(rng.below(4));
        const int age = 5 + static_cast<int>(rng.below(80));  // 5..84 at the first visit
        const char sex = rng.below(2) ? 'M' : 'F';
        const bool test = rng.uniform() < config.test_fraction;
        const int chronic_label = rng.uniform() < 0.3 ? model::label_index(chronic[rng.below(7)]) : -1;
        for (int visit = 0; visit < visits && static_cast<int>(plans.size()) < config.images; ++visit) {
            SynthPlan p;
            char name[32];
            std::snprintf(name, sizeof name, "%08d_%03d.%s", patient, visit, config.format == "dicom" ? "dcm" : "png");
            p.name = name;
            p.patient = patient;
            p.follow_up = visit;
            p.test = test;
            p.age = age + visit;
            p.sex = sex;
            p.seed = detail::mix_seed(config.seed, static_cast<std::uint64_t>(patient), static_cast<std::uint64_t>(visit));
            Rng view_rng(p.seed ^ 0xA9A9);  // its own stream: the images do not depend on it
            p.view = view_rng.uniform() < 0.4 ? "AP" : "PA";
            Rng visit_rng(p.seed ^ 0x5555);
            p.anatomy = anatomy.jitter(visit_rng);
            if (chronic_label >= 0 && visit_rng.uniform() < 0.8) p.labels.push_back(chronic_label);
            if (visit_rng.uniform() < kFindingShare) {
                const double u = visit_rng.uniform();
                const int count = 1 + (u < 0.35) + (u < 0.1);
                while (static_cast<int>(p.labels.size()) < count) {
                    const int label = static_cast<int>(visit_rng.below(model::kDiseaseCount));
                    if (!detail::contains(p.labels, label)) p.labels.push_back(label);
                }
            }
            std::sort(p.labels.begin(), p.labels.end());
            plans.push_back(std::move(p));
        }
    }
    return plans;
}

// The image of one plan, and its findings' boxes (relative coordinates).
inline GrayImage render(const SynthPlan& plan, int size, std::vector<SynthFinding>& findings) {
    Rng rng(plan.seed);
    Anatomy anatomy = plan.anatomy;
    for (int label : plan.labels) apply_to_anatomy(label, anatomy, rng);
    Canvas canvas(size);
    paint_normal_chest(canvas, anatomy, rng);
    findings.clear();
    for (int label : plan.labels) findings.push_back({label, paint_finding(label, canvas, anatomy, rng)});
    return canvas.finish(anatomy.exposure, rng);
}

inline std::string finding_labels_text(const std::vector<int>& labels) {
    if (labels.empty()) return std::string(model::kLabelNames[model::kNoFindingIndex]);
    std::string text;
    for (int label : labels) {
        if (!text.empty()) text += '|';
        text += model::kLabelNames[static_cast<std::size_t>(label)];
    }
    return text;
}

// Writes the data set; `progress(done, total)` after each block of images.
inline void write_dataset(const std::string& out_dir, const SynthConfig& config,
                          const std::function<void(int, int)>& progress = {}) {
    AGCNN_CHECK(config.images > 0 && config.images <= kMaxSynthImages && config.size >= 64 && config.size <= 4096,
                "synth: need 1..", kMaxSynthImages, " images and a size in 64..4096, got ", config.images,
                " images of ", config.size);
    AGCNN_CHECK(config.test_fraction >= 0 && config.test_fraction < 1, "synth: test fraction ", config.test_fraction,
                " outside [0, 1)");
    AGCNN_CHECK(config.format == "png" || config.format == "dicom", "synth: format '", config.format,
                "' is not png or dicom");
    AGCNN_CHECK(config.format == "png" || kDicomBuilt, "synth --format dicom: this build of agcnn has no DICOM "
                "support (install libgdcm-dev and rebuild)");
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(fs::path(out_dir) / "images", ec);
    AGCNN_CHECK(!ec, out_dir, ": cannot create the images folder: ", ec.message());
    const std::vector<SynthPlan> plans = plan_dataset(config);
    std::vector<std::vector<SynthFinding>> findings(plans.size());
    std::vector<std::string> errors(plans.size());
    constexpr int kBlock = 32;
    for (int begin = 0; begin < static_cast<int>(plans.size()); begin += kBlock) {
        const int end = std::min(static_cast<int>(plans.size()), begin + kBlock);
#pragma omp parallel for schedule(dynamic)
        for (int i = begin; i < end; ++i) {
            try {
                const GrayImage image = render(plans[i], config.size, findings[i]);
                const std::string path = (fs::path(out_dir) / "images" / plans[i].name).string();
                if (config.format == "dicom")
                    io::write_file_atomic(path, synth_dicom(image, synth_dicom_variant(std::size_t(i)), plans[i].seed));
                else
                    write_png(path, image, PngDeflate::stored);
            } catch (const Error& e) {
                errors[i] = e.what();
            }
        }
        for (int i = begin; i < end; ++i) AGCNN_CHECK(errors[i].empty(), errors[i]);
        if (progress) progress(end, static_cast<int>(plans.size()));
    }
    std::string entries = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n";
    std::string train_val, test;
    std::string boxes = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n";
    const double side = config.size;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        const SynthPlan& p = plans[i];
        entries += p.name + "," + finding_labels_text(p.labels) + "," + std::to_string(p.follow_up) + "," +
                   std::to_string(p.patient) + "," + std::to_string(p.age) + "," + p.sex + "," + p.view + "," + std::to_string(config.size) + "," +
                   std::to_string(config.size) + ",0.143,0.143\n";
        (p.test ? test : train_val) += p.name + "\n";
        for (const SynthFinding& f : findings[i]) {
            const double x0 = std::clamp(f.box.x0, 0.0, 1.0) * side, y0 = std::clamp(f.box.y0, 0.0, 1.0) * side;
            const double x1 = std::clamp(f.box.x1, 0.0, 1.0) * side, y1 = std::clamp(f.box.y1, 0.0, 1.0) * side;
            char row[160];
            std::snprintf(row, sizeof row, "%s,%s,%.1f,%.1f,%.1f,%.1f\n", p.name.c_str(),
                          std::string(model::kLabelNames[static_cast<std::size_t>(f.label)]).c_str(), x0, y0, x1 - x0, y1 - y0);
            boxes += row;
        }
    }
    io::write_file_atomic((fs::path(out_dir) / "Data_Entry_2017.csv").string(), entries);
    io::write_file_atomic((fs::path(out_dir) / "train_val_list.txt").string(), train_val);
    io::write_file_atomic((fs::path(out_dir) / "test_list.txt").string(), test);
    io::write_file_atomic((fs::path(out_dir) / "BBox_List_2017.csv").string(), boxes);
}

}  // namespace agcnn::data::synth
