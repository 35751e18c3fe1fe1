// kernels/math/image_math.hpp — 8-bit images to the network's normalised float input, with an
// optional horizontal flip per image (the training augmentation of the paper's recipe).
#pragma once

#include <cstdint>

#include "kernels/math/hd.hpp"
#include "agcnn/backend/types.hpp"

namespace agcnn::cuda::math {

// Output element i = ((n*H + y)*W + x)*C + c: y = (v / 255 - mean[c]) / std[c], where v is the
// source pixel (n, y, x, c), or (n, y, W-1-x, c) when flip is given and flip[n] != 0.
AGCNN_HD float normalize_output(const std::uint8_t* x, const std::uint8_t* flip,
                                const ImageNormalization& norm, std::int64_t h, std::int64_t w,
                                std::int64_t c, std::int64_t i) {
    const std::int64_t k = i % c, col = (i / c) % w, row = (i / (c * w)) % h,
                       n = i / (c * w * h);
    const std::int64_t src_col = flip && flip[n] ? w - 1 - col : col;
    const float v = static_cast<float>(x[((n * h + row) * w + src_col) * c + k]);
    return (v / 255.0f - norm.mean[k]) / norm.std[k];
}

}  // namespace agcnn::cuda::math
