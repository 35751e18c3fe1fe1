// agcnn/app/predict.hpp — `agcnn predict`: a trained run, or a model file (`agcnn export`), on
// image files of any size. Both give the same outputs: the model file carries the run's
// inference settings (app/model_file.hpp).
//
// Each image (PNG, JPEG or DICOM files, or every such file in the folders given, sorted by name;
// data/image_file.hpp) is seen as `agcnn eval`
// sees the images of its data set: scaled to the run's pack side (config.pack_side, the longer
// side the packed cache stores, data/pack.hpp; 0 = full resolution), then the run's evaluation
// transform (resize, centre crop, normalise), the three branches and the attention, with the
// local crop cut from that same copy. So eval and predict give the same probabilities, heatmap
// and box for the same image and model. Written to OUT (atomically, each file):
//   predictions.csv   image,branch,<15 label probabilities>,box_x_mm,box_y_mm,box_width_mm,
//                     box_height_mm,pixel_spacing (the last five empty without a pixel spacing)
//   predictions.json  {image: {"global": {label: p}, "local": ..., "fusion": ...,
//                              "box": [x, y, w, h] in the image's pixels,
//                              and with a DICOM pixel spacing "box_mm": [x, y, w, h] and
//                              "pixel_spacing": {"source": "PixelSpacing" | "ImagerPixelSpacing",
//                                                "row_mm": ..., "column_mm": ...}}}
// Images are named by their paths as given; nothing from a DICOM header but its pixel spacing is
// read into an output (no patient name, ID, date or accession number).
//   <image stem>-attention.png  the input with the global heatmap and the attention box
//   findings.csv      image,<15 labels: positive | negative>, the fusion probability against the
//                     run's thresholds (RUN/thresholds.json, chosen on the validation split by
//                     `agcnn eval`), also in predictions.json as "findings"; only when the
//                     thresholds were chosen for the weights predict uses (same sha256)
// With `steps`, also each step of the attention as its own picture (docs/how-agcnn-works.md):
//   <stem>-1-input.png, -2-heatmap.png, -3-mask.png (mask at tau; the largest region in
//   orange), -4-box.png, -5-crop.png (the local branch's input), -6-local-heatmap.png.
#pragma once

#include <algorithm>
#include <array>
#include <filesystem>
#include <numeric>

#include "agcnn/data/image_file.hpp"
#include "agcnn/data/local_crop.hpp"
#include "agcnn/app/evaluate_run.hpp"
#include "agcnn/app/export_model.hpp"

namespace agcnn::app {

// Image files as a DataSource: everything is the test split, labels unknown (zero).
class ImageFilesSource final : public train::DataSource {
public:
    ImageFilesSource(std::vector<std::string> paths, const InferenceSettings& settings,
                     const data::ImageReadOptions& read_options = {})
        : paths_(std::move(paths)), pack_side_(settings.pack_side), read_options_(read_options),
          transform_(settings.transform()) {}
    std::int64_t images(Split s) const override { return s == Split::test ? std::int64_t(paths_.size()) : 0; }
    std::unique_ptr<train::BatchReader> epoch(Split s, int, int batch_size, std::int64_t skip) override {
        AGCNN_CHECK(s == Split::test, "predict: image files form the test split only");
        return std::make_unique<Reader>(this, batch_size, skip);
    }
    Tensor crop(const data::Batch& batch, const std::vector<Box>& boxes) override {
        return data::crop_local_batch(batch, boxes, transform_.input_size, transform_);
    }
    std::vector<train::AnnotatedBox> annotated_boxes() const override { return {}; }

private:
    struct Reader final : train::BatchReader {
        Reader(ImageFilesSource* s, int bs, std::int64_t skip) : source(s), batch_size(bs), next_index(skip * bs) {}
        std::optional<data::Batch> next() override {
            const auto& paths = source->paths_;
            if (next_index >= std::int64_t(paths.size())) return std::nullopt;
            const std::int64_t n = std::min<std::int64_t>(batch_size, std::int64_t(paths.size()) - next_index);
            std::vector<std::shared_ptr<const data::GrayImage>> images;
            std::vector<std::string> names;
            for (std::int64_t i = 0; i < n; ++i) {
                names.push_back(paths[std::size_t(next_index + i)]);
                data::GrayImage image = data::read_image(names.back(), source->read_options_);
                images.push_back(std::make_shared<const data::GrayImage>(
                    source->pack_side_ > 0 ? data::fit_within(image, source->pack_side_) : std::move(image)));
            }
            next_index += n;
            return data::inference_batch(std::move(images), std::move(names), source->transform_);
        }
        ImageFilesSource* source;
        int batch_size;
        std::int64_t next_index;
    };
    std::vector<std::string> paths_;
    int pack_side_;
    data::ImageReadOptions read_options_;
    data::TransformConfig transform_;
};

// Files as given; folders expanded to their image files (.png, .jpg, .jpeg, .dcm), sorted.
inline std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
    std::vector<std::string> out;
    for (const std::string& input : inputs) {
        AGCNN_CHECK(std::filesystem::exists(input), input, ": no such file or folder");
        if (!std::filesystem::is_directory(input)) {
            out.push_back(input);
            continue;
        }
        std::vector<std::string> found;
        for (const auto& e : std::filesystem::directory_iterator(input))
            if (e.is_regular_file() && data::is_image_name(e.path().filename().string())) found.push_back(e.path().string());
        AGCNN_CHECK(!found.empty(), input, ": no image files (.png, .jpg, .jpeg, .dcm) in this folder");
        std::sort(found.begin(), found.end());
        out.insert(out.end(), found.begin(), found.end());
    }
    return out;
}

struct PredictOptions {
    std::string run_dir, model_file, out_dir, weights, device;  // run_dir or model_file
    std::vector<std::string> inputs;
    int batch_size = 16;
    bool steps = false;
    data::ImageReadOptions read_options;  // DICOM VOI mode and frame
};

inline void write_steps(const std::string& prefix, const data::Batch& batch, const model::AgCnnOutputs& out,
                        std::size_t i) {
    const model::Attention& a = out.attention[i];
    const int f = legible_factor(a.size);
    auto save = [&](const std::string& name, const RgbImage& image) {
        io::write_file_atomic(prefix + name, png_bytes(enlarge(image, f)));
    };
    save("-1-input.png", input_picture(batch.images, std::int64_t(i)));
    save("-2-heatmap.png", overlay_heatmap(input_picture(batch.images, std::int64_t(i)), a.heatmap, 0.6f));
    save("-3-mask.png", mask_picture(a.mask, a.region, a.size));
    RgbImage boxed = input_picture(batch.images, std::int64_t(i));
    draw_box(boxed, a.box);
    save("-4-box.png", boxed);
    save("-5-crop.png", input_picture(out.local_input, std::int64_t(i)));
    save("-6-local-heatmap.png",
         overlay_heatmap(input_picture(out.local_input, std::int64_t(i)), out.local_attention[i].heatmap, 0.6f));
}

// The run's thresholds per label (NaN where none was chosen), when RUN/thresholds.json exists and
// was written for `weights`; else none, and `note` says why.
inline std::optional<std::array<double, model::kLabelCount>> load_thresholds(const std::string& run_dir,
                                                                            const std::string& weights,
                                                                            std::string& note) {
    const std::string path = run_dir + "/thresholds.json";
    if (!std::filesystem::exists(path)) {
        note = "no " + path + " (run agcnn eval first): probabilities only, no positive/negative calls";
        return std::nullopt;
    }
    const auto j = nlohmann::json::parse(io::read_file(path), nullptr, false);
    AGCNN_CHECK(!j.is_discarded() && j.is_object() && j.contains("thresholds") && j["thresholds"].is_object() &&
                    j.contains("weights_sha256") && j["weights_sha256"].is_string(),
                path, ": not a thresholds file (weights_sha256 and thresholds)");
    if (j["weights_sha256"].get<std::string>() != sha256_file(weights)) {
        note = path + " was chosen for other weights than " + weights + ": probabilities only, no calls";
        return std::nullopt;
    }
    std::array<double, model::kLabelCount> t{};
    for (int k = 0; k < model::kLabelCount; ++k) {
        const auto& v = j["thresholds"].value(std::string(model::kLabelNames[std::size_t(k)]), nlohmann::json());
        AGCNN_CHECK(v.is_null() || v.is_number(), path, ": threshold of ", model::kLabelNames[std::size_t(k)],
                    " is not a number or null");
        t[std::size_t(k)] = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
    }
    note = "findings called positive/negative with " + path + " (" + j.value("rule", "?") + " on val)";
    return t;
}

struct PredictSummary {
    std::size_t images = 0;
    bool calls = false;      // findings.csv written
    std::string thresholds;  // whether positive/negative calls were made, and with what
};

inline PredictSummary predict(const PredictOptions& options) {
    AGCNN_CHECK(options.run_dir.empty() != options.model_file.empty(), "predict: give --run or --model (one of them)");
    AGCNN_CHECK(options.model_file.empty() || options.weights.empty(), "predict: --weights goes with --run only");
    std::vector<std::string> paths = expand_inputs(options.inputs);  // bad inputs fail before loading
    InferenceSettings settings;
    std::unique_ptr<model::AgCnn> net;
    std::string device_name = options.device.empty() ? "cpu" : options.device;
    if (options.model_file.empty()) {
        train::TrainConfig config;
        train::read_run_config(options.run_dir, config);
        settings = inference_settings(config);
        if (options.device.empty()) device_name = config.device;
        net = load_run_model(config, options.run_dir, options.weights, Device::cpu());
    } else {
        LoadedModel loaded = read_model_file(options.model_file);
        settings = loaded.settings;
        net = std::move(loaded.net);
    }
    const Device device = parse_device(device_name);
    net->to(device);
    ImageFilesSource files(std::move(paths), settings, options.read_options);
    PredictSummary summary;
    std::optional<std::array<double, model::kLabelCount>> thresholds;
    if (options.model_file.empty())
        thresholds = load_thresholds(options.run_dir,
                                     options.weights.empty() ? options.run_dir + "/fusion-best.safetensors" : options.weights,
                                     summary.thresholds);
    else
        summary.thresholds = "a model file carries no thresholds: probabilities only, no positive/negative calls";
    summary.calls = thresholds.has_value();
    std::filesystem::create_directories(options.out_dir);
    std::string findings_csv = "image";
    for (auto name : model::kLabelNames) findings_csv.append(",").append(name);
    findings_csv += "\n";
    std::string csv = "image,branch";
    for (auto name : model::kLabelNames) csv.append(",").append(name);
    csv += ",box_x_mm,box_y_mm,box_width_mm,box_height_mm,pixel_spacing\n";
    nlohmann::json json = nlohmann::json::object();
    evaluate_split(*net, files, Split::test, options.batch_size, settings.attention, device,
             [&](const data::Batch& batch, const model::AgCnnOutputs& out) {
                 for (std::size_t i = 0; i < batch.names.size(); ++i, ++summary.images) {
                     const std::string& path = batch.names[i];
                     nlohmann::json entry;
                     // The box in the file's own pixels (the copy seen may be smaller), and in
                     // millimetres when the file gives a pixel spacing.
                     const data::ImageInfo info = data::read_image_info(path);
                     const Box box = data::box_in_original(out.attention[i].box, batch.geometry[i], info.width,
                                                           info.height);
                     entry["box"] = {box.x0, box.y0, box.width(), box.height()};
                     std::string mm_columns = ",,,,";
                     if (info.spacing) {
                         const data::PixelSpacing& s = *info.spacing;
                         const std::array<double, 4> mm{box.x0 * s.column_mm, box.y0 * s.row_mm,
                                                        box.width() * s.column_mm, box.height() * s.row_mm};
                         entry["box_mm"] = mm;
                         entry["pixel_spacing"] = {{"source", s.source}, {"row_mm", s.row_mm}, {"column_mm", s.column_mm}};
                         mm_columns.clear();
                         for (double v : mm) {
                             char text[32];
                             std::snprintf(text, sizeof text, ",%.3f", v);
                             mm_columns += text;
                         }
                         mm_columns.append(",").append(s.source);
                     }
                     for (Branch b : model::kBranches) {
                         const char* branch = model::branch_name(b);
                         const std::vector<float> l = out.logits(b).to_vector();
                         csv += path + "," + branch;
                         for (int k = 0; k < model::kLabelCount; ++k) {
                             const double p = model::probability(l[i * model::kLabelCount + k]);
                             char text[24];
                             std::snprintf(text, sizeof text, ",%.6f", p);
                             csv += text;
                             entry[branch][std::string(model::kLabelNames[k])] = p;
                         }
                         csv += mm_columns + "\n";
                     }
                     if (thresholds) {
                         const std::vector<float> l = out.fusion_logits.to_vector();
                         findings_csv += path;
                         for (int k = 0; k < model::kLabelCount; ++k) {
                             const double t = (*thresholds)[std::size_t(k)],
                                          p = 1.0 / (1.0 + std::exp(-double(l[i * model::kLabelCount + k])));
                             const char* call = std::isnan(t) ? "none" : p >= t ? "positive" : "negative";
                             findings_csv.append(",").append(call);
                             entry["findings"][std::string(model::kLabelNames[k])] = call;
                         }
                         findings_csv += "\n";
                     }
                     json[path] = entry;
                     const std::string stem = std::filesystem::path(path).stem().string();
                     io::write_file_atomic(options.out_dir + "/" + stem + "-attention.png",
                                           png_bytes(attention_picture(batch.images, i, out.attention[i])));
                     if (options.steps) write_steps(options.out_dir + "/" + stem, batch, out, i);
                 }
             },
             options.steps);
    io::write_file_atomic(options.out_dir + "/predictions.csv", csv);
    io::write_file_atomic(options.out_dir + "/predictions.json", json.dump(2) + "\n");
    if (thresholds) io::write_file_atomic(options.out_dir + "/findings.csv", findings_csv);
    return summary;
}

}  // namespace agcnn::app
