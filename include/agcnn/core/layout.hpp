// agcnn/core/layout.hpp — the one permutation between PyTorch's layouts and the engine's.
//
// PyTorch stores images NCHW and conv weights OIHW; the engine uses NHWC and OHWI. Both are the
// same move of the second axis to the end (and back):
//   to_channels_last:   [A, C, H, W] -> [A, H, W, C]
//   to_channels_first:  [A, H, W, C] -> [A, C, H, W]
// `shape` is always the shape of the input.
#pragma once

#include <cstdint>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn {

template <class T>
std::vector<T> to_channels_last(const std::vector<T>& src, const Shape& acwh) {
    AGCNN_CHECK(acwh.size() == 4 && shape_numel(acwh) == static_cast<std::int64_t>(src.size()),
                "to_channels_last: bad shape ", shape_str(acwh));
    const std::int64_t a = acwh[0], c = acwh[1], h = acwh[2], w = acwh[3];
    std::vector<T> out(src.size());
    for (std::int64_t i = 0; i < a; ++i)
        for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t y = 0; y < h; ++y)
                for (std::int64_t x = 0; x < w; ++x)
                    out[((i * h + y) * w + x) * c + ch] = src[((i * c + ch) * h + y) * w + x];
    return out;
}

template <class T>
std::vector<T> to_channels_first(const std::vector<T>& src, const Shape& ahwc) {
    AGCNN_CHECK(ahwc.size() == 4 && shape_numel(ahwc) == static_cast<std::int64_t>(src.size()),
                "to_channels_first: bad shape ", shape_str(ahwc));
    const std::int64_t a = ahwc[0], h = ahwc[1], w = ahwc[2], c = ahwc[3];
    std::vector<T> out(src.size());
    for (std::int64_t i = 0; i < a; ++i)
        for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t y = 0; y < h; ++y)
                for (std::int64_t x = 0; x < w; ++x)
                    out[((i * c + ch) * h + y) * w + x] = src[((i * h + y) * w + x) * c + ch];
    return out;
}

inline Shape channels_last_shape(const Shape& s) { return {s[0], s[2], s[3], s[1]}; }
inline Shape channels_first_shape(const Shape& s) { return {s[0], s[3], s[1], s[2]}; }

}  // namespace agcnn
