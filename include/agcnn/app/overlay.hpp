// agcnn/app/overlay.hpp — pictures of what the attention saw: the network input as gray, the
// heatmap over it (a blue-to-red colour scale, 45% opaque), masks, and the attention box drawn
// in green. Used by `agcnn predict`, the report and the docs; PNG bytes via data/png.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "agcnn/data/png.hpp"
#include "agcnn/data/transforms.hpp"
#include "agcnn/model/attention.hpp"

namespace agcnn::app {

struct RgbImage {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // row-major RGB
    std::uint8_t* at(int x, int y) { return &pixels[(std::size_t(y) * width + x) * 3]; }
};

// Image `index` of normalised inputs [B, S, S, 3] (on the CPU) back to gray levels.
inline RgbImage input_picture(const Tensor& images, std::int64_t index) {
    const int s = static_cast<int>(images.dim(1));
    RgbImage out{s, s, std::vector<std::uint8_t>(std::size_t(s) * s * 3)};
    const float* x = images.data() + index * s * s * 3;
    for (std::size_t p = 0; p < std::size_t(s) * s; ++p) {
        const float v = (x[3 * p] * data::kImageNetStd[0] + data::kImageNetMean[0]) * 255.0f;
        std::fill_n(&out.pixels[3 * p], 3, static_cast<std::uint8_t>(std::clamp(v + 0.5f, 0.0f, 255.0f)));
    }
    return out;
}

// Blue (0) - cyan - yellow - red (1).
inline void heat_colour(float t, std::uint8_t rgb[3]) {
    t = std::clamp(t, 0.0f, 1.0f);
    const float r = std::clamp(1.5f - std::abs(4 * t - 3), 0.0f, 1.0f);
    const float g = std::clamp(1.5f - std::abs(4 * t - 2), 0.0f, 1.0f);
    const float b = std::clamp(1.5f - std::abs(4 * t - 1), 0.0f, 1.0f);
    rgb[0] = std::uint8_t(r * 255), rgb[1] = std::uint8_t(g * 255), rgb[2] = std::uint8_t(b * 255);
}

// `heat` (width x height values in [0, 1]) blended over `base`.
inline RgbImage overlay_heatmap(RgbImage base, const std::vector<float>& heat, float alpha = 0.45f) {
    for (std::size_t p = 0; p < heat.size(); ++p) {
        std::uint8_t c[3];
        heat_colour(heat[p], c);
        for (int k = 0; k < 3; ++k)
            base.pixels[3 * p + k] = std::uint8_t((1 - alpha) * base.pixels[3 * p + k] + alpha * c[k]);
    }
    return base;
}

// A 0/1 mask as white on black, `tint` where `highlight` is set.
inline RgbImage mask_picture(const std::vector<std::uint8_t>& mask, const std::vector<std::uint8_t>& highlight,
                             int size) {
    RgbImage out{size, size, std::vector<std::uint8_t>(std::size_t(size) * size * 3, 0)};
    for (std::size_t p = 0; p < mask.size(); ++p) {
        if (!mask[p]) continue;
        const bool h = !highlight.empty() && highlight[p];
        out.pixels[3 * p] = h ? 255 : 200, out.pixels[3 * p + 1] = h ? 160 : 200, out.pixels[3 * p + 2] = h ? 0 : 200;
    }
    return out;
}

// `box` has integer edges inside the image (an attention box, or one scaled by an integer).
inline void draw_box(RgbImage& image, const Box& box, int thickness = 1) {
    const int x0 = int(box.x0), y0 = int(box.y0), x1 = int(box.x1), y1 = int(box.y1);
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
            const bool edge = x < x0 + thickness || x >= x1 - thickness || y < y0 + thickness ||
                              y >= y1 - thickness;
            if (!edge) continue;
            std::uint8_t* p = image.at(x, y);
            p[0] = 0, p[1] = 255, p[2] = 0;
        }
}

// Nearest-neighbour enlargement by an integer factor (small inputs stay legible).
inline RgbImage enlarge(const RgbImage& image, int factor) {
    if (factor <= 1) return image;
    RgbImage out{image.width * factor, image.height * factor, {}};
    out.pixels.resize(std::size_t(out.width) * out.height * 3);
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x)
            std::copy_n(&image.pixels[(std::size_t(y / factor) * image.width + x / factor) * 3], 3, out.at(x, y));
    return out;
}

// The factor that brings a side to at least 224 pixels.
inline int legible_factor(int side) { return std::max(1, (224 + side - 1) / side); }

inline std::string png_bytes(const RgbImage& image) {
    return data::encode_png(image.pixels.data(), image.width, image.height, 3);
}

// The input with the heatmap over it and the box drawn, enlarged to be legible.
inline RgbImage attention_picture(const Tensor& images, std::int64_t index, const model::Attention& a) {
    RgbImage picture = overlay_heatmap(input_picture(images, index), a.heatmap);
    const int factor = legible_factor(picture.width);
    picture = enlarge(picture, factor);
    draw_box(picture, {a.box.x0 * factor, a.box.y0 * factor, a.box.x1 * factor, a.box.y1 * factor},
             std::max(1, factor));
    return picture;
}

}  // namespace agcnn::app
