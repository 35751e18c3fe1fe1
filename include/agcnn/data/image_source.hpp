// agcnn/data/image_source.hpp — where the loader gets a record's gray image: straight from the
// PNG (decoded on every visit; the full resolution, slow) or from a packed cache (pack.hpp).
#pragma once

#include <memory>
#include <string>

#include "agcnn/data/png.hpp"
#include "agcnn/data/records.hpp"
#include "agcnn/data/resample.hpp"

namespace agcnn::data {

class ImageSource {
public:
    virtual ~ImageSource() = default;
    // The image of `record`; thread-safe; errors name the file.
    virtual std::shared_ptr<const GrayImage> load(const ImageRecord& record) const = 0;
};

// Decodes the record's PNG, scaled down to at most `max_side` (0 = keep full resolution).
class PngSource final : public ImageSource {
public:
    explicit PngSource(int max_side = 0) : max_side_(max_side) {}
    std::shared_ptr<const GrayImage> load(const ImageRecord& record) const override {
        GrayImage image = read_png(record.path);
        if (max_side_ > 0) image = fit_within(image, max_side_);
        return std::make_shared<const GrayImage>(std::move(image));
    }

private:
    int max_side_;
};

}  // namespace agcnn::data
