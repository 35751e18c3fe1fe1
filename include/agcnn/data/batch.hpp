// agcnn/data/batch.hpp — what the loader hands to training and evaluation: normalised images,
// labels, and for every image the geometry that maps network-input pixels back to the
// highest-resolution copy of the image at hand, so AG-CNN's attention crop can be taken there
// (paper section 3.2) instead of from the shrunken input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agcnn/core/tensor.hpp"

namespace agcnn::data {

// An 8-bit grayscale image, row-major, width * height bytes.
struct GrayImage {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;
};

// The region of the source image that became the network input. Input pixel centre
// (u + 0.5, v + 0.5), u, v in [0, input_size), maps to source coordinates
//   x = x0 + (hflip ? input_size - (u + 0.5) : u + 0.5) * width / input_size
//   y = y0 + (v + 0.5) * height / input_size
// in the pixel grid of the source image (source_width x source_height).
struct CropGeometry {
    double x0 = 0, y0 = 0, width = 0, height = 0;
    bool hflip = false;
    int input_size = 0;
    int source_width = 0, source_height = 0;
};

struct Batch {
    Tensor images;                  // [B, S, S, 3] float, normalised (ImageNet mean/std), NHWC
    Tensor labels;                  // [B, 15] in {0, 1}
    std::vector<std::string> names;  // image file names
    std::vector<CropGeometry> geometry;                      // one per image
    std::vector<std::shared_ptr<const GrayImage>> sources;   // highest-resolution copy at hand
};

}  // namespace agcnn::data
