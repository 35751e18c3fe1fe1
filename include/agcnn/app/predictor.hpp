// agcnn/app/predictor.hpp — the C++ inference API: load a model file once, then predict on
// gray images of any size. The C API (include/agcnn/c/agcnn_c.h) wraps this class.
//
//   agcnn::app::Predictor predictor("model.safetensors");     // agcnn export writes it
//   agcnn::app::Prediction p = predictor.predict_file("xray.png");
//   p.probabilities(agcnn::model::Branch::fusion)[1];          // Cardiomegaly
//   p.box_source;                                              // attention box, image pixels
//
// Each image is seen exactly as `agcnn predict` sees a file (app/predict.hpp): scaled down to
// the model's pack side, the evaluation transform, the global branch, the attention box, the
// local crop cut from that same copy, the local and fusion branches. So a Prediction's numbers
// equal the CLI's for the same model and image.
//
// Input: an 8-bit buffer, a 16-bit buffer with its stored bits (data/gray_buffer.hpp says how
// it becomes the engine's gray image), a GrayImage, or a PNG file. Output (Prediction):
//   global, local, fusion   the 15 label probabilities of each branch (model::kLabelNames order)
//   box_input               the attention box in network-input pixels (input_size x input_size)
//   box_source              the same box in the pixels of the image given
//   heatmap                 input_size x input_size values in [0, 1], row-major, the global
//                           branch's attention (only when asked: it is 200 KB at 224)
// Errors (a bad file, a bad buffer, a model file that is not one) are agcnn::Error exceptions
// with a message naming the file or argument.
//
// Memory: the first call packs every convolution's filters for the CPU's GEMM kernels and keeps
// them (ops/cpu/packed_filters.hpp), so later calls skip that work: about as much again as the
// weights (91 MB a full-width branch). The Predictor never changes its weights. Constructed
// with pack_filters = false it packs on every call instead (docs/embedding.md, Memory).
// Threads: a Predictor may be called from several threads at once; calls are serialised by a
// mutex inside (the network's modules hold per-call state). Each call uses the engine's CPU
// threads (agcnn::set_num_threads; OpenMP builds only). For throughput on many cores, give each
// thread its own Predictor (the weights are then held once per Predictor).
// The Predictor does not change the calling thread's floating-point mode; the CLI flushes
// denormal numbers to zero (core/threads.hpp), which changes no printed digit of a trained model.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agcnn/app/model_file.hpp"
#include "agcnn/data/gray_buffer.hpp"
#include "agcnn/data/local_crop.hpp"
#include "agcnn/data/image_file.hpp"
#include "agcnn/data/resample.hpp"
#include "agcnn/model/forward.hpp"
#include "agcnn/ops/cpu/packed_filters.hpp"

namespace agcnn::app {

struct Prediction {
    using Probabilities = std::array<double, model::kLabelCount>;
    Probabilities global{}, local{}, fusion{};
    Box box_input, box_source;
    int input_size = 0;
    std::vector<float> heatmap;  // input_size^2 values when asked, else empty

    const Probabilities& probabilities(model::Branch b) const {
        return b == model::Branch::global ? global : b == model::Branch::local ? local : fusion;
    }
    Probabilities& probabilities(model::Branch b) {
        return b == model::Branch::global ? global : b == model::Branch::local ? local : fusion;
    }
};

class Predictor {
public:
    // pack_filters false: no packed copy of the filters (less memory, slower calls; see above).
    explicit Predictor(const std::string& model_file, bool pack_filters = true)
        : model_(read_model_file(model_file)), pack_filters_(pack_filters) {}

    const InferenceSettings& settings() const { return model_.settings; }
    const std::map<std::string, std::string>& metadata() const { return model_.metadata; }

    Prediction predict(const data::GrayImage& image, bool want_heatmap = false) const {
        const data::TransformConfig transform = model_.settings.transform();
        const int pack_side = model_.settings.pack_side;
        auto seen = std::make_shared<const data::GrayImage>(
            pack_side > 0 ? data::fit_within(image, pack_side) : image);
        const data::Batch batch = data::inference_batch({seen}, {"image"}, transform);
        const model::ForwardOptions inference{model_.settings.attention, Device::cpu(), std::nullopt,
                                              model::Branch::fusion, false};
        model::AgCnnOutputs out;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            std::optional<cpu::PackedFiltersScope> packed_scope;
            if (pack_filters_) packed_scope.emplace(packed_filters_);
            out = model::forward(
                *model_.net, batch.images,
                [&](const std::vector<Box>& boxes) {
                    return data::crop_local_batch(batch, boxes, transform.input_size, transform);
                },
                inference);
        }
        Prediction p;
        for (model::Branch b : model::kBranches) {
            const std::vector<float> logits = out.logits(b).to_vector();
            Prediction::Probabilities& probabilities = p.probabilities(b);
            for (int k = 0; k < model::kLabelCount; ++k)
                probabilities[std::size_t(k)] = model::probability(logits[std::size_t(k)]);
        }
        const model::Attention& attention = out.attention.front();
        p.input_size = attention.size;
        p.box_input = attention.box;
        p.box_source = data::box_in_original(attention.box, batch.geometry.front(), image.width, image.height);
        if (want_heatmap) p.heatmap = attention.heatmap;
        return p;
    }

    Prediction predict_u8(const std::uint8_t* pixels, int width, int height, bool want_heatmap = false) const {
        return predict(data::gray_image_from_u8(pixels, width, height), want_heatmap);
    }
    Prediction predict_u16(const std::uint16_t* pixels, int width, int height, int bits_stored,
                           bool want_heatmap = false) const {
        return predict(data::gray_image_from_u16(pixels, width, height, bits_stored), want_heatmap);
    }
    // Any image file agcnn reads (PNG, JPEG, DICOM with the file's own window: data/image_file.hpp).
    Prediction predict_file(const std::string& path, bool want_heatmap = false) const {
        return predict(data::read_image(path), want_heatmap);
    }

private:
    LoadedModel model_;
    mutable std::mutex mutex_;
    bool pack_filters_;
    mutable cpu::PackedFilters packed_filters_;  // the model's filters, packed on the first call
};

}  // namespace agcnn::app
