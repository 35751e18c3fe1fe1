// agcnn/data/png.hpp — PNG files to and from one gray channel.
//
// Decoding is stb_image (data/stb.hpp): gray, gray+alpha, RGB and RGBA all become one gray
// channel (stb's luma weights 77/150/29 of 256; alpha is dropped). Images of up to 8 bits per
// sample give an 8-bit GrayImage; 16-bit PNGs give a deep GrayImage with every 16-bit sample kept
// (the PNG standard's full 0..65535 scale: a 12-bit export stored unscaled in 0..4095 stays dark,
// as its own viewer shows it, but loses nothing; the contrast enhancement stretches it).
// ChestX-ray14 is mostly 8-bit gray with about 500 RGBA images; the shared sample is RGB.
// Encoding (synthetic data, pictures for the docs, 16-bit test images) is stb_image_write's
// encoder for 8 bits and its zlib for 16 bits, or deflate's stored blocks (PngDeflate), written
// atomically.
//
// Memory: a PNG of a few kilobytes can claim gigapixels, so the header is read first and an image
// whose decoded size (width x height x channels x bytes per channel, what stb allocates at once)
// exceeds kMaxDecodedBytes is refused before stb runs; stb's peak is about three times that.
//
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/io/atomic_file.hpp"

#include "agcnn/data/stb.hpp"

namespace agcnn::data {

// Larger images are refused before decoding (a hostile header must not allocate gigabytes).
constexpr int kMaxImageSide = 16384;
// The largest decoded image accepted: a 16384 x 16384 8-bit gray image, or 8192 x 8192 RGBA.
constexpr std::uint64_t kMaxDecodedBytes = 256ull << 20;
// The largest PNG file read (ChestX-ray14's are under 4 MiB).
constexpr std::uint64_t kMaxPngFileBytes = 256ull << 20;

// What an image file's header says about its decoded size (a PNG's IHDR, a JPEG's frame header).
struct ImageHeader {
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
inline ImageHeader parse_png_header(std::string_view bytes, const std::string& what) {
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
    const ImageHeader header{int(width), int(height), channels, depth == 16 ? 2 : 1};
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
    const ImageHeader header = parse_png_header(bytes, what);
    const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
    const int size = static_cast<int>(bytes.size());
    int width = 0, height = 0, channels = 0;
    GrayImage image;
    if (header.bytes_per_channel == 2) {
        stbi_us* samples = stbi_load_16_from_memory(data, size, &width, &height, &channels, 1);
        AGCNN_CHECK(samples != nullptr, what, ": cannot decode PNG (", detail::stb_failure_text(), ")");
        image.deep.assign(samples, samples + static_cast<std::size_t>(width) * height);
        stbi_image_free(samples);
    } else {
        stbi_uc* pixels = stbi_load_from_memory(data, size, &width, &height, &channels, 1);
        AGCNN_CHECK(pixels != nullptr, what, ": cannot decode PNG (", detail::stb_failure_text(), ")");
        image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * height);
        stbi_image_free(pixels);
    }
    image.width = width;
    image.height = height;
    return image;
}

inline GrayImage read_png(const std::string& path) {
    return decode_png(io::read_file(path, kMaxPngFileBytes), path);
}

// The header of the PNG file at `path`, from its first 33 bytes (signature and IHDR): cheap
// enough to check every file of a data set before training, or to size a decode before it runs.
inline ImageHeader read_png_header(const std::string& path) {
    return parse_png_header(io::RegularFile(path).read(33), path);
}

// About the most memory read_png() holds at once for a file of `file_bytes` with this header:
// the file, and stb's inflated rows, its decoded image and the gray copy (each at most
// decoded_bytes()).
inline std::uint64_t png_decode_peak_bytes(const ImageHeader& header, std::uint64_t file_bytes) {
    return file_bytes + 3 * header.decoded_bytes();
}

// Width and height of the PNG file at `path`, or an error naming the file.
inline std::pair<int, int> read_png_size(const std::string& path) {
    const ImageHeader header = read_png_header(path);
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

// How a gray PNG's pixel data is deflated: `compressed` by stb's zlib compressor (quality 8), or
// `stored` (deflate's uncompressed blocks: a valid PNG any reader opens, written about ten times
// faster). The synthetic X-rays are stored: their noise leaves stb only about 15% to gain
// (2,400 512x512 sources: 533 MB against 630 MB) for 40% of `agcnn synth`'s time.
enum class PngDeflate { compressed, stored };

namespace detail {

inline std::uint32_t png_crc32(std::string_view a, std::string_view b) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t n = 0; n < 256; ++n) {
            std::uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
            t[n] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::string_view part : {a, b})
        for (unsigned char byte : part) c = table[(c ^ byte) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

inline void append_big_endian(std::string& out, std::uint32_t v) {
    out += {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

inline void append_chunk(std::string& out, std::string_view type, std::string_view data) {
    append_big_endian(out, std::uint32_t(data.size()));
    out += type;
    out += data;
    append_big_endian(out, png_crc32(type, data));
}

// A zlib stream (RFC 1950) of deflate's stored blocks (RFC 1951 3.2.4) holding `raw`.
inline std::string zlib_stored(std::string_view raw) {
    std::string out("\x78\x01", 2);
    std::size_t at = 0;
    do {
        const std::size_t n = std::min<std::size_t>(raw.size() - at, 65535);
        const bool last = at + n == raw.size();
        out += {char(last ? 1 : 0), char(n & 0xFF), char(n >> 8), char(~n & 0xFF), char((~n >> 8) & 0xFF)};
        out.append(raw.substr(at, n));
        at += n;
    } while (at < raw.size());
    std::uint32_t a = 1, b = 0;  // Adler-32, reduced every 5552 bytes (zlib's NMAX) so b cannot overflow
    for (std::size_t i = 0; i < raw.size(); i += 5552) {
        for (std::size_t j = i; j < std::min(raw.size(), i + 5552); ++j) {
            a += static_cast<unsigned char>(raw[j]);
            b += a;
        }
        a %= 65521u, b %= 65521u;
    }
    append_big_endian(out, (b << 16) | a);
    return out;
}

// The scanlines of width x height gray samples (8 or 16 bits): per row, filter byte 0 (none),
// then the samples, big-endian.
template <class Sample>
std::string unfiltered_rows(const Sample* samples, int width, int height) {
    static_assert(sizeof(Sample) == 1 || sizeof(Sample) == 2);
    AGCNN_CHECK(width > 0 && height > 0, "PNG encoding of an empty image");
    std::string rows;
    rows.reserve(static_cast<std::size_t>(height) * (1 + sizeof(Sample) * std::size_t(width)));
    for (int y = 0; y < height; ++y) {
        rows += '\0';
        for (int x = 0; x < width; ++x) {
            const unsigned v = samples[static_cast<std::size_t>(y) * width + x];
            if constexpr (sizeof(Sample) == 2) rows += char(v >> 8);
            rows += char(v & 0xFF);
        }
    }
    return rows;
}

// A PNG of one gray channel at `bits` (8 or 16) per sample from its scanlines (unfiltered_rows).
inline std::string gray_png(int width, int height, int bits, const std::string& rows, PngDeflate deflate) {
    std::string idat;
    if (deflate == PngDeflate::stored) {
        idat = zlib_stored(rows);
    } else {
        int size = 0;
        unsigned char* compressed = stbi_zlib_compress(
            reinterpret_cast<unsigned char*>(const_cast<char*>(rows.data())), static_cast<int>(rows.size()), &size, 8);
        AGCNN_CHECK(compressed != nullptr, "PNG encoding of a ", width, "x", height, " image failed");
        idat.assign(reinterpret_cast<const char*>(compressed), std::size_t(size));
        STBIW_FREE(compressed);
    }
    std::string ihdr;
    append_big_endian(ihdr, std::uint32_t(width));
    append_big_endian(ihdr, std::uint32_t(height));
    ihdr += {char(bits), 0, 0, 0, 0};  // gray, deflate, filter method 0, no interlace
    std::string out("\x89PNG\r\n\x1a\n", 8);
    out.reserve(out.size() + idat.size() + 64);
    append_chunk(out, "IHDR", ihdr);
    append_chunk(out, "IDAT", idat);
    append_chunk(out, "IEND", "");
    return out;
}

}  // namespace detail

// Encodes 16-bit gray samples as a 16-bit gray PNG (stb_image_write has no 16-bit encoder; its
// zlib compressor, or stored blocks, and a CRC-32 make the chunks).
inline std::string encode_png16(const std::uint16_t* samples, int width, int height,
                                PngDeflate deflate = PngDeflate::compressed) {
    return detail::gray_png(width, height, 16, detail::unfiltered_rows(samples, width, height), deflate);
}

// Writes `image` as a PNG: 8-bit gray, or 16-bit gray for a deep image. An 8-bit image compressed
// goes through stb_image_write's encoder (it picks a filter per row).
inline void write_png(const std::string& path, const GrayImage& image, PngDeflate deflate = PngDeflate::compressed) {
    std::string bytes;
    if (image.is_deep()) {
        bytes = encode_png16(image.deep.data(), image.width, image.height, deflate);
    } else if (deflate == PngDeflate::compressed) {
        bytes = encode_png(image.pixels.data(), image.width, image.height, 1);
    } else {
        bytes = detail::gray_png(image.width, image.height, 8,
                                 detail::unfiltered_rows(image.pixels.data(), image.width, image.height), deflate);
    }
    io::write_file_atomic(path, bytes);
}

}  // namespace agcnn::data
