// agcnn/data/gray_buffer.hpp — a GrayImage from pixels already in memory (an embedding program's
// own decoder, a frame grabber, a PACS toolkit), with the same precision rules as the files:
//   gray_image_from_u8   8-bit samples -> an 8-bit image (the same arithmetic as an 8-bit PNG);
//   gray_image_from_u16  samples of `bits_stored` significant bits (1..16) in uint16 -> for
//                        bits_stored <= 8 an 8-bit image, else a deep image with each sample
//                        scaled to the 16-bit range, round(v * 65535 / (2^bits_stored - 1)).
// A 16-bit buffer and a 16-bit PNG of the same samples give the same image, hence the same
// network input. Samples must fit in bits_stored bits; errors say which does not.
#pragma once

#include <cmath>
#include <cstdint>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/png.hpp"

namespace agcnn::data {

namespace detail {
inline void check_buffer(const void* pixels, int width, int height) {
    AGCNN_CHECK(pixels != nullptr, "gray image: null pixel buffer");
    AGCNN_CHECK(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide,
                "gray image of ", width, "x", height, " pixels: each side must be in 1..", kMaxImageSide);
}
}  // namespace detail

inline GrayImage gray_image_from_u8(const std::uint8_t* pixels, int width, int height) {
    detail::check_buffer(pixels, width, height);
    GrayImage image{width, height, {}, {}};
    image.pixels.assign(pixels, pixels + std::size_t(width) * std::size_t(height));
    return image;
}

inline GrayImage gray_image_from_u16(const std::uint16_t* pixels, int width, int height, int bits_stored) {
    detail::check_buffer(pixels, width, height);
    AGCNN_CHECK(bits_stored >= 1 && bits_stored <= 16, "gray image: ", bits_stored, " bits stored, expected 1..16");
    const std::size_t count = std::size_t(width) * std::size_t(height);
    const std::uint32_t max = (1u << bits_stored) - 1;
    for (std::size_t i = 0; i < count; ++i)
        AGCNN_CHECK(pixels[i] <= max, "gray image: sample ", i, " = ", pixels[i], " needs more than ", bits_stored,
                    " bits");
    GrayImage image{width, height, {}, {}};
    if (bits_stored <= 8) {
        image.pixels.assign(pixels, pixels + count);  // values < 256 already
        return image;
    }
    image.deep.resize(count);
    for (std::size_t i = 0; i < count; ++i)
        image.deep[i] = static_cast<std::uint16_t>(std::lround(double(pixels[i]) * 65535.0 / max));
    return image;
}

}  // namespace agcnn::data
