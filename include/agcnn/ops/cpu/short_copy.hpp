// agcnn/ops/cpu/short_copy.hpp — copying and zeroing short runs of values without a library call.
//
// copy_short(src, count, dst) = std::copy_n(src, count, dst) and fill_short(dst, count) =
// std::fill_n(dst, count, T(0)) for non-overlapping arrays, written as fixed-size pieces
// (64 bytes, then 32, 16, 8, 4, 2, 1) that the compiler turns into a few vector moves. std::copy_n on a
// run whose length is only known at run time is a call to memmove, whose fixed cost dominates
// runs of 8 to 64 floats: a pixel's channels or a patch row of a narrow network's im2col (the
// demo's 8-channel convolutions: memmove was 11% of its training step). Same bits as std::copy_n.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace agcnn::cpu {

namespace short_copy_detail {

// Calls piece(size, at) over [0, bytes): 64-byte pieces, then one each of 32, 16, 8, 4, 2 and 1
// bytes as the remainder needs; size is a compile-time constant, so a memcpy of it inlines.
template <class Piece>
inline void by_pieces(std::int64_t bytes, Piece piece) {
    std::int64_t at = 0;
    for (; at + 64 <= bytes; at += 64) piece(std::integral_constant<std::size_t, 64>{}, at);
    auto tail = [&](auto size) {
        if (bytes - at >= std::int64_t(size)) {
            piece(size, at);
            at += std::int64_t(size);
        }
    };
    tail(std::integral_constant<std::size_t, 32>{});
    tail(std::integral_constant<std::size_t, 16>{});
    tail(std::integral_constant<std::size_t, 8>{});
    tail(std::integral_constant<std::size_t, 4>{});
    tail(std::integral_constant<std::size_t, 2>{});
    tail(std::integral_constant<std::size_t, 1>{});
}

inline constexpr char kZeros[64] = {};

}  // namespace short_copy_detail

template <class T>
inline void copy_short(const T* src, std::int64_t count, T* dst) {
    char* d = reinterpret_cast<char*>(dst);
    const char* s = reinterpret_cast<const char*>(src);
    short_copy_detail::by_pieces(count * std::int64_t(sizeof(T)),
                                 [&](auto size, std::int64_t at) { std::memcpy(d + at, s + at, size); });
}

template <class T>
inline void fill_short(T* dst, std::int64_t count) {
    static_assert(std::is_arithmetic_v<T>, "zero bytes are T(0)");
    char* d = reinterpret_cast<char*>(dst);
    short_copy_detail::by_pieces(count * std::int64_t(sizeof(T)), [&](auto size, std::int64_t at) {
        std::memcpy(d + at, short_copy_detail::kZeros, size);
    });
}

}  // namespace agcnn::cpu
