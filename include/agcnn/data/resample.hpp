// agcnn/data/resample.hpp — one resampling step from a region of a gray image to an output grid.
//
// Output pixel centre (u + 0.5, v + 0.5) sits at source x = x0 + (u + 0.5) * w / out_w (mirrored
// when flipped), y = y0 + (v + 0.5) * h / out_h, as in data::CropGeometry. When the step shrinks
// an axis (w > out_w) each output pixel is the area average of its footprint (like OpenCV's
// INTER_AREA / PIL's box filter: no aliasing of thin ribs and small nodules); when it enlarges,
// bilinear interpolation between pixel centres (align_corners=False). Outside the source the edge
// pixel is repeated. Separable: one horizontal pass over the rows needed, one vertical pass.
// 8-bit images resample to 8 bits, deep (16-bit scale) images to 16 bits, with the same weights.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"

namespace agcnn::data {

struct Region {
    double x0 = 0, y0 = 0, width = 0, height = 0;
    bool hflip = false;
};

namespace detail {

// The source taps of each output position along one axis.
struct Taps {
    std::vector<int> offset;  // taps of output i are [offset[i], offset[i + 1])
    std::vector<int> index;
    std::vector<float> weight;
};

inline Taps axis_taps(double start, double length, int out, int source_size, bool flip) {
    Taps taps;
    taps.offset.reserve(static_cast<std::size_t>(out) + 1);
    const double step = length / out;
    auto clamp = [&](long k) { return static_cast<int>(std::clamp<long>(k, 0, source_size - 1)); };
    for (int i = 0; i < out; ++i) {
        taps.offset.push_back(static_cast<int>(taps.index.size()));
        const double centre = start + ((flip ? out - (i + 0.5) : i + 0.5)) * step;
        if (step > 1.0) {
            const double lo = centre - step / 2, hi = centre + step / 2;
            for (long k = static_cast<long>(std::floor(lo)); k < hi; ++k) {
                const double cover = std::min<double>(hi, k + 1) - std::max<double>(lo, k);
                if (cover <= 0) continue;
                taps.index.push_back(clamp(k));
                taps.weight.push_back(static_cast<float>(cover / step));
            }
        } else {
            const double p = centre - 0.5;
            const long k = static_cast<long>(std::floor(p));
            const auto f = static_cast<float>(p - static_cast<double>(k));
            taps.index.push_back(clamp(k));
            taps.weight.push_back(1.0f - f);
            taps.index.push_back(clamp(k + 1));
            taps.weight.push_back(f);
        }
    }
    taps.offset.push_back(static_cast<int>(taps.index.size()));
    return taps;
}

}  // namespace detail

namespace detail {

// The resampling of one sample type: `In` source samples to `Out` output samples, rounded to the
// nearest and clamped to [0, top] (255 for 8-bit, 65535 for deep images).
template <typename In, typename Out>
void resample_samples(const In* pixels, int source_width, int source_height, const Region& region,
                      int out_width, int out_height, float top, Out* out) {
    const Taps tx = axis_taps(region.x0, region.width, out_width, source_width, region.hflip);
    const Taps ty = axis_taps(region.y0, region.height, out_height, source_height, false);
    const auto [row_lo, row_hi] = std::minmax_element(ty.index.begin(), ty.index.end());
    const int first_row = *row_lo, rows = *row_hi - *row_lo + 1;
    std::vector<float> horizontal(static_cast<std::size_t>(rows) * out_width);
    for (int r = 0; r < rows; ++r) {
        const In* src = pixels + static_cast<std::size_t>(first_row + r) * source_width;
        float* dst = horizontal.data() + static_cast<std::size_t>(r) * out_width;
        for (int u = 0; u < out_width; ++u) {
            float sum = 0;
            for (int t = tx.offset[u]; t < tx.offset[u + 1]; ++t) sum += tx.weight[t] * src[tx.index[t]];
            dst[u] = sum;
        }
    }
    std::vector<float> row(static_cast<std::size_t>(out_width));
    for (int v = 0; v < out_height; ++v) {
        std::fill(row.begin(), row.end(), 0.0f);
        for (int t = ty.offset[v]; t < ty.offset[v + 1]; ++t) {
            const float w = ty.weight[t];
            const float* src = horizontal.data() + static_cast<std::size_t>(ty.index[t] - first_row) * out_width;
            for (int u = 0; u < out_width; ++u) row[u] += w * src[u];
        }
        Out* dst = out + static_cast<std::size_t>(v) * out_width;
        for (int u = 0; u < out_width; ++u) dst[u] = static_cast<Out>(std::clamp(row[u] + 0.5f, 0.0f, top));
    }
}

inline void check_resample_arguments(const GrayImage& source, const Region& region, int out_width,
                                     int out_height) {
    AGCNN_CHECK(source.width > 0 && source.height > 0 &&
                    source.sample_count() == static_cast<std::size_t>(source.width) * source.height,
                "resample: empty or inconsistent source image ", source.width, "x", source.height);
    AGCNN_CHECK(out_width > 0 && out_height > 0 && region.width > 0 && region.height > 0,
                "resample: empty region or output");
}

}  // namespace detail

// Resamples `region` of an 8-bit `source` into out_width x out_height bytes at `out` (rounded,
// clamped).
inline void resample(const GrayImage& source, const Region& region, int out_width, int out_height,
                     std::uint8_t* out) {
    detail::check_resample_arguments(source, region, out_width, out_height);
    AGCNN_CHECK(!source.is_deep(), "resample: a deep (16-bit) image needs a 16-bit output");
    detail::resample_samples(source.pixels.data(), source.width, source.height, region, out_width, out_height,
                             255.0f, out);
}

// Resamples `region` of a deep `source` into out_width x out_height 16-bit samples at `out`.
inline void resample(const GrayImage& source, const Region& region, int out_width, int out_height,
                     std::uint16_t* out) {
    detail::check_resample_arguments(source, region, out_width, out_height);
    AGCNN_CHECK(source.is_deep(), "resample: an 8-bit image needs an 8-bit output");
    detail::resample_samples(source.deep.data(), source.width, source.height, region, out_width, out_height,
                             65535.0f, out);
}

// The whole image scaled so its longer side is at most `max_side` (never enlarged); a deep image
// stays deep.
inline GrayImage fit_within(const GrayImage& source, int max_side) {
    const int longer = std::max(source.width, source.height);
    if (longer <= max_side) return source;
    const double scale = static_cast<double>(max_side) / longer;
    GrayImage out;
    out.width = std::max(1, static_cast<int>(std::lround(source.width * scale)));
    out.height = std::max(1, static_cast<int>(std::lround(source.height * scale)));
    const Region whole{0, 0, double(source.width), double(source.height), false};
    const std::size_t count = static_cast<std::size_t>(out.width) * out.height;
    if (source.is_deep()) {
        out.deep.resize(count);
        resample(source, whole, out.width, out.height, out.deep.data());
    } else {
        out.pixels.resize(count);
        resample(source, whole, out.width, out.height, out.pixels.data());
    }
    return out;
}

}  // namespace agcnn::data
