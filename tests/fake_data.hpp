// tests/fake_data.hpp — a tiny in-memory DataSource for the training tests: gray square images
// with a bright blob whose presence is label 0, deterministic per (index), shuffled per epoch
// from the epoch number, cropped with the data layer's real local crop.
#pragma once

#include <numeric>

#include "agcnn/data/local_crop.hpp"
#include "agcnn/train/data_source.hpp"

namespace agcnn::testing {

class FakeData : public train::DataSource {
public:
    FakeData(int train_images, int val_images, int size) : size_(size) {
        for (int i = 0; i < train_images + val_images; ++i) {
            auto image = std::make_shared<data::GrayImage>();
            image->width = image->height = size;
            image->pixels.resize(static_cast<std::size_t>(size) * size);
            Rng rng(static_cast<std::uint64_t>(i) + 100);
            const bool sick = i % 2 == 0;
            const int cx = 8 + int(rng.below(std::uint64_t(size - 16)));
            const int cy = 8 + int(rng.below(std::uint64_t(size - 16)));
            for (int y = 0; y < size; ++y)
                for (int x = 0; x < size; ++x) {
                    const bool blob = sick && (x - cx) * (x - cx) + (y - cy) * (y - cy) < 16;
                    image->pixels[std::size_t(y) * size + x] =
                        static_cast<std::uint8_t>(blob ? 230 : 60 + rng.below(40));
                }
            std::vector<float> labels(model::kLabelCount, 0.0f);
            labels[0] = sick ? 1.0f : 0.0f;
            labels[model::kNoFindingIndex] = sick ? 0.0f : 1.0f;
            labels[1] = i % 3 == 0 ? 1.0f : 0.0f;
            const std::string name = "img" + std::to_string(i) + ".png";
            (i < train_images ? train_ : val_).push_back({image, labels, name});
            if (sick) boxes_.push_back({name, "Atelectasis", Box::from_xywh(cx - 4.0, cy - 4.0, 8.0, 8.0)});
        }
        transform_ = data::eval_transform(size);
        transform_.resize = size;
        transform_.contrast = 0;
    }

    // Batch `poison_batch` of `poison_epoch` gets a NaN label, so its loss is NaN (NaN-stop test).
    int poison_epoch = -1, poison_batch = -1;
    // Validation pass `poison_validation` (0 = the first) gets NaN pixels in its first image, so
    // its scores are NaN while every training loss is finite (divergence-stop test).
    int poison_validation = -1;

    std::int64_t images(train::Split s) const override { return std::int64_t(items(s).size()); }

    std::unique_ptr<train::BatchReader> epoch(train::Split s, int epoch, int batch_size,
                                              std::int64_t skip) override {
        std::vector<std::size_t> order(items(s).size());
        std::iota(order.begin(), order.end(), 0);
        if (s == train::Split::train) {
            Rng rng(static_cast<std::uint64_t>(epoch) + 7);
            for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
        }
        const bool poisoned = s == train::Split::val && validation_passes_++ == poison_validation;
        return std::make_unique<Reader>(this, s, epoch, batch_size, skip, std::move(order), poisoned);
    }

    Tensor crop(const data::Batch& batch, const std::vector<Box>& boxes) override {
        return data::crop_local_batch(batch, boxes, size_, transform_);
    }

    // The blob of every sick image, as BBox_List_2017.csv would mark it.
    std::vector<train::AnnotatedBox> annotated_boxes() const override { return boxes_; }

private:
    struct Item {
        std::shared_ptr<data::GrayImage> image;
        std::vector<float> labels;
        std::string name;
    };
    const std::vector<Item>& items(train::Split s) const { return s == train::Split::train ? train_ : val_; }

    struct Reader : train::BatchReader {
        Reader(FakeData* d, train::Split s, int e, int bs, std::int64_t skip, std::vector<std::size_t> o,
               bool poisoned)
            : data(d), split(s), epoch(e), batch_size(bs), next_batch(skip), order(std::move(o)), poisoned(poisoned) {}
        std::optional<data::Batch> next() override {
            const std::size_t begin = std::size_t(next_batch) * batch_size;
            if (begin >= order.size()) return std::nullopt;
            const std::size_t end = std::min(order.size(), begin + batch_size);
            const int s = data->size_;
            data::Batch b;
            b.images = Tensor::empty({std::int64_t(end - begin), s, s, 3});
            b.labels = Tensor::empty({std::int64_t(end - begin), model::kLabelCount});
            for (std::size_t i = begin; i < end; ++i) {
                const Item& item = data->items(split)[order[i]];
                data::CropGeometry g{0, 0, double(s), double(s), false, s, s, s};
                data::render_input(*item.image, g, data->transform_, nullptr,
                                   b.images.data() + (i - begin) * s * s * 3);
                std::copy(item.labels.begin(), item.labels.end(),
                          b.labels.data() + (i - begin) * model::kLabelCount);
                b.names.push_back(item.name);
                b.geometry.push_back(g);
                b.sources.push_back(item.image);
            }
            if (split == train::Split::train && epoch == data->poison_epoch && next_batch == data->poison_batch)
                b.labels.at(0) = std::numeric_limits<float>::quiet_NaN();
            if (poisoned && next_batch == 0)
                std::fill_n(b.images.data(), s * s * 3, std::numeric_limits<float>::quiet_NaN());
            ++next_batch;
            return b;
        }
        FakeData* data;
        train::Split split;
        int epoch, batch_size;
        std::int64_t next_batch;
        std::vector<std::size_t> order;
        bool poisoned;
    };

    int size_;
    int validation_passes_ = 0;
    data::TransformConfig transform_;
    std::vector<Item> train_, val_;
    std::vector<train::AnnotatedBox> boxes_;
};

}  // namespace agcnn::testing
