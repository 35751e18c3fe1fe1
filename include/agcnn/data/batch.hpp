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

// A grayscale image, row-major, in one of two sample arrays (exactly one holds width * height
// samples, the other is empty):
//   pixels  8-bit samples (8-bit PNGs and JPEGs, synthetic images);
//   deep    samples on the full 16-bit scale 0..65535, for sources with more than 8 significant
//           bits (16-bit PNGs, DICOM after its grayscale pipeline), so resizing and the network
//           input keep their precision (data/resample.hpp, data/transforms.hpp).
// An 8-bit image goes through exactly the arithmetic it always did.
struct GrayImage {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;
    std::vector<std::uint16_t> deep{};  // {}: GrayImage{w, h, pixels} stays warning-free

    bool is_deep() const { return !deep.empty(); }
    std::size_t sample_count() const { return is_deep() ? deep.size() : pixels.size(); }
    int bytes_per_sample() const { return is_deep() ? 2 : 1; }
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
