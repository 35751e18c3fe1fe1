// agcnn/data/dicom.hpp — DICOM files in, through GDCM: one grayscale frame of a chest radiograph
// (CR, DX or any single-sample image) to a deep GrayImage, by the pipeline of dicom_pixels.hpp.
//
// GDCM (Debian's libgdcm-dev) decodes every transfer syntax it links: implicit and explicit VR
// little endian, RLE, JPEG baseline/extended/lossless, JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG).
// Built only when CMake finds GDCM (option AGCNN_DICOM; AGCNN_WITH_DICOM is then defined for every
// program of the build, as AGCNN_WITH_CUDA is); otherwise a DICOM file is one clear error.
//
// Only DICOM Part 10 files are read ("DICM" after a 128-byte preamble, as every PACS export has),
// and only after their element structure passed dicom_structure.hpp's walk: GDCM 3.0.21 as Debian
// builds it keeps its assertions and aborts the process on some truncated files.
// Refused with one line naming the file: what is not DICOM or is truncated, objects without
// pixel data (structured reports, RT plans), colour (Samples per Pixel > 1 or a photometric
// interpretation other than MONOCHROME1/2), multi-frame images unless a frame is chosen, short
// pixel data, a transfer syntax GDCM cannot decode, and decoded sizes over kMaxDecodedBytes
// (checked from the header before the pixels are decoded).
//
// Patient data: only the attributes the image needs are read (the pixel module, rescale, LUTs,
// windows and pixel spacing); nothing from the header is returned that names a patient, and
// nothing is logged (GDCM's own messages are switched off).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/dicom_pixels.hpp"
#include "agcnn/data/dicom_structure.hpp"
#include "agcnn/data/isolated_call.hpp"
#include "agcnn/data/png.hpp"
#include "agcnn/io/atomic_file.hpp"

#ifdef AGCNN_WITH_DICOM
#include <cstdlib>
#include <exception>
#include <sstream>
#include <tuple>
#include <vector>

#include <gdcmDataSet.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#endif

namespace agcnn::data {

// Whether this build reads DICOM.
#ifdef AGCNN_WITH_DICOM
constexpr bool kDicomBuilt = true;
#else
constexpr bool kDicomBuilt = false;
#endif

// The largest DICOM file read (a 3000 x 3000 16-bit radiograph is 18 MB uncompressed).
constexpr std::uint64_t kMaxDicomFileBytes = 512ull << 20;

// How a DICOM image becomes gray: the VOI step, and which frame of a multi-frame image.
struct DicomOptions {
    VoiMode voi = VoiMode::file;
    int frame = -1;  // -1: the image must have one frame; else the 0-based frame taken
};

// The physical size of a pixel, from Pixel Spacing (0028,0030: calibrated to the patient, used
// first) or Imager Pixel Spacing (0018,1164: at the detector). An all-zero value is absent.
struct PixelSpacing {
    double row_mm = 0, column_mm = 0;  // between rows (y), between columns (x)
    std::string source;                // "PixelSpacing" | "ImagerPixelSpacing"
};

// What a DICOM header says before any pixel is decoded.
struct DicomHeader {
    int width = 0, height = 0, frames = 1;
    int samples_per_pixel = 1, bits_allocated = 0;
    std::optional<PixelSpacing> spacing;
    std::uint64_t decoded_bytes() const {
        return std::uint64_t(width) * std::uint64_t(height) * std::uint64_t(frames) *
               std::uint64_t(samples_per_pixel) * std::uint64_t((bits_allocated + 7) / 8);
    }
};

// "DICM" after the 128-byte preamble.
inline bool has_dicom_signature(std::string_view bytes) {
    return bytes.size() >= 132 && bytes.substr(128, 4) == "DICM";
}

#ifndef AGCNN_WITH_DICOM

inline DicomHeader parse_dicom_header(std::string_view, const std::string& what) {
    throw Error(what + ": DICOM file, but this build of agcnn has no DICOM support (install libgdcm-dev "
                       "and rebuild; see docs/dicom.md)");
}
inline GrayImage decode_dicom(std::string_view bytes, const std::string& what, const DicomOptions& = {}) {
    parse_dicom_header(bytes, what);
    return {};
}

#else

namespace detail {

// GDCM reports through its own streams; the library prints nothing and names no patient.
inline void quiet_gdcm() {
    static const bool once = [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
        return true;
    }();
    (void)once;
}

// The raw bytes of an attribute, or empty.
inline std::string_view element_bytes(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element) {
    const gdcm::Tag tag(group, element);
    if (!ds.FindDataElement(tag)) return {};
    const gdcm::ByteValue* value = ds.GetDataElement(tag).GetByteValue();
    if (value == nullptr || value->GetPointer() == nullptr) return {};
    return {value->GetPointer(), static_cast<std::size_t>(value->GetLength())};
}

// The numbers of a DS/IS attribute ("1.5\2.5"), or none when absent or unreadable.
inline std::vector<double> decimal_values(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element) {
    std::vector<double> out;
    std::string text(element_bytes(ds, group, element));
    std::size_t start = 0;
    while (start <= text.size() && !text.empty()) {
        const std::size_t end = std::min(text.find('\\', start), text.size());
        const std::string item = text.substr(start, end - start);
        char* stop = nullptr;
        const double value = std::strtod(item.c_str(), &stop);
        if (stop == item.c_str() || !std::isfinite(value)) return {};
        out.push_back(value);
        start = end + 1;
    }
    return out;
}

// A code string (CS) without its padding.
inline std::string code_string(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element) {
    std::string text(element_bytes(ds, group, element));
    const std::size_t end = text.find_last_not_of(" \0", std::string::npos, 2);
    text.resize(end == std::string::npos ? 0 : end + 1);
    return text.substr(0, text.find('\\'));
}

// An unsigned 16-bit attribute (US, little endian), or `fallback`.
inline int us_value(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element, int fallback) {
    const std::string_view bytes = element_bytes(ds, group, element);
    if (bytes.size() < 2) return fallback;
    return int(static_cast<unsigned char>(bytes[0])) | (int(static_cast<unsigned char>(bytes[1])) << 8);
}

// The first item of a LUT sequence (Modality 0028,3000 or VOI 0028,3010) as a table: LUT
// Descriptor (0028,3002: entries, first value mapped, bits; 0 entries means 65536) and LUT Data
// (0028,3006), little endian.
inline std::optional<DicomLut> first_lut(const gdcm::DataSet& ds, std::uint16_t element, bool signed_input,
                                         const std::string& what) {
    const std::string name = element == 0x3000 ? "Modality LUT Sequence" : "VOI LUT Sequence";
    const gdcm::Tag tag(0x0028, element);
    if (!ds.FindDataElement(tag)) return std::nullopt;
    const gdcm::SmartPointer<gdcm::SequenceOfItems> sequence = ds.GetDataElement(tag).GetValueAsSQ();
    if (!sequence || sequence->GetNumberOfItems() == 0) return std::nullopt;
    const gdcm::DataSet& item = sequence->GetItem(1).GetNestedDataSet();
    const std::string_view descriptor = element_bytes(item, 0x0028, 0x3002);
    const std::string_view data = element_bytes(item, 0x0028, 0x3006);
    AGCNN_CHECK(descriptor.size() >= 6, what, ": ", name, " without a LUT Descriptor");
    auto word = [&](std::string_view bytes, std::size_t i) {
        return std::uint16_t(static_cast<unsigned char>(bytes[2 * i]) |
                             (static_cast<unsigned char>(bytes[2 * i + 1]) << 8));
    };
    DicomLut lut;
    const std::size_t entries = word(descriptor, 0) == 0 ? 65536 : word(descriptor, 0);
    lut.first_mapped = signed_input ? int(std::int16_t(word(descriptor, 1))) : int(word(descriptor, 1));
    lut.bits = word(descriptor, 2);
    AGCNN_CHECK(lut.bits >= 1 && lut.bits <= 16, what, ": ", name, " of ", lut.bits, " bits per entry");
    const bool bytes_per_entry_one = data.size() == entries && lut.bits <= 8;  // 8-bit entries packed in OB
    AGCNN_CHECK(bytes_per_entry_one || data.size() >= 2 * entries, what, ": ", name, " has ", data.size(),
                " bytes for ", entries, " entries");
    lut.data.resize(entries);
    for (std::size_t i = 0; i < entries; ++i)
        lut.data[i] = bytes_per_entry_one ? std::uint16_t(static_cast<unsigned char>(data[i])) : word(data, i);
    return lut;
}

inline std::optional<PixelSpacing> pixel_spacing(const gdcm::DataSet& ds) {
    for (const auto& [group, element, name] :
         {std::tuple{std::uint16_t(0x0028), std::uint16_t(0x0030), "PixelSpacing"},
          std::tuple{std::uint16_t(0x0018), std::uint16_t(0x1164), "ImagerPixelSpacing"}}) {
        const std::vector<double> v = decimal_values(ds, group, element);
        if (v.size() >= 2 && v[0] > 0 && v[1] > 0)  // all-zero (or partly zero) = absent
            return PixelSpacing{v[0], v[1], name};
    }
    return std::nullopt;
}

inline DicomHeader header_of(const gdcm::DataSet& ds, const std::string& what) {
    DicomHeader h;
    h.height = us_value(ds, 0x0028, 0x0010, 0);
    h.width = us_value(ds, 0x0028, 0x0011, 0);
    const std::vector<double> frames = decimal_values(ds, 0x0028, 0x0008);
    h.frames = frames.empty() ? 1 : static_cast<int>(std::clamp(frames[0], 0.0, 1e9));
    h.samples_per_pixel = us_value(ds, 0x0028, 0x0002, 1);
    h.bits_allocated = us_value(ds, 0x0028, 0x0100, 0);
    h.spacing = pixel_spacing(ds);
    AGCNN_CHECK(h.width >= 1 && h.height >= 1 && h.width <= kMaxImageSide && h.height <= kMaxImageSide, what,
                ": not a DICOM image of a usable size (", h.width, "x", h.height, "; no pixel data or 1..",
                kMaxImageSide, " per side)");
    AGCNN_CHECK(h.frames >= 1, what, ": Number of Frames is ", h.frames);
    // Checked before GDCM builds its pixel format (it asserts on values it does not expect).
    AGCNN_CHECK(h.samples_per_pixel == 1, what, ": colour DICOM image (", h.samples_per_pixel,
                " samples per pixel); only MONOCHROME1/2 are read");
    AGCNN_CHECK(h.bits_allocated == 8 || h.bits_allocated == 16, what, ": ", h.bits_allocated,
                " bits allocated per pixel (8 or 16 are read)");
    AGCNN_CHECK(h.decoded_bytes() <= kMaxDecodedBytes, what, ": refused to decode ", h.frames, " frame(s) of ",
                h.width, "x", h.height, " at ", h.bits_allocated, " bits: it needs ",
                io::byte_size_text(h.decoded_bytes()), ", more than the ", io::byte_size_text(kMaxDecodedBytes),
                " limit");
    return h;
}

// Runs a GDCM call, turning its exceptions into an error naming the file.
template <typename F>
auto guarded(const std::string& what, F&& f) {
    try {
        return f();
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(what + ": not a readable DICOM file (" + e.what() + ")");
    }
}

}  // namespace detail

// The header of DICOM bytes (read up to the pixel data, nothing decoded), in this process (the
// fuzz target's entry; agcnn calls parse_dicom_header, which isolates GDCM in a child process).
inline DicomHeader parse_dicom_header_in_process(std::string_view bytes, const std::string& what) {
    AGCNN_CHECK(bytes.size() <= kMaxDicomFileBytes, what, ": ", io::byte_size_text(bytes.size()),
                " is larger than a DICOM file may be here (", io::byte_size_text(kMaxDicomFileBytes), ")");
    check_dicom_structure(bytes, what);
    detail::quiet_gdcm();
    return detail::guarded(what, [&] {
        std::istringstream stream{std::string(bytes)};
        gdcm::Reader reader;
        reader.SetStream(stream);
        AGCNN_CHECK(reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010)), what, ": not a readable DICOM file");
        return detail::header_of(reader.GetFile().GetDataSet(), what);
    });
}

// Decodes one gray frame of DICOM bytes through the pipeline of dicom_pixels.hpp, in this process
// (see parse_dicom_header_in_process).
inline GrayImage decode_dicom_in_process(std::string_view bytes, const std::string& what,
                                         const DicomOptions& options = {}) {
    const DicomHeader header = parse_dicom_header_in_process(bytes, what);
    return detail::guarded(what, [&] {
        std::istringstream stream{std::string(bytes)};
        gdcm::ImageReader reader;
        reader.SetStream(stream);
        AGCNN_CHECK(reader.Read(), what, ": not a DICOM image (no readable pixel data: a report, a plan or a "
                                         "truncated file?)");
        const gdcm::Image& image = reader.GetImage();
        const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
        const gdcm::PixelFormat& format = image.GetPixelFormat();
        const gdcm::PhotometricInterpretation::PIType photometric = image.GetPhotometricInterpretation();
        const char* transfer_syntax = image.GetTransferSyntax().GetString();
        AGCNN_CHECK(format.GetSamplesPerPixel() == 1 && (photometric == gdcm::PhotometricInterpretation::MONOCHROME1 ||
                                                         photometric == gdcm::PhotometricInterpretation::MONOCHROME2),
                    what, ": colour DICOM image (", gdcm::PhotometricInterpretation::GetPIString(photometric),
                    ", ", format.GetSamplesPerPixel(), " samples per pixel); only MONOCHROME1/2 are read");
        const unsigned int* dims = image.GetDimensions();
        const int frames = image.GetNumberOfDimensions() >= 3 ? int(dims[2]) : 1;
        AGCNN_CHECK(int(dims[0]) == header.width && int(dims[1]) == header.height && frames == header.frames, what,
                    ": inconsistent image size");
        AGCNN_CHECK(options.frame >= 0 || frames == 1, what, ": ", frames,
                    " frames; choose one (--dicom-frame N, 0-based)");
        const int frame = std::max(options.frame, 0);
        AGCNN_CHECK(frame < frames, what, ": frame ", frame, " asked for, the image has ", frames);
        DicomGrayModule m;
        m.rows = header.height;
        m.columns = header.width;
        m.bits_allocated = format.GetBitsAllocated();
        m.bits_stored = format.GetBitsStored();
        m.high_bit = format.GetHighBit();
        m.is_signed = format.GetPixelRepresentation() == 1;
        m.monochrome1 = photometric == gdcm::PhotometricInterpretation::MONOCHROME1;
        m.validate(what);
        if (const auto v = detail::decimal_values(ds, 0x0028, 0x1053); !v.empty()) m.slope = v[0];
        if (const auto v = detail::decimal_values(ds, 0x0028, 0x1052); !v.empty()) m.intercept = v[0];
        m.modality_lut = detail::first_lut(ds, 0x3000, m.is_signed, what);
        const auto centers = detail::decimal_values(ds, 0x0028, 0x1050);
        const auto widths = detail::decimal_values(ds, 0x0028, 0x1051);
        if (!centers.empty() && !widths.empty()) {
            m.window = DicomWindow{centers[0], widths[0], detail::code_string(ds, 0x0028, 0x1056)};
            if (m.window->function.empty()) m.window->function = "LINEAR";
            AGCNN_CHECK(m.window->function == "LINEAR" || m.window->function == "LINEAR_EXACT" ||
                            m.window->function == "SIGMOID",
                        what, ": unknown VOI LUT Function '", m.window->function, "'");
        }
        m.voi_lut = detail::first_lut(ds, 0x3010, m.is_signed && !m.modality_lut, what);
        // Uncompressed pixel data must hold every frame (GDCM would pad a short one silently).
        const gdcm::ByteValue* raw = image.GetDataElement().GetByteValue();
        const std::uint64_t raw_bytes = raw ? std::uint64_t(static_cast<std::uint32_t>(raw->GetLength())) : 0;
        AGCNN_CHECK(raw == nullptr || raw_bytes >= m.frame_bytes() * std::size_t(frames), what,
                    ": pixel data is short (", raw_bytes, " bytes for ", frames, " frame(s) of ", m.frame_bytes(), ")");
        const unsigned long length = image.GetBufferLength();
        AGCNN_CHECK(length >= m.frame_bytes() * std::size_t(frames), what, ": pixel data is short (", length,
                    " bytes for ", frames, " frame(s) of ", m.frame_bytes(), ")");
        std::vector<char> buffer(length);
        AGCNN_CHECK(image.GetBuffer(buffer.data()), what, ": cannot decode the pixel data (transfer syntax ",
                    transfer_syntax ? transfer_syntax : "unknown", ")");
        return dicom_gray_image(m, buffer.data() + m.frame_bytes() * std::size_t(frame), m.frame_bytes(),
                                options.voi, what);
    });
}

// The header of DICOM bytes (read up to the pixel data, nothing decoded); `what` names the file.
// GDCM runs in a child process (isolated_call.hpp): a file that crashes it is an error line.
inline DicomHeader parse_dicom_header(std::string_view bytes, const std::string& what) {
    const std::string answer = isolated_call(what, "the DICOM reader (GDCM)", 1 << 16, [&] {
        const DicomHeader h = parse_dicom_header_in_process(bytes, what);
        char text[512];
        std::snprintf(text, sizeof text, "%d %d %d %d %d %d %.17g %.17g %s", h.width, h.height, h.frames,
                      h.samples_per_pixel, h.bits_allocated, h.spacing ? 1 : 0, h.spacing ? h.spacing->row_mm : 0.0,
                      h.spacing ? h.spacing->column_mm : 0.0, h.spacing ? h.spacing->source.c_str() : "-");
        return std::string(text);
    });
    DicomHeader h;
    int has_spacing = 0;
    PixelSpacing spacing;
    char source[64] = {0};
    AGCNN_CHECK(std::sscanf(answer.c_str(), "%d %d %d %d %d %d %lf %lf %63s", &h.width, &h.height, &h.frames,
                            &h.samples_per_pixel, &h.bits_allocated, &has_spacing, &spacing.row_mm,
                            &spacing.column_mm, source) == 9,
                what, ": garbled answer from the DICOM reader");
    spacing.source = source;
    if (has_spacing) h.spacing = spacing;
    return h;
}

// Decodes one gray frame of DICOM bytes through the pipeline of dicom_pixels.hpp; GDCM runs in a
// child process (isolated_call.hpp).
inline GrayImage decode_dicom(std::string_view bytes, const std::string& what, const DicomOptions& options = {}) {
    const std::string answer = isolated_call(what, "the DICOM decoder (GDCM)", 8 + kMaxDecodedBytes, [&] {
        const GrayImage image = decode_dicom_in_process(bytes, what, options);
        const std::int32_t size[2] = {image.width, image.height};
        std::string out(reinterpret_cast<const char*>(size), sizeof size);
        out.append(reinterpret_cast<const char*>(image.deep.data()), image.deep.size() * 2);
        return out;
    });
    std::int32_t size[2] = {0, 0};
    AGCNN_CHECK(answer.size() >= 8, what, ": garbled answer from the DICOM decoder");
    std::memcpy(size, answer.data(), 8);
    GrayImage image;
    image.width = size[0];
    image.height = size[1];
    AGCNN_CHECK(image.width >= 1 && image.height >= 1 &&
                    answer.size() == 8 + 2 * std::uint64_t(image.width) * std::uint64_t(image.height),
                what, ": garbled answer from the DICOM decoder");
    image.deep.resize(std::size_t(image.width) * std::size_t(image.height));
    std::memcpy(image.deep.data(), answer.data() + 8, image.deep.size() * 2);
    return image;
}

#endif  // AGCNN_WITH_DICOM

inline GrayImage read_dicom(const std::string& path, const DicomOptions& options = {}) {
    return decode_dicom(io::read_file(path, kMaxDicomFileBytes), path, options);
}

}  // namespace agcnn::data
