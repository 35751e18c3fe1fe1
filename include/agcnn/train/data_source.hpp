// agcnn/train/data_source.hpp — what training and evaluation need from the data layer, as one
// small interface (the adapter over agcnn/data's loader is train/dataset_source.hpp; the tests
// implement it with tiny in-memory images).
//
// Contract:
//   - epoch(split, e, batch_size, skip) yields the batches of epoch e of the split, the same
//     ones for the same (seed, e) every time, starting after the first `skip` batches (a
//     resumed run continues mid-epoch). The train split is shuffled and augmented per the
//     config; val and test are in file order, centre crop, never augmented.
//   - shard_epoch(split, e, batch_size, skip, shard) yields the part of epoch e that one rank of
//     a data-parallel run trains on (data::Shard, data/loader.hpp), from the shard's batch `skip`
//     on. The default reads the whole epoch and keeps the rank's batches (right for any source);
//     DatasetSource loads only the rank's.
//   - crop(batch, boxes) is the local branch's input: for image i, the region boxes[i] of its
//     network input (input pixels), taken from batch.sources[i] through batch.geometry[i],
//     resized to S x S and normalised like the input: [B, S, S, 3].
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agcnn/data/batch.hpp"
#include "agcnn/data/loader.hpp"
#include "agcnn/model/forward.hpp"

namespace agcnn::train {

enum class Split { train, val, test };
inline const char* split_name(Split s) {
    return s == Split::train ? "train" : s == Split::val ? "val" : "test";
}
inline Split parse_split(const std::string& text) {
    if (text == "train") return Split::train;
    if (text == "val") return Split::val;
    if (text == "test") return Split::test;
    throw Error("bad split '" + text + "': expected train, val or test");
}

class BatchReader {
public:
    virtual ~BatchReader() = default;
    virtual std::optional<data::Batch> next() = 0;
};

// An annotated box of BBox_List_2017.csv, in the source image's pixels.
struct AnnotatedBox {
    std::string image, disease;
    Box box;
};

class DataSource {
public:
    virtual ~DataSource() = default;
    virtual std::int64_t images(Split split) const = 0;
    virtual std::unique_ptr<BatchReader> epoch(Split split, int epoch, int batch_size,
                                               std::int64_t skip_batches) = 0;
    virtual std::unique_ptr<BatchReader> shard_epoch(Split split, int epoch, int batch_size,
                                                     std::int64_t skip_batches, const data::Shard& shard);
    virtual Tensor crop(const data::Batch& batch, const std::vector<Box>& boxes) = 0;
    // Boxes of BBox_List_2017.csv in source-image pixels (empty when the file is absent).
    virtual std::vector<AnnotatedBox> annotated_boxes() const = 0;
};

// The rank's batches out of a reader of the whole epoch that starts at epoch batch `next`.
class ShardReader final : public BatchReader {
public:
    ShardReader(std::unique_ptr<BatchReader> all, data::Shard shard, std::int64_t local, std::int64_t total)
        : all_(std::move(all)), shard_(shard), local_(local), next_(shard.batch(local)), total_(total) {}
    std::optional<data::Batch> next() override {
        if (local_ >= shard_.count(total_)) return std::nullopt;
        const std::int64_t wanted = shard_.batch(local_++);
        for (; next_ < wanted; ++next_) all_->next();
        ++next_;
        return all_->next();
    }

private:
    std::unique_ptr<BatchReader> all_;
    data::Shard shard_;
    std::int64_t local_, next_, total_;
};

inline std::unique_ptr<BatchReader> DataSource::shard_epoch(Split split, int epoch, int batch_size,
                                                            std::int64_t skip_batches, const data::Shard& shard) {
    const std::int64_t total = (images(split) + batch_size - 1) / batch_size;
    const std::int64_t first = std::min(shard.batch(skip_batches), total);
    return std::make_unique<ShardReader>(this->epoch(split, epoch, batch_size, first), shard, skip_batches, total);
}

// model::forward's crop step for one batch of `data` (both must outlive the function).
inline model::CropFn crop_from(DataSource& data, const data::Batch& batch) {
    return [&data, &batch](const std::vector<Box>& boxes) { return data.crop(batch, boxes); };
}

}  // namespace agcnn::train
