// agcnn/data/synth_dicom.hpp — a synthetic 8-bit X-ray as the DICOM file a PACS would hold, for
// `agcnn synth --format dicom`: the images of a data set cycle through MONOCHROME2 and MONOCHROME1,
// 16 and 12 bits stored, and five transfer syntaxes (explicit VR little endian, RLE, JPEG lossless,
// JPEG-LS lossless, JPEG 2000 lossless), 20 variants in all.
//
// Each file is exact: gray level v (0..255) is stored as round(v * max / 255) with max = 2^bits - 1
// (inverted, max - that, for MONOCHROME1), with a window of centre 2^(bits-1), width 2^bits, which
// the standard's linear VOI maps back to v / 255 of full scale. So the DICOM reads back as the
// same picture at 16-bit precision (data/dicom_pixels.hpp), whatever the variant. The pixel spacing
// is NIH's 0.143 mm (as Imager Pixel Spacing). No patient attribute is written.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "agcnn/data/batch.hpp"
#include "agcnn/data/dicom_writer.hpp"

namespace agcnn::data {

struct SynthDicomVariant {
    int bits_stored = 16;
    bool monochrome1 = false;
    std::string transfer_syntax = "explicit";
};

// Variant `index` of the 20 (cycling).
inline SynthDicomVariant synth_dicom_variant(std::size_t index) {
    const std::size_t k = index % 20;
    return {(k / 5) % 2 == 0 ? 16 : 12, k >= 10, kDicomTransferSyntaxes[k % 5]};
}

// The stored values of an 8-bit image in a variant (see the header comment).
inline std::vector<std::uint16_t> synth_stored_values(const GrayImage& image, const SynthDicomVariant& v) {
    AGCNN_CHECK(!image.is_deep(), "synthetic DICOM: expected an 8-bit image");
    const double max = std::ldexp(1.0, v.bits_stored) - 1;
    std::vector<std::uint16_t> stored(image.pixels.size());
    for (std::size_t i = 0; i < stored.size(); ++i) {
        const auto s = static_cast<std::uint16_t>(std::lround(image.pixels[i] * max / 255));
        stored[i] = v.monochrome1 ? static_cast<std::uint16_t>(max - s) : s;
    }
    return stored;
}

// DICOM bytes of an 8-bit synthetic image in a variant; `uid_seed` makes its UIDs.
inline std::string synth_dicom(const GrayImage& image, const SynthDicomVariant& v, std::uint64_t uid_seed) {
    DicomWriteSpec spec;
    spec.bits_stored = v.bits_stored;
    spec.monochrome1 = v.monochrome1;
    spec.transfer_syntax = v.transfer_syntax;
    spec.window = DicomWindow{std::ldexp(1.0, v.bits_stored - 1), std::ldexp(1.0, v.bits_stored), "LINEAR"};
    spec.spacing = PixelSpacing{0.143, 0.143, "ImagerPixelSpacing"};
    spec.uid_seed = uid_seed;
    const std::vector<std::uint16_t> stored = synth_stored_values(image, v);
    return encode_dicom(stored.data(), image.width, image.height, spec);
}

}  // namespace agcnn::data
