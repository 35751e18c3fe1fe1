// agcnn/data/local_crop.hpp — AG-CNN's local-branch input (paper section 3.2): the attention box,
// found in network-input pixels, cropped from the SOURCE image (the highest-resolution copy at
// hand) through the geometry that made the global input, then resized and normalised.
//
// The public AG-CNN code crops the shrunken, normalised (and wrongly reshaped) tensor; here the
// box is mapped back through CropGeometry, so a 224-pixel box over a 1024 source is cut at
// 1024-pixel detail. The local input keeps the global input's orientation (a flipped global
// input gives a flipped crop), so the local branch sees what the attention map saw.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "agcnn/core/geometry.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/input_cache.hpp"
#include "agcnn/model/labels.hpp"

namespace agcnn::data {

// The geometry of the local input: `box` (network-input pixels, clamped to the input) mapped
// into the source.
inline CropGeometry map_box_to_source(const CropGeometry& g, Box box, int output_size) {
    AGCNN_CHECK(g.input_size > 0 && g.width > 0 && g.height > 0, "local crop: empty crop geometry");
    const double side = g.input_size;
    box.x0 = std::clamp(box.x0, 0.0, side);
    box.x1 = std::clamp(box.x1, 0.0, side);
    box.y0 = std::clamp(box.y0, 0.0, side);
    box.y1 = std::clamp(box.y1, 0.0, side);
    AGCNN_CHECK(box.x1 > box.x0 && box.y1 > box.y0, "local crop: the attention box is empty inside the ",
                g.input_size, "x", g.input_size, " input");
    const double sx = g.width / g.input_size, sy = g.height / g.input_size;
    CropGeometry local = g;
    local.x0 = g.x0 + (g.hflip ? g.input_size - box.x1 : box.x0) * sx;
    local.y0 = g.y0 + box.y0 * sy;
    local.width = (box.x1 - box.x0) * sx;
    local.height = (box.y1 - box.y0) * sy;
    local.input_size = output_size;
    return local;
}

// The attention box of input pixels in source-image pixels.
inline Box box_in_source(const Box& box, const CropGeometry& g) {
    const double sx = g.width / g.input_size, sy = g.height / g.input_size;
    const double u0 = g.hflip ? g.input_size - box.x1 : box.x0;
    return Box::from_xywh(g.x0 + u0 * sx, g.y0 + box.y0 * sy, box.width() * sx, box.height() * sy);
}

// The same box in the pixels of the original image (original_width x original_height) that the
// geometry's source was scaled from (to the pack side; the identity when it was not scaled).
inline Box box_in_original(const Box& box, const CropGeometry& g, int original_width, int original_height) {
    const Box seen = box_in_source(box, g);
    const double sx = double(original_width) / g.source_width, sy = double(original_height) / g.source_height;
    return {seen.x0 * sx, seen.y0 * sy, seen.x1 * sx, seen.y1 * sy};
}

// The normalised [output_size, output_size, 3] local input of one image, written to `out`.
// `t` supplies the contrast enhancement (no jitter: the crop is not augmented again). With a
// cache, the resampled crop is kept under the image's `name` (the same bits).
inline CropGeometry crop_local(const GrayImage& source, const CropGeometry& g, const Box& box,
                               int output_size, const TransformConfig& t, float* out,
                               InputCache* cache = nullptr, const std::string& name = {}) {
    AGCNN_CHECK(source.width == g.source_width && source.height == g.source_height, "local crop: source is ",
                source.width, "x", source.height, " but the geometry was made for ", g.source_width, "x",
                g.source_height);
    const CropGeometry local = map_box_to_source(g, box, output_size);
    render_input_cached(cache, name, source, local, t, nullptr, out);
    return local;
}

// An inference batch from images in memory (any sizes): each source through the evaluation
// transform `t` (which draws nothing), names as given, labels zero. The sources stay in the batch,
// so crop_local_batch can cut the attention box from them at full resolution.
inline Batch inference_batch(std::vector<std::shared_ptr<const GrayImage>> sources,
                             std::vector<std::string> names, const TransformConfig& t) {
    AGCNN_CHECK(sources.size() == names.size(), "inference batch: ", sources.size(), " images but ",
                names.size(), " names");
    AGCNN_CHECK(t.crop == CropMode::resize_center_crop && !t.hflip && t.contrast_jitter == 0,
                "inference batch: the transform must be an evaluation transform (no random crop, flip or jitter)");
    const std::int64_t n = static_cast<std::int64_t>(sources.size()), s = t.input_size;
    Batch b;
    b.images = Tensor::empty({n, s, s, 3});
    b.labels = Tensor::zeros({n, model::kLabelCount});
    Rng unused(0);
    for (std::int64_t i = 0; i < n; ++i) {
        const GrayImage& image = *sources[std::size_t(i)];
        b.geometry.push_back(sample_geometry(t, image.width, image.height, unused));
        render_input(image, b.geometry.back(), t, nullptr, b.images.data() + i * s * s * 3);
    }
    b.names = std::move(names);
    b.sources = std::move(sources);
    return b;
}

// The local inputs of a whole batch: [B, output_size, output_size, 3]. With a cache, each crop
// is kept under its image's name (batch.names).
inline Tensor crop_local_batch(const Batch& batch, const std::vector<Box>& boxes, int output_size,
                               const TransformConfig& t, InputCache* cache = nullptr) {
    const std::size_t n = batch.sources.size();
    AGCNN_CHECK(boxes.size() == n && batch.geometry.size() == n, "local crop: ", boxes.size(), " boxes for ",
                n, " images");
    AGCNN_CHECK(cache == nullptr || batch.names.size() == n, "local crop: ", batch.names.size(),
                " names for ", n, " images");
    Tensor out = Tensor::empty({static_cast<std::int64_t>(n), output_size, output_size, 3});
    const std::size_t stride = static_cast<std::size_t>(output_size) * output_size * 3;
    for (std::size_t i = 0; i < n; ++i)
        crop_local(*batch.sources[i], batch.geometry[i], boxes[i], output_size, t, out.data() + i * stride, cache,
                   cache ? batch.names[i] : std::string());
    return out;
}

}  // namespace agcnn::data
