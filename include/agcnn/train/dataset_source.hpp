// agcnn/train/dataset_source.hpp — the DataSource of a real data set: agcnn/data's reader,
// split, prefetching loader and local crop behind the small interface training uses.
//
// Transforms (paper section 4.1): train = resize, random crop, horizontal flip when `augment`,
// else the evaluation transform; val and test = resize, centre crop, file order. ImageNet
// mean/std; optional contrast enhancement.
//
// Images come from the packed cache (data/pack.hpp, longer side `pack_side`, 512 by default),
// built in the data folder on first use and rebuilt when a PNG changes, so no PNG is decoded
// after the first epoch. The attention crop is cut from that copy, the highest resolution at
// hand (pack_side 0 reads the PNGs at full resolution every time; a larger side keeps more). When
// the data folder is not writable and has no current pack, the PNGs are read directly, with a
// warning. Packing reports its progress to the Reporter given; a pack build killed mid-way leaves
// a temporary file that the next one removes.
// BBox_List_2017.csv's boxes are in the original PNG's pixels; they are scaled to the copy's.
//
// Inputs that are the same every epoch (validation and test always; training and the local
// crops when `augment` is off) keep their resampled pixels in one data::InputCache of at most
// kInputCacheBytes, so each is resampled from its source once (the same bits every visit). A
// single pass over a split (evaluate_run) gains nothing from it and passes a budget of 0: no
// cache at all.
#pragma once

#include <unistd.h>

#include <map>
#include <memory>

#include "agcnn/data/dataset.hpp"
#include "agcnn/data/loader.hpp"
#include "agcnn/data/local_crop.hpp"
#include "agcnn/data/pack.hpp"
#include "agcnn/train/config.hpp"
#include "agcnn/core/reporter.hpp"
#include "agcnn/train/data_source.hpp"

namespace agcnn::train {

inline data::DataSpec data_spec(const TrainConfig& c) {
    data::DataSpec spec;
    spec.seed = c.seed;
    if (c.split == "lists") {
        AGCNN_CHECK(!c.train_list.empty() && !c.val_list.empty() && !c.test_list.empty(),
                    "split 'lists' needs a train, a validation and a test list file");
        spec.images_dir = c.data_dir;
        spec.train_list = c.train_list, spec.val_list = c.val_list, spec.test_list = c.test_list;
    } else {
        spec.data_dir = c.data_dir;
        spec.split = c.split;
        spec.val_fraction = c.val_fraction;
        AGCNN_CHECK(c.split_fractions.size() == 3, "split fractions: expected three (train, val, test), got ",
                    c.split_fractions.size());
        std::copy(c.split_fractions.begin(), c.split_fractions.end(), spec.random_fractions.begin());
    }
    return spec;
}

// The input cache's budget: 1 GiB holds about 21,000 inputs at 224 (65,000 at the demo's 128).
constexpr std::size_t kInputCacheBytes = std::size_t(1) << 30;

class DatasetSource final : public DataSource {
public:
    explicit DatasetSource(const TrainConfig& config, Reporter& reporter = silent_reporter(),
                           std::size_t input_cache_bytes = kInputCacheBytes)
        : config_(config), dataset_(data::open_dataset(data_spec(config))),
          images_(open_images(config, dataset_, reporter)),
          cache_(input_cache_bytes > 0 ? std::make_shared<data::InputCache>(input_cache_bytes) : nullptr) {
        eval_ = data::eval_transform(config.input_size);
        eval_.resize = config.resize;
        eval_.contrast = config.contrast;
        train_ = eval_;
        if (config.augment) {
            train_.crop = data::CropMode::resize_random_crop;
            train_.hflip = true;
        }
    }

    const data::Dataset& dataset() const { return dataset_; }

    std::int64_t images(Split s) const override { return std::int64_t(indices(s).size()); }

    std::unique_ptr<BatchReader> epoch(Split s, int epoch, int batch_size, std::int64_t skip) override {
        return shard_epoch(s, epoch, batch_size, skip, {});
    }

    std::unique_ptr<BatchReader> shard_epoch(Split s, int epoch, int batch_size, std::int64_t skip,
                                             const data::Shard& shard) override {
        auto& loader = loaders_[{s, batch_size}];
        if (!loader) {
            data::LoaderConfig lc;
            lc.batch_size = batch_size;
            lc.shuffle = s == Split::train;
            lc.seed = config_.seed;
            lc.workers = std::max(1, config_.loader_workers);
            lc.transform = s == Split::train ? train_ : eval_;
            if (s != Split::train || !config_.augment) lc.cache = cache_;
            loader = std::make_unique<data::Loader>(data::select(dataset_.records, indices(s)), images_, lc);
        }
        loader->start_epoch(epoch, skip, shard);
        return std::make_unique<Reader>(loader.get());
    }

    Tensor crop(const data::Batch& batch, const std::vector<Box>& boxes) override {
        return data::crop_local_batch(batch, boxes, config_.input_size, eval_,
                                      config_.augment ? nullptr : cache_.get());
    }

    // Boxes in the pixels of the images the loader hands out (the pack's copy when packed).
    std::vector<AnnotatedBox> annotated_boxes() const override {
        std::map<std::string, const data::ImageRecord*> records;
        for (const auto& r : dataset_.records) records[r.name] = &r;
        const auto* pack = dynamic_cast<const data::PackReader*>(images_.get());
        std::vector<AnnotatedBox> out;
        for (const auto& b : dataset_.boxes) {
            double sx = 1, sy = 1;
            const auto record = records.find(b.name);
            if (pack && record != records.end()) {
                const data::PackEntry* entry = pack->find(b.name);
                if (entry == nullptr || !entry->error.empty()) continue;
                const auto [width, height] = data::read_image_size(record->second->path);
                sx = double(entry->width) / width;
                sy = double(entry->height) / height;
            }
            out.push_back({b.name, std::string(model::kLabelNames[std::size_t(b.label)]),
                           Box::from_xywh(b.x * sx, b.y * sy, b.w * sx, b.h * sy)});
        }
        return out;
    }

private:
    static std::shared_ptr<const data::ImageSource> open_images(const TrainConfig& c, const data::Dataset& d,
                                                               Reporter& reporter) {
        if (c.pack_side == 0) return std::make_shared<data::ImageFileSource>(0);
        const std::string path = data::default_pack_path(c.data_dir, c.pack_side);
        const bool writable = ::access(c.data_dir.c_str(), W_OK) == 0;
        if (!writable) {
            if (auto reader = data::open_current_pack(d.records, path, c.pack_side)) return reader;
            reporter.warning(c.data_dir + " is not writable and has no current pack; reading the images "
                                          "directly (every epoch)");
            return std::make_shared<data::ImageFileSource>(0);
        }
        // What a pack build killed mid-way left (a temporary file as large as the pack).
        io::remove_stale_temporaries(c.data_dir, std::filesystem::path(path).filename().string());
        const auto progress = [&](std::size_t done, std::size_t total) {
            reporter.step({"packing images into " + path, std::int64_t(done), std::int64_t(total), 0,
                           std::int64_t(done)});
        };
        return data::ensure_pack(d.records, path, c.pack_side, false, progress).first;
    }

    struct Reader final : BatchReader {
        explicit Reader(data::Loader* l) : loader(l) {}
        std::optional<data::Batch> next() override { return loader->next(); }
        data::Loader* loader;
    };
    const std::vector<int>& indices(Split s) const {
        return s == Split::train ? dataset_.split.train : s == Split::val ? dataset_.split.val : dataset_.split.test;
    }

    TrainConfig config_;
    data::Dataset dataset_;
    std::shared_ptr<const data::ImageSource> images_;
    std::shared_ptr<data::InputCache> cache_;
    data::TransformConfig train_, eval_;
    std::map<std::pair<Split, int>, std::unique_ptr<data::Loader>> loaders_;
};

}  // namespace agcnn::train
