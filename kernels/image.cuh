// kernels/image.cuh — normalisation of 8-bit images into the network's float input on the
// device, with the horizontal-flip augmentation (math/image_math.hpp).
#pragma once

#include <cstdint>

#include "agcnn/backend/cuda.hpp"
#include "kernels/math/image_math.hpp"
#include "kernels/runtime.cuh"

namespace agcnn::cuda {

// ---- CUDA kernels ---------------------------------------------------------------------------

__global__ void normalize_kernel(float* y, const std::uint8_t* x, const std::uint8_t* flip,
                                 ImageNormalization norm, std::int64_t h, std::int64_t w,
                                 std::int64_t c, std::int64_t total) {
    const std::int64_t i = thread_index();
    if (i < total) y[i] = math::normalize_output(x, flip, norm, h, w, c, i);
}

// ---- kernel launchers -----------------------------------------------------------------------

void normalize_images(float* y, const std::uint8_t* x, const std::uint8_t* flip_host,
                      std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c,
                      const ImageNormalization& norm) {
    AGCNN_CHECK(y && x && n >= 0 && h >= 0 && w >= 0 && c > 0 && c <= kMaxImageChannels,
                "normalize_images: bad sizes (channels must be 1 to ", kMaxImageChannels, ")");
    for (int k = 0; k < c; ++k)
        AGCNN_CHECK(norm.std[k] != 0.0f, "normalize_images: zero std for channel ", k);
    if (n == 0) return;
    const int device = device_of(y);
    Scratch flip(static_cast<std::size_t>(n), device);
    if (flip_host) upload(flip.as<void>(), flip_host, static_cast<std::size_t>(n), device);
    launch(normalize_kernel, n * h * w * c, device, y, x,
           flip_host ? flip.as<const std::uint8_t>() : nullptr, norm, h, w, c, n * h * w * c);
}

}  // namespace agcnn::cuda
