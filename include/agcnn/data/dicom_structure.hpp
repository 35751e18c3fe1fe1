// agcnn/data/dicom_structure.hpp — a strict walk over the element structure of DICOM Part 10
// bytes (PS3.10 7.1 preamble and meta group, PS3.5 7.1 data elements, 7.5 sequences, A.4
// encapsulated pixel data) before GDCM sees them. No GDCM, no allocation beyond the walk.
//
// Why: GDCM 3.0.21 as Debian builds it keeps its assert()s, and several of its readers abort the
// process on truncated or inconsistent input instead of failing (found by the fuzz target,
// tests/fuzz/fuzz_dicom.cpp). Every length must fit in what remains, sequences and items must be
// closed, nesting is bounded, value representations must be the standard's (PS3.5 6.2), and the
// transfer syntax must be little endian (implicit or
// explicit; compressed syntaxes are explicit little endian with encapsulated pixel data).
// Bytes that pass are well-formed at the element level; what the elements mean is GDCM's job.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "agcnn/core/error.hpp"

namespace agcnn::data {

namespace detail {

class DicomWalk {
public:
    DicomWalk(std::string_view bytes, const std::string& what) : b_(bytes), what_(what) {}

    // The transfer syntax UID from the meta group; throws when the structure is broken.
    std::string walk() {
        AGCNN_CHECK(b_.size() >= 132 && b_.substr(128, 4) == "DICM", what_, ": not a DICOM Part 10 file (no 'DICM' "
                    "after the 128-byte preamble; files without it are not read)");
        std::size_t at = 132;
        std::string syntax;
        std::size_t meta_end = 0;  // from the File Meta Information Group Length, when given
        while (at + 4 <= b_.size() && u16(at) == 0x0002) {
            const std::size_t start = at;
            const Element e = element(at, true, b_.size());
            AGCNN_CHECK(e.length != kUndefined, what_, ": broken DICOM meta header (undefined length at byte ", start, ")");
            if (e.tag == 0x00020000 && e.length == 4) meta_end = e.value + 4 + u32(e.value);
            if (e.tag == 0x00020010) syntax = trimmed(b_.substr(e.value, e.length));
            at = e.value + e.length;
        }
        AGCNN_CHECK(meta_end == 0 || meta_end == at, what_, ": broken DICOM meta header (its group length says it ends "
                    "at byte ", meta_end, ", its elements end at ", at, ")");
        AGCNN_CHECK(!syntax.empty() && syntax.size() <= 64 &&
                        syntax.find_first_not_of("0123456789.") == std::string::npos,
                    what_, ": broken DICOM meta header (no valid Transfer Syntax UID)");
        AGCNN_CHECK(syntax != "1.2.840.10008.1.2.2" && syntax != "1.2.840.10008.1.2.1.99", what_,
                    ": transfer syntax ", syntax, " (big endian or deflated) is not read");
        explicit_ = syntax != "1.2.840.10008.1.2";
        encapsulated_ = syntax != "1.2.840.10008.1.2" && syntax != "1.2.840.10008.1.2.1";
        elements(at, b_.size(), 0, false);
        return syntax;
    }

private:
    static constexpr std::uint32_t kUndefined = 0xFFFFFFFFu;
    static constexpr int kMaxDepth = 16;
    struct Element {
        std::uint32_t tag = 0;
        char vr[2] = {0, 0};
        std::uint32_t length = 0;
        std::size_t value = 0;  // offset of the value
    };

    std::uint16_t u16(std::size_t at) const {
        return std::uint16_t(static_cast<unsigned char>(b_[at]) | (static_cast<unsigned char>(b_[at + 1]) << 8));
    }
    std::uint32_t u32(std::size_t at) const { return std::uint32_t(u16(at)) | (std::uint32_t(u16(at + 2)) << 16); }
    static std::string trimmed(std::string_view text) {
        std::string s(text);
        while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
        return s;
    }
    void broken(std::size_t at, const char* why) const {
        throw Error(what_ + ": truncated or malformed DICOM file (" + why + " at byte " + std::to_string(at) + ")");
    }

    // The element header at `at`, its value within [value, end) unless undefined.
    Element element(std::size_t at, bool explicit_vr, std::size_t end) const {
        if (at + 8 > end) broken(at, "element header cut short");
        Element e;
        e.tag = (std::uint32_t(u16(at)) << 16) | u16(at + 2);
        const bool delimiter = (e.tag >> 16) == 0xFFFE;  // items and delimiters: tag + 4-byte length
        if (explicit_vr && !delimiter) {
            e.vr[0] = b_[at + 4], e.vr[1] = b_[at + 5];
            static constexpr std::string_view kVrs =
                "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
            bool known = false;
            for (std::size_t k = 0; k < kVrs.size(); k += 2) known = known || kVrs.substr(k, 2) == std::string_view(e.vr, 2);
            if (!known) broken(at, "unknown value representation");
            static constexpr const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
            bool long_form = false;
            for (const char* vr : kLong) long_form = long_form || std::memcmp(vr, e.vr, 2) == 0;
            if (long_form) {
                if (at + 12 > end) broken(at, "element header cut short");
                e.length = u32(at + 8);
                e.value = at + 12;
            } else {
                e.length = u16(at + 6);
                e.value = at + 8;
            }
        } else {
            e.length = u32(at + 4);
            e.value = at + 8;
        }
        if (e.length != kUndefined && (e.value > end || e.length > end - e.value)) broken(at, "value runs past its end");
        return e;
    }

    // Elements in [at, end), or up to an item delimiter when `in_undefined_item`; returns where
    // the walk stopped (after the delimiter).
    std::size_t elements(std::size_t at, std::size_t end, int depth, bool in_undefined_item) {
        if (depth > kMaxDepth) broken(at, "sequences nested too deep");
        while (at < end) {
            const std::size_t start = at;
            const Element e = element(at, explicit_, end);
            if (e.tag == 0xFFFEE00D) {  // item delimiter
                if (!in_undefined_item) broken(start, "item delimiter outside an item");
                return e.value;
            }
            if ((e.tag >> 16) == 0xFFFE) broken(start, "item or delimiter outside a sequence");
            const bool sequence = explicit_ ? std::memcmp(e.vr, "SQ", 2) == 0 : e.length == kUndefined;
            if (e.tag == 0x7FE00010 && e.length == kUndefined) {
                // Encapsulated (PS3.5 A.4): OB (OW in some writers' files), in a compressed
                // transfer syntax, at the top level. GDCM asserts on other VRs.
                if (!encapsulated_ || depth != 0 || (std::memcmp(e.vr, "OB", 2) != 0 && std::memcmp(e.vr, "OW", 2) != 0))
                    broken(start, "encapsulated pixel data not OB/OW in a compressed transfer syntax");
                at = fragments(e.value, end);
            } else if (sequence) {
                at = items(e.value, e.length == kUndefined ? end : e.value + e.length, depth + 1, e.length == kUndefined);
            } else {
                if (e.length == kUndefined) broken(start, "undefined length outside a sequence");
                at = e.value + e.length;
            }
        }
        if (in_undefined_item) broken(at, "item not closed");
        return at;
    }

    // The items of a sequence in [at, end); an undefined-length sequence ends at its delimiter.
    std::size_t items(std::size_t at, std::size_t end, int depth, bool undefined) {
        while (at < end) {
            const std::size_t start = at;
            const Element e = element(at, false, end);
            if (e.tag == 0xFFFEE0DD) {  // sequence delimiter
                if (!undefined) broken(start, "sequence delimiter in a defined-length sequence");
                return e.value;
            }
            if (e.tag != 0xFFFEE000) broken(start, "expected an item");
            at = e.length == kUndefined ? elements(e.value, end, depth, true)
                                        : (elements(e.value, e.value + e.length, depth, false), e.value + e.length);
        }
        if (undefined) broken(at, "sequence not closed");
        return at;
    }

    // Encapsulated pixel data: items of defined length, then a sequence delimiter.
    std::size_t fragments(std::size_t at, std::size_t end) const {
        while (true) {
            const Element e = element(at, false, end);
            if (e.tag == 0xFFFEE0DD) return e.value;
            if (e.tag != 0xFFFEE000 || e.length == kUndefined) broken(at, "bad pixel data fragment");
            at = e.value + e.length;
        }
    }

    std::string_view b_;
    const std::string& what_;
    bool explicit_ = true;
    bool encapsulated_ = false;  // a compressed transfer syntax: pixel data in fragments
};

}  // namespace detail

// Checks the element structure of DICOM Part 10 bytes; returns the transfer syntax UID. Errors
// name the file (`what`) and the byte where the structure breaks.
inline std::string check_dicom_structure(std::string_view bytes, const std::string& what) {
    return detail::DicomWalk(bytes, what).walk();
}

}  // namespace agcnn::data
