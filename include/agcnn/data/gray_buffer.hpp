// agcnn/data/gray_buffer.hpp — a gray image from a caller's pixel buffer (the embedding APIs'
// input: app/predictor.hpp, the C API).
//
//   gray_image_from_u8(pixels, width, height)   width * height bytes, row-major, copied as is
//   gray_image_from_u16(pixels, width, height, bits_stored)
//       width * height 16-bit samples, row-major, of which the low `bits_stored` (1..16) bits
//       hold the value (DICOM's Bits Stored; higher bits are ignored). Today's GrayImage is
//       8-bit, so each value v becomes round(v * 255 / (2^bits_stored - 1)): 0 stays 0, the
//       largest value becomes 255, and rounding is to the nearest 8-bit level.
// Both check the buffer (non-null, 1..kMaxImageSide per side) and throw Error otherwise.
#pragma once

#include <algorithm>
#include <cstdint>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/png.hpp"

namespace agcnn::data {

namespace detail {
inline GrayImage gray_image_of_size(const void* pixels, int width, int height) {
    AGCNN_CHECK(pixels != nullptr, "gray image: null pixel buffer");
    AGCNN_CHECK(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide,
                "gray image: ", width, "x", height, " is outside 1..", kMaxImageSide, " per side");
    GrayImage image;
    image.width = width;
    image.height = height;
    image.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
    return image;
}
}  // namespace detail

inline GrayImage gray_image_from_u8(const std::uint8_t* pixels, int width, int height) {
    GrayImage image = detail::gray_image_of_size(pixels, width, height);
    std::copy(pixels, pixels + image.pixels.size(), image.pixels.begin());
    return image;
}

inline GrayImage gray_image_from_u16(const std::uint16_t* pixels, int width, int height, int bits_stored) {
    AGCNN_CHECK(bits_stored >= 1 && bits_stored <= 16, "gray image: bits stored ", bits_stored, " is outside 1..16");
    GrayImage image = detail::gray_image_of_size(pixels, width, height);
    const std::uint32_t mask = (1u << bits_stored) - 1u;
    for (std::size_t i = 0; i < image.pixels.size(); ++i)
        image.pixels[i] = static_cast<std::uint8_t>(((pixels[i] & mask) * 255u + mask / 2) / mask);
    return image;
}

}  // namespace agcnn::data
