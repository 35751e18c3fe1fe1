// agcnn/data/loader.hpp — the multi-threaded, prefetching loader that makes data::Batch.
//
// Determinism: the order of an epoch is a shuffle seeded by (seed, epoch) only, and every
// sample's augmentation draws from an Rng seeded by (seed, epoch, position in the epoch), so the
// batches do not depend on the number of workers or their timing, and a run resumed at
// (epoch, batch) sees exactly the batches it would have seen (start_epoch's first_batch).
//
// Sharding (data-parallel training, docs/distributed.md): a loader started with a Shard yields
// only its rank's batches of the epoch's one order: of every `ranks` x `run` consecutive batches,
// the `run` at rank x run. Every rank computes the same order from (seed, epoch), so the shards
// are disjoint and together are the unsharded epoch.
//
// Workers build whole batches (decode or pack read, transform, normalise) and keep at most
// `prefetch` batches ahead of the consumer; next() hands them out in order. An error in a
// worker (an unreadable image) is rethrown by next(), naming the image.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agcnn/core/rng.hpp"
#include "agcnn/core/tensor.hpp"
#include "agcnn/data/batch.hpp"
#include "agcnn/data/image_source.hpp"
#include "agcnn/data/input_cache.hpp"
#include "agcnn/data/records.hpp"
#include "agcnn/data/transforms.hpp"

namespace agcnn::data {

struct LoaderConfig {
    int batch_size = 32;
    bool shuffle = true;      // false: file order (evaluation)
    bool drop_last = false;   // drop a last, smaller batch
    std::uint64_t seed = 0;
    int workers = 2;
    int prefetch = 4;         // batches built ahead of the consumer
    TransformConfig transform = eval_transform();
    // Keeps the resampled inputs across epochs (input_cache.hpp); null: resample every time. Worth
    // it only when the crop is the same every epoch (no random crop or flip).
    std::shared_ptr<InputCache> cache;
};

// The records of one split, in split order.
inline std::vector<ImageRecord> select(const std::vector<ImageRecord>& records, const std::vector<int>& indices) {
    std::vector<ImageRecord> out;
    out.reserve(indices.size());
    for (int i : indices) out.push_back(records.at(static_cast<std::size_t>(i)));
    return out;
}

// The order of the records in `epoch`: a permutation depending only on (seed, epoch).
inline std::vector<int> epoch_order(std::size_t count, std::uint64_t seed, int epoch, bool shuffle) {
    std::vector<int> order(count);
    for (std::size_t i = 0; i < count; ++i) order[i] = static_cast<int>(i);
    if (!shuffle) return order;
    Rng rng(seed ^ (0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(epoch) + 1)));
    for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    return order;
}

// Which batches of an epoch one rank of a data-parallel run loads; the default is all of them.
struct Shard {
    int rank = 0, ranks = 1;
    int run = 1;  // consecutive batches per rank (its gradient-accumulation micro-batches)

    // The epoch's index of this rank's `local`-th batch.
    std::int64_t batch(std::int64_t local) const {
        return (local / run) * run * ranks + std::int64_t(rank) * run + local % run;
    }
    // How many of an epoch's `total` batches are this rank's.
    std::int64_t count(std::int64_t total) const {
        const std::int64_t group = std::int64_t(run) * ranks, rest = total % group;
        return total / group * run + std::clamp<std::int64_t>(rest - std::int64_t(rank) * run, 0, run);
    }
};

class Loader {
public:
    Loader(std::vector<ImageRecord> records, std::shared_ptr<const ImageSource> source, LoaderConfig config)
        : records_(std::move(records)), source_(std::move(source)), config_(config) {
        config_.transform.validate();
        AGCNN_CHECK(config_.batch_size > 0 && config_.workers > 0 && config_.prefetch > 0,
                    "loader: batch size, workers and prefetch must be positive");
        AGCNN_CHECK(source_ != nullptr, "loader: no image source");
    }
    ~Loader() { stop(); }
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    std::int64_t size() const { return static_cast<std::int64_t>(records_.size()); }
    std::int64_t batches_per_epoch() const {
        const std::int64_t n = size(), b = config_.batch_size;
        return config_.drop_last ? n / b : (n + b - 1) / b;
    }
    const LoaderConfig& config() const { return config_; }

    // Starts `epoch` at batch `first_batch` of the shard (to resume); workers begin filling the
    // queue.
    void start_epoch(int epoch, std::int64_t first_batch = 0, Shard shard = {}) {
        stop();
        AGCNN_CHECK(shard.ranks > 0 && shard.run > 0 && shard.rank >= 0 && shard.rank < shard.ranks,
                    "loader: bad shard");
        shard_ = shard;
        AGCNN_CHECK(first_batch >= 0 && first_batch <= shard_batches(), "loader: batch ", first_batch,
                    " outside the epoch's ", shard_batches());
        epoch_ = epoch;
        order_ = epoch_order(records_.size(), config_.seed, epoch, config_.shuffle);
        next_job_ = consumed_ = first_batch;
        stopping_ = false;
        error_ = nullptr;
        for (int w = 0; w < config_.workers; ++w) workers_.emplace_back([this] { work(); });
    }

    // The next batch of the epoch, or nullopt at its end.
    std::optional<Batch> next() {
        std::unique_lock lock(mutex_);
        AGCNN_CHECK(!order_.empty() || records_.empty(), "loader: next() before start_epoch()");
        if (consumed_ >= shard_batches()) return std::nullopt;
        ready_cv_.wait(lock, [&] { return error_ || ready_.count(consumed_); });
        if (error_) std::rethrow_exception(error_);
        Batch batch = std::move(ready_[consumed_]);
        ready_.erase(consumed_++);
        space_cv_.notify_all();
        return batch;
    }

    // Builds batch `index` of the current epoch on the calling thread.
    Batch make_batch(std::int64_t index) const {
        const std::int64_t begin = index * config_.batch_size;
        const std::int64_t end = std::min<std::int64_t>(size(), begin + config_.batch_size);
        const std::int64_t n = end - begin;
        const int s = config_.transform.input_size;
        Batch batch;
        batch.images = Tensor::empty({n, s, s, 3});
        batch.labels = Tensor::empty({n, model::kLabelCount});
        for (std::int64_t i = 0; i < n; ++i) {
            const std::int64_t position = begin + i;
            const ImageRecord& record = records_[static_cast<std::size_t>(order_[static_cast<std::size_t>(position)])];
            Rng rng(config_.seed ^ (0xD1B54A32D192ED03ull * (static_cast<std::uint64_t>(epoch_) + 1)) ^
                    (0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(position) + 1)));
            std::shared_ptr<const GrayImage> image = source_->load(record);
            const CropGeometry g = sample_geometry(config_.transform, image->width, image->height, rng);
            render_input_cached(config_.cache.get(), record.name, *image, g, config_.transform, &rng,
                                batch.images.data() + i * s * s * 3);
            std::copy(record.labels.begin(), record.labels.end(), batch.labels.data() + i * model::kLabelCount);
            batch.names.push_back(record.name);
            batch.geometry.push_back(g);
            batch.sources.push_back(std::move(image));
        }
        return batch;
    }

private:
    std::int64_t shard_batches() const { return shard_.count(batches_per_epoch()); }

    void work() {
        while (true) {
            std::int64_t index;
            {
                std::unique_lock lock(mutex_);
                space_cv_.wait(lock, [&] { return stopping_ || next_job_ < consumed_ + config_.prefetch; });
                if (stopping_ || next_job_ >= shard_batches()) return;
                index = next_job_++;
            }
            try {
                Batch batch = make_batch(shard_.batch(index));
                std::lock_guard lock(mutex_);
                ready_.emplace(index, std::move(batch));
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            ready_cv_.notify_all();
        }
    }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        space_cv_.notify_all();
        for (std::thread& t : workers_) t.join();
        workers_.clear();
        ready_.clear();
    }

    std::vector<ImageRecord> records_;
    std::shared_ptr<const ImageSource> source_;
    LoaderConfig config_;
    int epoch_ = 0;
    Shard shard_;
    std::vector<int> order_;
    std::mutex mutex_;
    std::condition_variable ready_cv_, space_cv_;
    std::int64_t next_job_ = 0, consumed_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
    std::map<std::int64_t, Batch> ready_;
    std::vector<std::thread> workers_;
};

}  // namespace agcnn::data
