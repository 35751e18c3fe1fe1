// agcnn/data/transforms.hpp — from a gray source image to one normalised network input.
//
// Paper recipe (section 4.1): training = resize 256, random crop 224, horizontal flip; test =
// resize 256, centre crop 224; ImageNet mean/std. torchvision's RandomResizedCrop is offered
// too. The resize and the crop are done as ONE resampling step straight from the source (see
// resample.hpp), and the region taken is returned as a CropGeometry, so AG-CNN's attention crop
// can go back to the source pixels.
//
// Contrast enhancement (the reference description's "contrast enhancement of the grayscale
// images"): histogram equalisation of the resampled image, blended with the original at
// `contrast` (0 = off, 1 = full equalisation; 0.5 by default). Augmentation may add a random
// contrast factor in [1 - j, 1 + j] about mid-grey and a brightness shift of up to j * 64 grey
// levels (j = contrast_jitter). Then x / 255, ImageNet mean/std per channel, gray -> 3 channels.
// All three steps are one 256-entry table per channel, so a pixel costs three loads. Deep (16-bit)
// images take the same steps on 65536 levels (the jitter's shift scaled to that range).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/core/rng.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/resample.hpp"

namespace agcnn::data {

constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

enum class CropMode { resize_random_crop, random_resized_crop, resize_center_crop };

struct TransformConfig {
    int input_size = 224;
    int resize = 256;  // the resize before a random or centre crop
    CropMode crop = CropMode::resize_center_crop;
    bool hflip = false;                          // random horizontal flip, p = 0.5
    double min_area = 0.08, max_area = 1.0;      // random_resized_crop: share of the image
    double min_ratio = 3.0 / 4, max_ratio = 4.0 / 3;
    double contrast = 0.5;                       // histogram equalisation strength, 0 = off
    double contrast_jitter = 0.0;                // random contrast/brightness, 0 = off

    void validate() const {
        AGCNN_CHECK(input_size >= 8 && resize >= input_size, "transform: input size ", input_size,
                    " must be >= 8 and <= the resize ", resize);
        AGCNN_CHECK(contrast >= 0 && contrast <= 1, "transform: contrast strength ", contrast, " outside [0, 1]");
        AGCNN_CHECK(contrast_jitter >= 0 && contrast_jitter < 1, "transform: contrast jitter ",
                    contrast_jitter, " outside [0, 1)");
        AGCNN_CHECK(min_area > 0 && min_area <= max_area && max_area <= 1 && min_ratio > 0 &&
                        min_ratio <= max_ratio,
                    "transform: bad random-resized-crop ranges");
    }
};

// The paper's training and test transforms.
inline TransformConfig train_transform(int input_size = 224) {
    TransformConfig t;
    t.input_size = input_size;
    t.resize = input_size * 256 / 224;
    t.crop = CropMode::resize_random_crop;
    t.hflip = true;
    t.contrast_jitter = 0.1;
    return t;
}
inline TransformConfig eval_transform(int input_size = 224) {
    TransformConfig t;
    t.input_size = input_size;
    t.resize = input_size * 256 / 224;
    return t;
}

// The size of a width x height image after the resize step, as torchvision's Resize(resize)
// with an int size: the shorter side becomes `resize`, the longer one keeps the aspect ratio
// (rounded down). A square image becomes resize x resize.
inline std::pair<int, int> resized_size(int width, int height, int resize) {
    if (width <= height) return {resize, static_cast<int>(std::int64_t(resize) * height / width)};
    return {static_cast<int>(std::int64_t(resize) * width / height), resize};
}

// The region of a source_width x source_height image that becomes the input (draws from `rng`
// only for the random modes). Resize-then-crop modes keep the aspect ratio: the shorter side is
// resized to t.resize and the input_size square is cut from that (its centre, or a random place),
// as torchvision's Resize(int) + CenterCrop / RandomCrop do; nothing is squashed.
inline CropGeometry sample_geometry(const TransformConfig& t, int source_width, int source_height, Rng& rng) {
    CropGeometry g;
    g.input_size = t.input_size;
    g.source_width = source_width;
    g.source_height = source_height;
    const auto [resized_width, resized_height] = resized_size(source_width, source_height, t.resize);
    const double sx = double(source_width) / resized_width, sy = double(source_height) / resized_height;
    if (t.crop == CropMode::random_resized_crop) {
        // torchvision RandomResizedCrop: 10 tries, then the centre crop of the clamped ratio.
        const double area = double(source_width) * source_height;
        bool found = false;
        for (int attempt = 0; attempt < 10 && !found; ++attempt) {
            const double target = area * rng.uniform(t.min_area, t.max_area);
            const double ratio = std::exp(rng.uniform(std::log(t.min_ratio), std::log(t.max_ratio)));
            const double w = std::round(std::sqrt(target * ratio)), h = std::round(std::sqrt(target / ratio));
            if (w > 0 && h > 0 && w <= source_width && h <= source_height) {
                g.x0 = double(rng.below(static_cast<std::uint64_t>(source_width - w) + 1));
                g.y0 = double(rng.below(static_cast<std::uint64_t>(source_height - h) + 1));
                g.width = w;
                g.height = h;
                found = true;
            }
        }
        if (!found) {
            const double ratio = std::clamp(double(source_width) / source_height, t.min_ratio, t.max_ratio);
            g.width = std::min<double>(source_width, std::round(source_height * ratio));
            g.height = std::min<double>(source_height, std::round(g.width / ratio));
            g.x0 = (source_width - g.width) / 2;
            g.y0 = (source_height - g.height) / 2;
        }
    } else {
        const bool random = t.crop == CropMode::resize_random_crop;
        const int margin_x = resized_width - t.input_size, margin_y = resized_height - t.input_size;
        const int ox = random ? static_cast<int>(rng.below(margin_x + 1)) : margin_x / 2;
        const int oy = random ? static_cast<int>(rng.below(margin_y + 1)) : margin_y / 2;
        g.x0 = ox * sx;
        g.y0 = oy * sy;
        g.width = t.input_size * sx;
        g.height = t.input_size * sy;
    }
    g.hflip = t.hflip && rng.uniform() < 0.5;
    return g;
}

// The grey level (on 0..levels-1) each resampled grey value v in 0..levels-1 becomes after the
// contrast enhancement and the jitter, unclamped. `levels` is 256 for 8-bit images and 65536 for
// deep ones; the 8-bit arithmetic is the deep one at top = 255 (the jitter's 64 grey levels and
// mid-grey scale with the top). `rng` draws the contrast jitter (nullptr = none).
inline std::vector<double> intensity_levels(const std::uint16_t* gray16, const std::uint8_t* gray8,
                                            std::size_t count, std::size_t levels, const TransformConfig& t,
                                            Rng* rng) {
    const double top = double(levels - 1);
    std::vector<double> level(levels);
    for (std::size_t v = 0; v < levels; ++v) level[v] = double(v);
    if (t.contrast > 0) {
        std::vector<std::size_t> histogram(levels);
        for (std::size_t i = 0; i < count; ++i) ++histogram[gray16 != nullptr ? gray16[i] : gray8[i]];
        std::size_t cumulative = 0, lowest = 0;
        for (std::size_t v = 0; v < levels && lowest == 0; ++v) lowest = histogram[v];
        const double span = std::max<double>(1.0, double(count - lowest));
        for (std::size_t v = 0; v < levels; ++v) {
            cumulative += histogram[v];
            const double equalised = top * std::max(0.0, double(cumulative) - double(lowest)) / span;
            level[v] = (1 - t.contrast) * double(v) + t.contrast * equalised;
        }
    }
    if (rng != nullptr && t.contrast_jitter > 0) {
        const double factor = rng->uniform(1 - t.contrast_jitter, 1 + t.contrast_jitter);
        const double shift = rng->uniform(-t.contrast_jitter, t.contrast_jitter) * (64 * top / 255);
        for (double& l : level) l = (l - top / 2) * factor + top / 2 + shift;
    }
    return level;
}

// The three per-channel tables of an 8-bit image: grey level of the resampled image ->
// normalised input value. `rng` draws the contrast jitter (nullptr = none).
inline std::array<std::array<float, 256>, 3> intensity_tables(const std::uint8_t* gray, std::size_t count,
                                                              const TransformConfig& t, Rng* rng) {
    const std::vector<double> level = intensity_levels(nullptr, gray, count, 256, t, rng);
    std::array<std::array<float, 256>, 3> tables{};
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v)
            tables[c][v] = (static_cast<float>(std::clamp(level[v], 0.0, 255.0) / 255.0) - kImageNetMean[c]) /
                           kImageNetStd[c];
    return tables;
}

// The grey levels of `geometry`'s region of a source at S x S, before the contrast tables: 8-bit,
// or 16-bit for a deep source (gray16 set, gray8 empty).
struct ResampledGray {
    std::vector<std::uint8_t> gray8;
    std::vector<std::uint16_t> gray16;

    std::size_t bytes() const { return gray8.size() + 2 * gray16.size(); }
};

inline ResampledGray resample_input(const GrayImage& source, const CropGeometry& geometry) {
    const int s = geometry.input_size;
    const std::size_t count = static_cast<std::size_t>(s) * s;
    const Region region{geometry.x0, geometry.y0, geometry.width, geometry.height, geometry.hflip};
    ResampledGray gray;
    if (source.is_deep()) {
        gray.gray16.resize(count);
        resample(source, region, s, s, gray.gray16.data());
    } else {
        gray.gray8.resize(count);
        resample(source, region, s, s, gray.gray8.data());
    }
    return gray;
}

// Writes the normalised [S, S, 3] input of resampled grey levels to `out`: the contrast
// enhancement, the jitter (drawn from `jitter` when t.contrast_jitter > 0), ImageNet mean/std. A
// deep image is mapped through 65536 levels, so no precision is lost to an 8-bit step.
inline void normalise_input(const ResampledGray& gray, const TransformConfig& t, Rng* jitter, float* out) {
    if (!gray.gray16.empty()) {
        const std::size_t count = gray.gray16.size();
        const std::vector<double> level = intensity_levels(gray.gray16.data(), nullptr, count, 65536, t, jitter);
        for (std::size_t i = 0; i < count; ++i) {
            const float unit = static_cast<float>(std::clamp(level[gray.gray16[i]], 0.0, 65535.0) / 65535.0);
            for (int c = 0; c < 3; ++c) out[3 * i + c] = (unit - kImageNetMean[c]) / kImageNetStd[c];
        }
        return;
    }
    const auto tables = intensity_tables(gray.gray8.data(), gray.gray8.size(), t, jitter);
    for (std::size_t i = 0; i < gray.gray8.size(); ++i) {
        out[3 * i] = tables[0][gray.gray8[i]];
        out[3 * i + 1] = tables[1][gray.gray8[i]];
        out[3 * i + 2] = tables[2][gray.gray8[i]];
    }
}

// Writes the normalised [S, S, 3] input for `geometry` of `source` to `out`.
inline void render_input(const GrayImage& source, const CropGeometry& geometry, const TransformConfig& t,
                         Rng* jitter, float* out) {
    normalise_input(resample_input(source, geometry), t, jitter, out);
}

}  // namespace agcnn::data
