// agcnn/ops/cpu/short_copy.hpp — copying and zeroing short runs of values without a library call.
//
// copy_short(src, count, dst) = std::copy_n(src, count, dst) and fill_short(dst, count) =
// std::fill_n(dst, count, T(0)) for non-overlapping arrays, written as fixed-size pieces
// (64 bytes, then 32, 16, 8, 4) that the compiler turns into a few vector moves. std::copy_n on a
// run whose length is only known at run time is a call to memmove, whose fixed cost dominates
// runs of 8 to 64 floats: a pixel's channels or a patch row of a narrow network's im2col (the
// demo's 8-channel convolutions: memmove was 11% of its training step). Same bits as std::copy_n.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace agcnn::cpu {

template <class T>
inline void copy_short(const T* src, std::int64_t count, T* dst) {
    char* d = reinterpret_cast<char*>(dst);
    const char* s = reinterpret_cast<const char*>(src);
    std::int64_t bytes = count * std::int64_t(sizeof(T)), i = 0;
    for (; i + 64 <= bytes; i += 64) std::memcpy(d + i, s + i, 64);
    if (bytes - i >= 32) { std::memcpy(d + i, s + i, 32); i += 32; }
    if (bytes - i >= 16) { std::memcpy(d + i, s + i, 16); i += 16; }
    if (bytes - i >= 8) { std::memcpy(d + i, s + i, 8); i += 8; }
    if (bytes - i >= 4) { std::memcpy(d + i, s + i, 4); i += 4; }
    for (; i < bytes; ++i) d[i] = s[i];  // sizeof(T) < 4 only
}

template <class T>
inline void fill_short(T* dst, std::int64_t count) {
    static_assert(std::is_arithmetic_v<T>, "zero bytes are T(0)");
    char* d = reinterpret_cast<char*>(dst);
    static constexpr char zeros[64] = {};
    std::int64_t bytes = count * std::int64_t(sizeof(T)), i = 0;
    for (; i + 64 <= bytes; i += 64) std::memcpy(d + i, zeros, 64);
    if (bytes - i >= 32) { std::memcpy(d + i, zeros, 32); i += 32; }
    if (bytes - i >= 16) { std::memcpy(d + i, zeros, 16); i += 16; }
    if (bytes - i >= 8) { std::memcpy(d + i, zeros, 8); i += 8; }
    if (bytes - i >= 4) { std::memcpy(d + i, zeros, 4); i += 4; }
    for (; i < bytes; ++i) d[i] = 0;
}

}  // namespace agcnn::cpu
