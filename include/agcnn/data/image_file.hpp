// agcnn/data/image_file.hpp — the one way an image file is read: PNG, JPEG or DICOM, recognised
// by content (PNG and JPEG signatures, DICOM's "DICM" after its preamble), else by name (.dcm
// files without a preamble). Every command that reads images (dataset checks, pack, train, eval,
// predict) comes through here, so a format works wherever an image works.
//
//   PNG   data/png.hpp    8-bit, or deep for 16-bit samples
//   JPEG  data/jpeg.hpp   8-bit (baseline and progressive)
//   DICOM data/dicom.hpp  deep, after the standard's grayscale pipeline (data/dicom_pixels.hpp)
//
// Headers first: read_image_info() sizes an image (and its decode's memory) from its first bytes,
// without decoding; DICOM adds the pixel spacing for boxes in millimetres.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "agcnn/data/dicom.hpp"
#include "agcnn/data/image_names.hpp"
#include "agcnn/data/jpeg.hpp"
#include "agcnn/data/png.hpp"
#include "agcnn/io/atomic_file.hpp"

namespace agcnn::data {

enum class ImageFormat { png, jpeg, dicom };

// How images are turned gray where a choice exists (DICOM's VOI and frame).
struct ImageReadOptions {
    DicomOptions dicom;
};

// The format of a file from its first bytes (at least 132 for DICOM's signature) and its name.
inline ImageFormat image_format(std::string_view head, const std::string& path) {
    if (head.size() >= 8 && head.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return ImageFormat::png;
    if (has_jpeg_signature(head)) return ImageFormat::jpeg;
    if (has_dicom_signature(head) || detail::ends_with_nocase(path, ".dcm")) return ImageFormat::dicom;
    AGCNN_CHECK(!detail::ends_with_nocase(path, ".png"), path, ": not a readable PNG (bad signature)");
    AGCNN_CHECK(!detail::ends_with_nocase(path, ".jpg") && !detail::ends_with_nocase(path, ".jpeg"), path,
                ": not a readable JPEG (bad signature)");
    throw Error(path + ": not a PNG, JPEG or DICOM image");
}

// The largest image file read, whatever its format.
constexpr std::uint64_t kMaxImageFileBytes = std::max({kMaxPngFileBytes, kMaxJpegFileBytes, kMaxDicomFileBytes});

// Decodes an image file's bytes; `what` names it in errors.
inline GrayImage decode_image(std::string_view bytes, const std::string& what, const ImageReadOptions& options = {}) {
    switch (image_format(bytes.substr(0, 132), what)) {
        case ImageFormat::png: return decode_png(bytes, what);
        case ImageFormat::jpeg: return decode_jpeg(bytes, what);
        case ImageFormat::dicom: return decode_dicom(bytes, what, options.dicom);
    }
    return {};
}

inline GrayImage read_image(const std::string& path, const ImageReadOptions& options = {}) {
    return decode_image(io::read_file(path, kMaxImageFileBytes), path, options);
}

// What an image file's header says, before decoding.
struct ImageInfo {
    ImageFormat format = ImageFormat::png;
    int width = 0, height = 0;
    std::uint64_t decode_peak_bytes = 0;  // about the most memory read_image() holds at once
    std::optional<PixelSpacing> spacing;  // DICOM only
};

// The header of the image file at `path`: from a PNG's first 33 bytes, a JPEG's first MiB (the
// whole file when its header runs longer), a DICOM file's whole bytes.
inline ImageInfo read_image_info(const std::string& path) {
    io::RegularFile file(path);
    const std::uint64_t size = file.size();
    const std::string head = file.read(static_cast<std::size_t>(std::min<std::uint64_t>(size, 1ull << 20)));
    ImageInfo info;
    info.format = image_format(head.substr(0, std::min<std::size_t>(head.size(), 132)), path);
    auto whole = [&] {
        AGCNN_CHECK(size <= kMaxImageFileBytes, path, ": ", io::byte_size_text(size), " is larger than an image file "
                    "may be here (", io::byte_size_text(kMaxImageFileBytes), ")");
        return head + file.read(static_cast<std::size_t>(size - head.size()));
    };
    if (info.format == ImageFormat::png) {
        const ImageHeader h = parse_png_header(head, path);
        info.width = h.width, info.height = h.height, info.decode_peak_bytes = png_decode_peak_bytes(h, size);
    } else if (info.format == ImageFormat::jpeg) {
        ImageHeader h;
        try {
            h = parse_jpeg_header(head, path);
        } catch (const Error&) {
            if (head.size() == size) throw;
            h = parse_jpeg_header(whole(), path);
        }
        info.width = h.width, info.height = h.height, info.decode_peak_bytes = size + 3 * h.decoded_bytes();
    } else {
        // The whole file: its element structure is checked to the end before GDCM reads it.
        const DicomHeader h = parse_dicom_header(whole(), path);
        // The file, GDCM's copy of it, the decoded frames, the stored-value indices and the image.
        info.width = h.width, info.height = h.height, info.spacing = h.spacing;
        info.decode_peak_bytes = 3 * size + 3 * h.decoded_bytes();
    }
    return info;
}

// Width and height of the image file at `path`, or an error naming the file.
inline std::pair<int, int> read_image_size(const std::string& path) {
    const ImageInfo info = read_image_info(path);
    return {info.width, info.height};
}

}  // namespace agcnn::data
