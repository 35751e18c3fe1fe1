// agcnn/data/image_source.hpp — where the loader gets a record's gray image: straight from the
// image file (PNG, JPEG or DICOM, data/image_file.hpp; decoded on every visit at full resolution,
// slow) or from a packed cache (pack.hpp).
#pragma once

#include <memory>
#include <string>

#include "agcnn/data/image_file.hpp"
#include "agcnn/data/records.hpp"
#include "agcnn/data/resample.hpp"

namespace agcnn::data {

class ImageSource {
public:
    virtual ~ImageSource() = default;
    // The image of `record`; thread-safe; errors name the file.
    virtual std::shared_ptr<const GrayImage> load(const ImageRecord& record) const = 0;
};

// Decodes the record's image file, scaled down to at most `max_side` (0 = keep full resolution).
class ImageFileSource final : public ImageSource {
public:
    explicit ImageFileSource(int max_side = 0, ImageReadOptions options = {})
        : max_side_(max_side), options_(options) {}
    std::shared_ptr<const GrayImage> load(const ImageRecord& record) const override {
        GrayImage image = read_image(record.path, options_);
        if (max_side_ > 0) image = fit_within(image, max_side_);
        return std::make_shared<const GrayImage>(std::move(image));
    }

private:
    int max_side_;
    ImageReadOptions options_;
};

}  // namespace agcnn::data
