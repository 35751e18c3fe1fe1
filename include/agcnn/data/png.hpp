// agcnn/data/png.hpp — PNG files to and from one 8-bit gray channel.
//
// Decoding is stb_image: 8- and 16-bit gray, gray+alpha, RGB and RGBA all become one 8-bit gray
// channel (stb's luma weights 77/150/29 of 256; alpha is dropped, 16-bit samples keep their high
// byte). ChestX-ray14 is mostly 8-bit gray with about 500 RGBA images; the shared sample is RGB.
// Encoding (synthetic data, pictures for the docs) is stb_image_write, written atomically.
//
// Memory: a PNG of a few kilobytes can claim gigapixels, so the header is read first and an image
// whose decoded size (width x height x channels x bytes per channel, what stb allocates at once)
// exceeds kMaxDecodedBytes is refused before stb runs; stb's peak is about three times that.
//
// ODR: the engine is header-only, so the stb implementations are compiled here with static
// linkage (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC): every translation unit that includes this
// header gets its own private copy, and no two units define the same external symbol.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
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
#define STBI_MAX_DIMENSIONS 16384  // = kMaxImageSide, a second guard inside stb
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace agcnn::data {

// Larger images are refused before decoding (a hostile header must not allocate gigabytes).
constexpr int kMaxImageSide = 16384;
// The largest decoded image accepted: a 16384 x 16384 8-bit gray image, or 8192 x 8192 RGBA.
constexpr std::uint64_t kMaxDecodedBytes = 256ull << 20;
// The largest PNG file read (ChestX-ray14's are under 4 MiB).
constexpr std::uint64_t kMaxPngFileBytes = 256ull << 20;

// What a PNG's IHDR chunk says about the image.
struct PngHeader {
    int width = 0, height = 0;
    int channels = 0;           // as stb decodes them: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA or palette
    int bytes_per_channel = 0;  // 2 for 16-bit samples, else 1
    std::uint64_t decoded_bytes() const {
        return std::uint64_t(width) * std::uint64_t(height) * std::uint64_t(channels) *
               std::uint64_t(bytes_per_channel);
    }
};

// The header of PNG bytes (the first 33 are enough); `what` names the file in errors. Refuses a
// bad signature or IHDR, and any size outside 1..kMaxImageSide per side or over kMaxDecodedBytes.
inline PngHeader parse_png_header(std::string_view bytes, const std::string& what) {
    constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
    AGCNN_CHECK(bytes.size() >= 8 && bytes.substr(0, 8) == kSignature, what, ": not a readable PNG (bad signature)");
    AGCNN_CHECK(bytes.size() >= 33 && bytes.substr(12, 4) == "IHDR", what, ": not a readable PNG (no IHDR chunk)");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    auto big_endian = [p](std::size_t at) {
        return (std::uint32_t(p[at]) << 24) | (std::uint32_t(p[at + 1]) << 16) | (std::uint32_t(p[at + 2]) << 8) |
               std::uint32_t(p[at + 3]);
    };
    const std::uint32_t width = big_endian(16), height = big_endian(20);
    const int depth = p[24], color_type = p[25];
    AGCNN_CHECK(width >= 1 && height >= 1 && width <= std::uint32_t(kMaxImageSide) &&
                    height <= std::uint32_t(kMaxImageSide),
                what, ": image size ", width, "x", height, " outside 1..", kMaxImageSide);
    // PNG colour types: 0 gray, 2 RGB, 3 palette (stb expands it to RGB or RGBA), 4 gray+alpha, 6 RGBA.
    const int channels = color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 3 ? 4 : color_type == 4 ? 2
                       : color_type == 6 ? 4 : 0;
    AGCNN_CHECK(channels > 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16), what,
                ": not a readable PNG (colour type ", color_type, ", bit depth ", depth, ")");
    const PngHeader header{int(width), int(height), channels, depth == 16 ? 2 : 1};
    AGCNN_CHECK(header.decoded_bytes() <= kMaxDecodedBytes, what, ": refused to decode a ", width, "x", height,
                " image of ", channels, " channel(s) at ", depth, " bits: it needs ",
                io::byte_size_text(header.decoded_bytes()), ", more than the ", io::byte_size_text(kMaxDecodedBytes),
                " limit");
    return header;
}

// Decodes PNG bytes; `what` names the file in errors.
inline GrayImage decode_png(std::string_view bytes, const std::string& what) {
    AGCNN_CHECK(bytes.size() <= kMaxPngFileBytes, what, ": ", io::byte_size_text(bytes.size()),
                " is larger than a PNG may be here (", io::byte_size_text(kMaxPngFileBytes), ")");
    parse_png_header(bytes, what);
    int width = 0, height = 0, channels = 0;
    stbi_uc* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                            static_cast<int>(bytes.size()), &width, &height, &channels, 1);
    if (pixels == nullptr) {
        const char* reason = stbi_failure_reason();  // may be null
        throw Error(what + ": cannot decode PNG (" + (reason ? reason : "no reason given by the decoder") + ")");
    }
    GrayImage image;
    image.width = width;
    image.height = height;
    image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * height);
    stbi_image_free(pixels);
    return image;
}

inline GrayImage read_png(const std::string& path) {
    return decode_png(io::read_file(path, kMaxPngFileBytes), path);
}

// The header of the PNG file at `path`, from its first 33 bytes (signature and IHDR): cheap
// enough to check every file of a data set before training, or to size a decode before it runs.
inline PngHeader read_png_header(const std::string& path) {
    return parse_png_header(io::RegularFile(path).read(33), path);
}

// About the most memory read_png() holds at once for a file of `file_bytes` with this header:
// the file, and stb's inflated rows, its decoded image and the gray copy (each at most
// decoded_bytes()).
inline std::uint64_t png_decode_peak_bytes(const PngHeader& header, std::uint64_t file_bytes) {
    return file_bytes + 3 * header.decoded_bytes();
}

// Width and height of the PNG file at `path`, or an error naming the file.
inline std::pair<int, int> read_png_size(const std::string& path) {
    const PngHeader header = read_png_header(path);
    return {header.width, header.height};
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
