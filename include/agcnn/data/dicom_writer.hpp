// agcnn/data/dicom_writer.hpp — grayscale DICOM files out, through GDCM: for `agcnn synth --format
// dicom` and for tests that write the DICOM files they read (every photometric interpretation,
// bit depth and transfer syntax agcnn claims to read). Not a general DICOM writer: one frame of
// 16-bit-allocated (or 8-bit) stored values, a DX For Presentation object with the attributes given.
// UIDs are derived from `uid_seed`, so the same spec gives the same bytes.
// Only built with GDCM (AGCNN_WITH_DICOM); without it, encode_dicom() is an error saying so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/data/dicom.hpp"

#ifdef AGCNN_WITH_DICOM
#include <sstream>

#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageWriter.h>
#include <gdcmReader.h>
#include <gdcmWriter.h>
#endif

namespace agcnn::data {

// The transfer syntaxes written: explicit VR little endian, RLE, JPEG lossless (process 14, SV1),
// JPEG-LS lossless, JPEG 2000 lossless.
constexpr const char* kDicomTransferSyntaxes[] = {"explicit", "rle", "jpeg-lossless", "jpeg-ls", "j2k"};

// A text attribute written as given (group, element, VR, value), e.g. the identifying fields of
// the test that checks none of them leaves the file.
struct DicomTextAttribute {
    std::uint16_t group = 0, element = 0;
    std::string vr, value;
};

struct DicomWriteSpec {
    int bits_stored = 16;  // 1..16 (bits allocated: 8 when bits_stored <= 8, else 16; high bit = stored - 1)
    bool monochrome1 = false;
    std::string transfer_syntax = "explicit";  // one of kDicomTransferSyntaxes
    std::optional<double> slope, intercept;    // Rescale Slope / Intercept, written when set
    std::optional<DicomWindow> window;         // Window Center / Width (and VOI LUT Function)
    std::optional<PixelSpacing> spacing;       // written under spacing->source's tag
    std::vector<DicomTextAttribute> text;
    std::uint64_t uid_seed = 0;
};

#ifndef AGCNN_WITH_DICOM

inline std::string encode_dicom(const std::uint16_t*, int, int, const DicomWriteSpec&) {
    throw Error("writing DICOM: this build of agcnn has no DICOM support (install libgdcm-dev and rebuild)");
}

#else

namespace detail {

inline gdcm::TransferSyntax::TSType transfer_syntax_type(const std::string& name) {
    if (name == "explicit") return gdcm::TransferSyntax::ExplicitVRLittleEndian;
    if (name == "rle") return gdcm::TransferSyntax::RLELossless;
    if (name == "jpeg-lossless") return gdcm::TransferSyntax::JPEGLosslessProcess14_1;
    if (name == "jpeg-ls") return gdcm::TransferSyntax::JPEGLSLossless;
    AGCNN_CHECK(name == "j2k", "DICOM transfer syntax '", name,
                "' is not one of explicit, rle, jpeg-lossless, jpeg-ls, j2k");
    return gdcm::TransferSyntax::JPEG2000Lossless;
}

// A DICOM value of even length: text padded with a space, UIDs with a NUL.
inline void put(gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element, const char* vr, std::string value) {
    if (value.size() % 2 != 0) value += std::string(vr) == "UI" ? '\0' : ' ';
    gdcm::DataElement de(gdcm::Tag(group, element));
    de.SetVR(gdcm::VR::GetVRType(vr));
    de.SetByteValue(value.data(), gdcm::VL(static_cast<std::uint32_t>(value.size())));
    ds.Replace(de);
}

inline std::string decimal_text(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.10g", v);
    return text;
}

}  // namespace detail

// DICOM bytes of one frame of `stored` values (width x height, row-major).
inline std::string encode_dicom(const std::uint16_t* stored, int width, int height, const DicomWriteSpec& spec) {
    AGCNN_CHECK(width >= 1 && height >= 1 && spec.bits_stored >= 1 && spec.bits_stored <= 16,
                "writing DICOM: bad size ", width, "x", height, " or bits stored ", spec.bits_stored);
    detail::quiet_gdcm();
    const int bits_allocated = spec.bits_stored <= 8 ? 8 : 16;
    const std::size_t count = std::size_t(width) * std::size_t(height);
    std::vector<char> bytes(count * std::size_t(bits_allocated / 8));
    for (std::size_t i = 0; i < count; ++i) {
        AGCNN_CHECK(stored[i] < (1u << spec.bits_stored), "writing DICOM: stored value ", stored[i], " needs more than ",
                    spec.bits_stored, " bits");
        if (bits_allocated == 8) bytes[i] = static_cast<char>(stored[i]);
        else std::memcpy(bytes.data() + 2 * i, &stored[i], 2);  // little-endian host
    }
    gdcm::ImageWriter writer;
    gdcm::Image& image = writer.GetImage();
    image.SetNumberOfDimensions(2);
    image.SetDimension(0, static_cast<unsigned int>(width));
    image.SetDimension(1, static_cast<unsigned int>(height));
    gdcm::PixelFormat format(bits_allocated == 8 ? gdcm::PixelFormat::UINT8 : gdcm::PixelFormat::UINT16);
    format.SetBitsStored(static_cast<unsigned short>(spec.bits_stored));
    format.SetHighBit(static_cast<unsigned short>(spec.bits_stored - 1));
    image.SetPixelFormat(format);
    image.SetPhotometricInterpretation(spec.monochrome1 ? gdcm::PhotometricInterpretation::MONOCHROME1
                                                        : gdcm::PhotometricInterpretation::MONOCHROME2);
    image.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
    gdcm::DataElement pixel_data(gdcm::Tag(0x7fe0, 0x0010));
    pixel_data.SetByteValue(bytes.data(), gdcm::VL(static_cast<std::uint32_t>(bytes.size())));
    image.SetDataElement(pixel_data);
    gdcm::ImageChangeTransferSyntax change;
    change.SetTransferSyntax(detail::transfer_syntax_type(spec.transfer_syntax));
    change.SetInput(image);
    AGCNN_CHECK(change.Change(), "writing DICOM: GDCM cannot encode ", spec.transfer_syntax, " at ", spec.bits_stored,
                " bits");
    writer.SetImage(change.GetOutput());
    detail::put(writer.GetFile().GetDataSet(), 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.1.1");  // DX, For Presentation
    std::ostringstream encoded;
    writer.SetStream(encoded);
    AGCNN_CHECK(writer.Write(), "writing DICOM: GDCM could not write the image");

    // Second pass, on the data set alone: GDCM's image writer fills in attributes of its own
    // (today's Study Date and Time, a 1\1 Imager Pixel Spacing); they are replaced by the spec's.
    std::istringstream written(encoded.str());
    gdcm::Reader reader;
    reader.SetStream(written);
    AGCNN_CHECK(reader.Read(), "writing DICOM: GDCM cannot read back what it wrote");
    gdcm::DataSet& ds = reader.GetFile().GetDataSet();
    ds.Remove(gdcm::Tag(0x0018, 0x1164));
    ds.Remove(gdcm::Tag(0x0028, 0x0030));
    const std::string uid = "2.25." + std::to_string(spec.uid_seed % 100000000000000000ull);
    detail::put(ds, 0x0008, 0x0018, "UI", uid + ".1");  // SOP Instance
    detail::put(ds, 0x0020, 0x000D, "UI", uid + ".2");  // Study Instance
    detail::put(ds, 0x0020, 0x000E, "UI", uid + ".3");  // Series Instance
    detail::put(ds, 0x0008, 0x0020, "DA", "20000101");  // Study Date and Time: fixed, not today's
    detail::put(ds, 0x0008, 0x0030, "TM", "000000");
    detail::put(ds, 0x0008, 0x0060, "CS", "DX");
    if (spec.slope) detail::put(ds, 0x0028, 0x1053, "DS", detail::decimal_text(*spec.slope));
    if (spec.intercept) detail::put(ds, 0x0028, 0x1052, "DS", detail::decimal_text(*spec.intercept));
    if (spec.window) {
        detail::put(ds, 0x0028, 0x1050, "DS", detail::decimal_text(spec.window->center));
        detail::put(ds, 0x0028, 0x1051, "DS", detail::decimal_text(spec.window->width));
        if (spec.window->function != "LINEAR") detail::put(ds, 0x0028, 0x1056, "CS", spec.window->function);
    }
    if (spec.spacing) {
        const bool imager = spec.spacing->source == "ImagerPixelSpacing";
        detail::put(ds, imager ? 0x0018 : 0x0028, imager ? 0x1164 : 0x0030, "DS",
                    detail::decimal_text(spec.spacing->row_mm) + "\\" + detail::decimal_text(spec.spacing->column_mm));
    }
    for (const DicomTextAttribute& a : spec.text) detail::put(ds, a.group, a.element, a.vr.c_str(), a.value);
    gdcm::File& file = reader.GetFile();
    file.GetHeader().Remove(gdcm::Tag(0x0002, 0x0003));  // refilled from the new SOP Instance UID
    gdcm::Writer out_writer;
    out_writer.SetFile(file);
    std::ostringstream out;
    out_writer.SetStream(out);
    AGCNN_CHECK(out_writer.Write(), "writing DICOM: GDCM could not write the file");
    return out.str();
}

#endif  // AGCNN_WITH_DICOM

}  // namespace agcnn::data
