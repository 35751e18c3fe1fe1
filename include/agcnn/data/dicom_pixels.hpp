// agcnn/data/dicom_pixels.hpp — the grayscale pipeline a radiologist's viewer applies to a DICOM
// image's stored pixels, in the standard's order (PS3.3 C.7.6.3, C.11.1, C.11.2; PS3.4 N.2), from
// one frame of decoded samples to a deep GrayImage with bone bright, as in the NIH PNGs. Pure
// arithmetic, no GDCM: data/dicom.hpp reads the attributes and the samples, this file applies them.
//
//   1. Stored value: the Bits Stored bits ending at High Bit of each Bits Allocated (8 or 16)
//      sample; the bits above are masked off (overlays and garbage may live there). With Pixel
//      Representation 1 the stored value is two's complement in Bits Stored bits.
//   2. Modality LUT: a Modality LUT Sequence's table when present (index = stored value - first
//      value mapped, clamped to the table), else Rescale Slope x stored + Rescale Intercept.
//   3. VOI, by VoiMode:
//        file    the first Window Center/Width with the VOI LUT Function (LINEAR by default,
//                C.11.2.1.2.1; LINEAR_EXACT C.11.2.1.3.2; SIGMOID C.11.2.1.3.1), else the first
//                VOI LUT Sequence table, else (the file has neither) as minmax;
//        minmax  the image's own minimum and maximum (after the modality LUT) to black and white;
//        none    every value the modality LUT can produce from the stored range, mapped linearly.
//      The result is a value in [0, 1].
//   4. MONOCHROME1 (white = low values) is inverted: 1 - value.
//   5. Deep sample = round(value x 65535).
// Every possible stored value (at most 2^16) is mapped once into a table, then each pixel is one
// lookup. Not applied: Pixel Padding Value, Presentation LUTs and overlays (shown in docs/dicom.md).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/data/batch.hpp"

namespace agcnn::data {

enum class VoiMode { file, minmax, none };

inline VoiMode parse_voi_mode(const std::string& text) {
    if (text == "file") return VoiMode::file;
    if (text == "minmax") return VoiMode::minmax;
    AGCNN_CHECK(text == "none", "--dicom-voi: '", text, "' is not one of file, minmax, none");
    return VoiMode::none;
}

// A Modality or VOI LUT: its descriptor (number of entries, first stored/input value mapped,
// bits per entry) and its entries.
struct DicomLut {
    int first_mapped = 0;
    int bits = 16;
    std::vector<std::uint16_t> data;

    double at(double input) const {
        const double index = std::clamp(std::floor(input) - first_mapped, 0.0, double(data.size() - 1));
        return data[static_cast<std::size_t>(index)];
    }
    std::uint16_t largest() const { return *std::max_element(data.begin(), data.end()); }
    std::uint16_t smallest() const { return *std::min_element(data.begin(), data.end()); }
};

// One VOI window (C.11.2.1.2).
struct DicomWindow {
    double center = 0, width = 0;
    std::string function = "LINEAR";  // LINEAR | LINEAR_EXACT | SIGMOID
};

// What the pipeline needs from the Image Pixel, Modality LUT and VOI LUT modules.
struct DicomGrayModule {
    int rows = 0, columns = 0;
    int bits_allocated = 16, bits_stored = 16, high_bit = 15;
    bool is_signed = false;    // Pixel Representation 1
    bool monochrome1 = false;  // Photometric Interpretation MONOCHROME1
    double slope = 1, intercept = 0;
    std::optional<DicomLut> modality_lut;
    std::optional<DicomWindow> window;
    std::optional<DicomLut> voi_lut;

    // Refuses a module the pipeline cannot apply; `what` names the file.
    void validate(const std::string& what) const {
        AGCNN_CHECK(rows >= 1 && columns >= 1, what, ": DICOM image of ", columns, "x", rows, " pixels");
        AGCNN_CHECK(bits_allocated == 8 || bits_allocated == 16, what, ": ", bits_allocated,
                    " bits allocated per pixel (8 or 16 are read)");
        AGCNN_CHECK(bits_stored >= 1 && bits_stored <= bits_allocated && high_bit >= bits_stored - 1 &&
                        high_bit < bits_allocated,
                    what, ": inconsistent Bits Stored ", bits_stored, " / High Bit ", high_bit, " for ",
                    bits_allocated, " bits allocated");
        AGCNN_CHECK(std::isfinite(slope) && std::isfinite(intercept) && slope != 0, what,
                    ": unusable Rescale Slope ", slope, " / Intercept ", intercept);
        AGCNN_CHECK(!modality_lut || !modality_lut->data.empty(), what, ": empty Modality LUT");
        AGCNN_CHECK(!voi_lut || !voi_lut->data.empty(), what, ": empty VOI LUT");
    }
    std::size_t frame_bytes() const {
        return std::size_t(rows) * std::size_t(columns) * std::size_t(bits_allocated / 8);
    }
};

namespace detail {

// Step 1: the stored value of a raw sample.
inline int stored_value(std::uint32_t raw, const DicomGrayModule& m) {
    const std::uint32_t mask = m.bits_stored == 32 ? ~0u : (1u << m.bits_stored) - 1;
    const std::uint32_t bits = (raw >> (m.high_bit + 1 - m.bits_stored)) & mask;
    if (m.is_signed && (bits >> (m.bits_stored - 1)) != 0) return int(bits) - (1 << m.bits_stored);
    return int(bits);
}

// Step 2: the modality LUT.
inline double modality_value(int stored, const DicomGrayModule& m) {
    return m.modality_lut ? m.modality_lut->at(stored) : stored * m.slope + m.intercept;
}

// Step 3 for a window (C.11.2.1.2.1, C.11.2.1.3.1, C.11.2.1.3.2): a value in [0, 1].
inline double window_value(double x, const DicomWindow& w) {
    if (w.function == "SIGMOID") return 1.0 / (1.0 + std::exp(-4.0 * (x - w.center) / w.width));
    if (w.function == "LINEAR_EXACT") {
        if (x <= w.center - w.width / 2) return 0;
        if (x > w.center + w.width / 2) return 1;
        return (x - w.center) / w.width + 0.5;
    }
    if (x <= w.center - 0.5 - (w.width - 1) / 2) return 0;
    if (x > w.center - 0.5 + (w.width - 1) / 2) return 1;
    return (x - (w.center - 0.5)) / (w.width - 1) + 0.5;
}

}  // namespace detail

// The deep gray image of one frame: `frame` holds rows x columns samples of bits_allocated bits
// in the host's byte order (as GDCM decodes them). `what` names the file in errors.
inline GrayImage dicom_gray_image(const DicomGrayModule& m, const void* frame, std::size_t frame_size,
                                  VoiMode voi, const std::string& what) {
    m.validate(what);
    AGCNN_CHECK(frame_size >= m.frame_bytes(), what, ": pixel data is short: ", frame_size, " bytes for a ",
                m.columns, "x", m.rows, " frame of ", m.bits_allocated, "-bit samples (", m.frame_bytes(),
                " needed)");
    const std::size_t count = std::size_t(m.rows) * std::size_t(m.columns);
    // Stored values, offset so the smallest possible one is index 0 of the table.
    const int lowest = m.is_signed ? -(1 << (m.bits_stored - 1)) : 0;
    const int highest = m.is_signed ? (1 << (m.bits_stored - 1)) - 1 : (1 << m.bits_stored) - 1;
    std::vector<std::uint16_t> index(count);
    const auto* bytes = static_cast<const unsigned char*>(frame);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t raw = bytes[i];
        if (m.bits_allocated == 16) {
            std::uint16_t sample;
            std::memcpy(&sample, bytes + 2 * i, 2);
            raw = sample;
        }
        index[i] = static_cast<std::uint16_t>(detail::stored_value(raw, m) - lowest);
    }
    // The VOI input range [low, high] (minmax and none), or the window / VOI LUT (file).
    auto modality = [&](int stored) { return detail::modality_value(stored, m); };
    const bool use_window = voi == VoiMode::file && m.window.has_value();
    const bool use_voi_lut = voi == VoiMode::file && !use_window && m.voi_lut.has_value();
    double low = 0, high = 0;
    if (voi == VoiMode::none) {
        low = std::min(modality(lowest), modality(highest));
        high = std::max(modality(lowest), modality(highest));
        if (m.modality_lut) low = m.modality_lut->smallest(), high = m.modality_lut->largest();
    } else if (!use_window && !use_voi_lut) {
        const auto [lo, hi] = std::minmax_element(index.begin(), index.end());
        low = std::min(modality(*lo + lowest), modality(*hi + lowest));
        high = std::max(modality(*lo + lowest), modality(*hi + lowest));
        if (m.modality_lut) {  // a table need not be monotonic: look at every value present
            low = high = modality(index[0] + lowest);
            for (std::uint16_t k : index) low = std::min(low, modality(k + lowest)), high = std::max(high, modality(k + lowest));
        }
    }
    if (use_window)
        AGCNN_CHECK(std::isfinite(m.window->center) && std::isfinite(m.window->width) &&
                        (m.window->function == "LINEAR" ? m.window->width >= 1 : m.window->width > 0),
                    what, ": unusable VOI window (center ", m.window->center, ", width ", m.window->width, ", ",
                    m.window->function, ")");
    std::vector<std::uint16_t> table(std::size_t(highest - lowest) + 1);
    for (int stored = lowest; stored <= highest; ++stored) {
        const double x = modality(stored);
        double value = 0;
        if (use_window) value = detail::window_value(x, *m.window);
        else if (use_voi_lut) value = m.voi_lut->at(x) / (std::ldexp(1.0, m.voi_lut->bits) - 1);
        else value = high > low ? (x - low) / (high - low) : 0.0;
        value = std::clamp(value, 0.0, 1.0);
        if (m.monochrome1) value = 1 - value;
        table[std::size_t(stored - lowest)] = static_cast<std::uint16_t>(std::lround(value * 65535));
    }
    GrayImage image;
    image.width = m.columns;
    image.height = m.rows;
    image.deep.resize(count);
    for (std::size_t i = 0; i < count; ++i) image.deep[i] = table[index[i]];
    return image;
}

}  // namespace agcnn::data
