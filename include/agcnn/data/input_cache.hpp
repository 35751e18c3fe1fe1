// agcnn/data/input_cache.hpp — the resampled grey levels of network inputs, kept across epochs.
//
// With augmentation off, an image's input is the same region of the same source every epoch (and
// so is its local crop once stage II's boxes are fixed), and resampling it from the source is
// most of what the loader does. InputCache keeps each resampled region, keyed by the image's name
// and every field of its CropGeometry, up to a byte budget; past the budget, new regions are
// resampled every time, as without a cache. What is kept is the grey levels before the contrast
// tables (transforms.hpp ResampledGray), and normalise_input runs on every visit, so an input
// rendered through the cache has the bits of render_input's, jitter included.
//
// Thread-safe (the loader's workers share one cache). The key includes the source's size, so the
// same name at another pack side is another entry; a caller must not reuse names for different
// pixels of the same size (a data set's image names are unique).
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "agcnn/data/transforms.hpp"

namespace agcnn::data {

class InputCache {
public:
    explicit InputCache(std::size_t budget_bytes) : budget_(budget_bytes) {}

    // The grey levels of `geometry`'s region of `source`, image `name`: resampled on the first
    // call for that key, then kept while the budget allows.
    std::shared_ptr<const ResampledGray> resampled(const std::string& name, const GrayImage& source,
                                                   const CropGeometry& geometry) {
        const std::string k = key(name, geometry);
        {
            std::lock_guard lock(mutex_);
            const auto it = entries_.find(k);
            if (it != entries_.end()) return it->second;
        }
        auto gray = std::make_shared<const ResampledGray>(resample_input(source, geometry));
        const std::size_t cost = gray->bytes() + k.size();
        std::lock_guard lock(mutex_);
        if (used_ + cost <= budget_ && entries_.emplace(k, gray).second) used_ += cost;
        return gray;
    }

    // Bytes held (grey levels and keys).
    std::size_t bytes() const {
        std::lock_guard lock(mutex_);
        return used_;
    }

private:
    // The name and every geometry field, the doubles in hexadecimal (exact).
    static std::string key(const std::string& name, const CropGeometry& g) {
        char fields[200];
        std::snprintf(fields, sizeof fields, "|%a|%a|%a|%a|%d|%d|%d|%d", g.x0, g.y0, g.width, g.height,
                      g.hflip ? 1 : 0, g.input_size, g.source_width, g.source_height);
        return name + fields;
    }

    std::size_t budget_;
    std::size_t used_ = 0;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<const ResampledGray>> entries_;
};

// render_input through `cache` (null: no cache), the same bits either way.
inline void render_input_cached(InputCache* cache, const std::string& name, const GrayImage& source,
                                const CropGeometry& geometry, const TransformConfig& t, Rng* jitter, float* out) {
    if (cache == nullptr) return render_input(source, geometry, t, jitter, out);
    normalise_input(*cache->resampled(name, source, geometry), t, jitter, out);
}

}  // namespace agcnn::data
