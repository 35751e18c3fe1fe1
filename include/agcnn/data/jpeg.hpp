// agcnn/data/jpeg.hpp — JPEG files (baseline and progressive, gray or colour, 8 bits) to one
// 8-bit gray channel, through stb_image (data/stb.hpp), as CheXpert and MIMIC-CXR-JPG ship them.
//
// Colour becomes gray with stb's luma weights (77/150/29 of 256), as for PNG. 12-bit and lossless
// JPEG are not read by stb (they come inside DICOM files, which GDCM decodes: data/dicom.hpp).
// Memory: the frame header gives the size first; an image whose decoded size (width x height x
// components) exceeds kMaxDecodedBytes is refused before decoding, as for PNG.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/png.hpp"
#include "agcnn/data/stb.hpp"
#include "agcnn/io/atomic_file.hpp"

namespace agcnn::data {

// The largest JPEG file read.
constexpr std::uint64_t kMaxJpegFileBytes = 256ull << 20;

inline bool has_jpeg_signature(std::string_view bytes) {
    return bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
           static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF;
}

// The size and components of JPEG bytes, from the frame header (nothing is decoded). Refuses what
// is not a JPEG, any side outside 1..kMaxImageSide and any decoded size over kMaxDecodedBytes.
inline ImageHeader parse_jpeg_header(std::string_view bytes, const std::string& what) {
    AGCNN_CHECK(has_jpeg_signature(bytes), what, ": not a readable JPEG (bad signature)");
    AGCNN_CHECK(bytes.size() <= kMaxJpegFileBytes, what, ": ", io::byte_size_text(bytes.size()),
                " is larger than a JPEG may be here (", io::byte_size_text(kMaxJpegFileBytes), ")");
    int width = 0, height = 0, components = 0;
    AGCNN_CHECK(stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                      &width, &height, &components) != 0,
                what, ": not a readable JPEG (", detail::stb_failure_text(), ")");
    AGCNN_CHECK(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide, what,
                ": image size ", width, "x", height, " outside 1..", kMaxImageSide);
    const ImageHeader header{width, height, components, 1};
    AGCNN_CHECK(header.decoded_bytes() <= kMaxDecodedBytes, what, ": refused to decode a ", width, "x", height,
                " JPEG of ", components, " component(s): it needs ", io::byte_size_text(header.decoded_bytes()),
                ", more than the ", io::byte_size_text(kMaxDecodedBytes), " limit");
    return header;
}

// Decodes JPEG bytes into an 8-bit gray image; `what` names the file in errors.
inline GrayImage decode_jpeg(std::string_view bytes, const std::string& what) {
    parse_jpeg_header(bytes, what);
    int width = 0, height = 0, components = 0;
    stbi_uc* pixels = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                            static_cast<int>(bytes.size()), &width, &height, &components, 1);
    AGCNN_CHECK(pixels != nullptr, what, ": cannot decode JPEG (", detail::stb_failure_text(), ")");
    GrayImage image;
    image.width = width;
    image.height = height;
    image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * height);
    stbi_image_free(pixels);
    return image;
}

// Encodes 8-bit pixels (1 gray or 3 RGB channels) as a baseline JPEG at `quality` (1..100).
inline std::string encode_jpeg(const std::uint8_t* pixels, int width, int height, int channels, int quality) {
    std::string out;
    auto append = [](void* context, void* data, int size) {
        static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
    };
    AGCNN_CHECK(stbi_write_jpg_to_func(append, &out, width, height, channels, pixels, quality) != 0,
                "JPEG encoding of a ", width, "x", height, " image failed");
    return out;
}

}  // namespace agcnn::data
