// agcnn/io/dtype.hpp — the element types agcnn reads from weight files, and their conversion to
// float32 (the engine's only compute type).
//
// F32 is copied; F16 and BF16 widen exactly; F64 rounds to nearest. Integer types (I64, I32, ...)
// appear only for counters such as num_batches_tracked.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::io {

inline std::size_t dtype_size(const std::string& dtype) {
    if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
    if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
    if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
    if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
    return 0;  // unknown
}

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = (h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1Fu;
    std::uint32_t mantissa = h & 0x3FFu;
    std::uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                --exponent;
            }
            bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
        }
    } else if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

inline float bfloat16_to_float(std::uint16_t b) {
    const std::uint32_t bits = std::uint32_t(b) << 16;
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

// Converts `count` little-endian elements of `dtype` at `bytes` to float32.
// `what` names the tensor and file for the error message.
inline std::vector<float> to_float32(const std::string& dtype, const unsigned char* bytes,
                                     std::size_t count, const std::string& what) {
    std::vector<float> out(count);
    if (dtype == "F32") {
        std::memcpy(out.data(), bytes, count * 4);
    } else if (dtype == "F64") {
        for (std::size_t i = 0; i < count; ++i) {
            double v;
            std::memcpy(&v, bytes + 8 * i, 8);
            out[i] = static_cast<float>(v);
        }
    } else if (dtype == "F16" || dtype == "BF16") {
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t v;
            std::memcpy(&v, bytes + 2 * i, 2);
            out[i] = dtype == "F16" ? half_to_float(v) : bfloat16_to_float(v);
        }
    } else if (dtype == "I64") {
        for (std::size_t i = 0; i < count; ++i) {
            std::int64_t v;
            std::memcpy(&v, bytes + 8 * i, 8);
            out[i] = static_cast<float>(v);
        }
    } else {
        throw Error(what + ": unsupported dtype " + dtype + " (expected F32, F16, BF16 or F64)");
    }
    return out;
}

}  // namespace agcnn::io
