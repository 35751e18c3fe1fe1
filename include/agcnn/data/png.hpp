// agcnn/data/png.hpp — PNG files to and from one 8-bit gray channel.
//
// Decoding is stb_image: 8- and 16-bit gray, gray+alpha, RGB and RGBA all become one 8-bit gray
// channel (stb's luma weights 77/150/29 of 256; alpha is dropped, 16-bit samples keep their high
// byte). ChestX-ray14 is mostly 8-bit gray with about 500 RGBA images; the shared sample is RGB.
// Encoding (synthetic data, pictures for the docs) is stb_image_write, written atomically.
//
// ODR: the engine is header-only, so the stb implementations are compiled here with static
// linkage (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC): every translation unit that includes this
// header gets its own private copy, and no two units define the same external symbol.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/io/atomic_file.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace agcnn::data {

// Larger images are refused before decoding (a hostile header must not allocate gigabytes).
constexpr int kMaxImageSide = 16384;

// Decodes PNG bytes; `what` names the file in errors.
inline GrayImage decode_png(std::string_view bytes, const std::string& what) {
    AGCNN_CHECK(bytes.size() <= 0x7fffffffu, what, ": file too large for a PNG decoder");
    const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int length = static_cast<int>(bytes.size());
    int width = 0, height = 0, channels = 0;
    AGCNN_CHECK(stbi_info_from_memory(data, length, &width, &height, &channels), what,
                ": not a readable PNG (", stbi_failure_reason(), ")");
    AGCNN_CHECK(width > 0 && height > 0 && width <= kMaxImageSide && height <= kMaxImageSide,
                what, ": image size ", width, "x", height, " outside 1..", kMaxImageSide);
    stbi_uc* pixels = stbi_load_from_memory(data, length, &width, &height, &channels, 1);
    AGCNN_CHECK(pixels != nullptr, what, ": cannot decode PNG (", stbi_failure_reason(), ")");
    GrayImage image;
    image.width = width;
    image.height = height;
    image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * height);
    stbi_image_free(pixels);
    return image;
}

inline GrayImage read_png(const std::string& path) { return decode_png(io::read_file(path), path); }

// Reads only the signature and IHDR chunk (33 bytes): width and height, or an error naming the
// file. Cheap enough to check every file of a data set before training.
inline std::pair<int, int> read_png_size(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    AGCNN_CHECK(in.good(), path, ": cannot open: ", std::strerror(errno));
    std::string bytes(33, '\0');
    in.read(bytes.data(), 33);
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    int width = 0, height = 0, channels = 0;
    AGCNN_CHECK(stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                      static_cast<int>(bytes.size()), &width, &height, &channels),
                path, ": not a readable PNG (", stbi_failure_reason(), ")");
    return {width, height};
}

// Encodes `channels` interleaved 8-bit channels (1 gray, 3 RGB, 4 RGBA) as PNG bytes.
inline std::string encode_png(const std::uint8_t* pixels, int width, int height, int channels) {
    std::string out;
    auto append = [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                                   static_cast<std::size_t>(size));
    };
    AGCNN_CHECK(stbi_write_png_to_func(append, &out, width, height, channels, pixels,
                                       width * channels) != 0,
                "PNG encoding of a ", width, "x", height, " image failed");
    return out;
}

inline void write_png(const std::string& path, const GrayImage& image) {
    io::write_file_atomic(path, encode_png(image.pixels.data(), image.width, image.height, 1));
}

}  // namespace agcnn::data
