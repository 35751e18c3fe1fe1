// agcnn/app/model_file.hpp — one self-describing model file: AG-CNN's three branches and
// everything inference needs, for `agcnn export`, `agcnn predict --model`, app/predictor.hpp and
// the C API.
//
// A safetensors file: the tensors are save_agcnn's (io/agcnn_weights.hpp: "global.*", "local.*",
// "fusion.*", PyTorch's names and layouts); the __metadata__ holds, as readable strings:
//   format            "agcnn-model"            format_version  "1"
//   labels            the 15 output names, comma-separated, in output order
//   base_width        64 = ResNet-50 (smaller: a narrow copy)
//   input_size        S, the network input (S x S)
//   resize            the shorter side before the centre S crop
//   pack_side         the longer side an image is first scaled down to (0 = kept), as `agcnn eval`
//                     sees the images of its packed cache
//   contrast          histogram-equalisation strength (0 = off)
//   normalization     "imagenet": gray copied to 3 channels, (x/255 - mean) / std with
//   mean, std         the three values of each (checked against the engine's on load)
//   tau, heatmap      the attention's threshold and channel statistic (max, l1, l2)
//   software_version, software_commit   the agcnn that exported it
//   source_weights, source_weights_sha256  the run's best weights it was made from
//   run               the run folder it was exported from; exported_utc the time
// read_model_file() checks every key it needs (an Error names the file and the key) and loads the
// weights strictly; unknown extra keys are kept and ignored.
#pragma once

#include <charconv>
#include <map>
#include <memory>
#include <string>
#include <type_traits>

#include "agcnn/data/transforms.hpp"
#include "agcnn/io/agcnn_weights.hpp"
#include "agcnn/model/attention.hpp"
#include "agcnn/model/labels.hpp"

namespace agcnn::app {

inline constexpr const char* kModelFormat = "agcnn-model";
inline constexpr const char* kModelFormatVersion = "1";

// How an image becomes the network input, and how the attention is computed.
struct InferenceSettings {
    std::int64_t base_width = 64;
    int input_size = 224;
    int resize = 256;
    int pack_side = 512;
    double contrast = 0.0;
    model::AttentionOptions attention;

    // The evaluation transform (resize, centre crop, normalise) these settings describe.
    data::TransformConfig transform() const {
        data::TransformConfig t = data::eval_transform(input_size);
        t.resize = resize;
        t.contrast = contrast;
        return t;
    }
};

// Where the exported weights came from (recorded, never read back as settings).
struct ModelProvenance {
    std::string software_version = "unknown", software_commit = "unknown";
    std::string source_weights, source_weights_sha256, run, exported_utc;
};

namespace model_file_detail {

// The shortest text that reads back as the same double (or float).
template <class Number>
std::string number_text(Number v) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, v).ptr;
    return std::string(text, end);
}

inline std::string labels_text() {
    std::string out;
    for (std::string_view name : model::kLabelNames) out.append(out.empty() ? "" : ",").append(name);
    return out;
}

inline std::string triple_text(const std::array<float, 3>& v) {
    return number_text(v[0]) + "," + number_text(v[1]) + "," + number_text(v[2]);
}

// Reads metadata keys of one file, each error naming the file and the key.
struct MetadataReader {
    const std::map<std::string, std::string>& metadata;
    const std::string& path;

    const std::string& text(const std::string& key) const {
        const auto it = metadata.find(key);
        AGCNN_CHECK(it != metadata.end(), path, ": not an agcnn model file: metadata key '", key,
                    "' is missing (agcnn export writes model files)");
        return it->second;
    }
    // A number (double) or an integer (int) written in full, within low..high.
    template <class Number>
    Number number(const std::string& key, Number low, Number high) const {
        const std::string& t = text(key);
        Number v = 0;
        const auto [end, error] = std::from_chars(t.data(), t.data() + t.size(), v);
        AGCNN_CHECK(error == std::errc() && end == t.data() + t.size() && v >= low && v <= high, path,
                    ": metadata '", key, "' is '", t, "', expected ", std::is_integral_v<Number> ? "an integer" : "a number",
                    " in ", low, "..", high);
        return v;
    }
    void expect(const std::string& key, const std::string& wanted) const {
        AGCNN_CHECK(text(key) == wanted, path, ": metadata '", key, "' is '", text(key), "' but this agcnn reads '",
                    wanted, "' only");
    }
};

}  // namespace model_file_detail

// The metadata of a model file with `settings` and `provenance` (base_width is the network's).
inline std::map<std::string, std::string> model_metadata(const InferenceSettings& settings,
                                                         const ModelProvenance& provenance) {
        return {{"format", kModelFormat},
            {"format_version", kModelFormatVersion},
            {"labels", model_file_detail::labels_text()},
            {"base_width", std::to_string(settings.base_width)},
            {"input_size", std::to_string(settings.input_size)},
            {"resize", std::to_string(settings.resize)},
            {"pack_side", std::to_string(settings.pack_side)},
            {"contrast", model_file_detail::number_text(settings.contrast)},
            {"normalization", "imagenet"},
            {"mean", model_file_detail::triple_text(data::kImageNetMean)},
            {"std", model_file_detail::triple_text(data::kImageNetStd)},
            {"tau", model_file_detail::number_text(settings.attention.tau)},
            {"heatmap", heatmap_statistic_name(settings.attention.statistic)},
            {"software_version", provenance.software_version},
            {"software_commit", provenance.software_commit},
            {"source_weights", provenance.source_weights},
            {"source_weights_sha256", provenance.source_weights_sha256},
            {"run", provenance.run},
            {"exported_utc", provenance.exported_utc}};
}

// Writes `net` and its settings to `path`, atomically.
inline void write_model_file(const std::string& path, model::AgCnn& net, const InferenceSettings& settings,
                             const ModelProvenance& provenance) {
    AGCNN_CHECK(net.config().base_width == settings.base_width, "model file: the network's base width ",
                net.config().base_width, " differs from the settings' ", settings.base_width);
    io::save_agcnn(net, path, model_metadata(settings, provenance));
}

struct LoadedModel {
    InferenceSettings settings;
    std::map<std::string, std::string> metadata;
    std::unique_ptr<model::AgCnn> net;  // on the CPU, weights loaded
};

inline InferenceSettings read_inference_settings(const std::map<std::string, std::string>& metadata,
                                                 const std::string& path) {
    const model_file_detail::MetadataReader m{metadata, path};
    m.expect("format", kModelFormat);
    m.expect("format_version", kModelFormatVersion);
    m.expect("labels", model_file_detail::labels_text());
    m.expect("normalization", "imagenet");
    m.expect("mean", model_file_detail::triple_text(data::kImageNetMean));
    m.expect("std", model_file_detail::triple_text(data::kImageNetStd));
    InferenceSettings s;
    s.base_width = m.number("base_width", 1, 1024);
    s.input_size = m.number("input_size", 8, 4096);
    s.resize = m.number("resize", s.input_size, 8192);
    s.pack_side = m.number("pack_side", 0, 16384);
    s.contrast = m.number("contrast", 0.0, 1.0);
    s.attention.tau = m.number("tau", 0.0, 1.0);
    try {
        s.attention.statistic = parse_heatmap_statistic(m.text("heatmap"));
    } catch (const Error& e) {
        throw Error(path + ": metadata 'heatmap': " + e.what());
    }
    return s;
}

// The model of an agcnn model file, ready for inference on the CPU.
inline LoadedModel read_model_file(const std::string& path) {
    const io::TensorFile file = io::read_safetensors(path);
    LoadedModel loaded;
    loaded.settings = read_inference_settings(file.metadata, path);
    loaded.metadata = file.metadata;
    loaded.net = std::make_unique<model::AgCnn>(model::AgCnnConfig{loaded.settings.base_width, 0});
    io::load_agcnn(*loaded.net, file, path);
    return loaded;
}

}  // namespace agcnn::app
