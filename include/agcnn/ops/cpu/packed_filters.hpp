// agcnn/ops/cpu/packed_filters.hpp — convolution filters packed once, for inference on weights
// that do not change.
//
// Every forward convolution packs its filters (the B of its GEMM) into the kernels' panels
// before multiplying, because in training they change every step. At inference they do not,
// and at batch 1 packing ResNet-50's 100 MB of filters on every image is a measurable share of
// the forward pass (docs/benchmarks.md, change 32). A PackedFilters keeps, per filter tensor,
// the form conv2d_forward_fast (ops/conv2d.hpp) reads for that convolution:
//   direct:   w^T [K, O] in gemm_detail::pack_all's layout (conv_in_place.hpp's
//             pack_direct_filters: pointwise, im2col and in-place paths);
//   winograd: the 16 transformed planes U[xi] [C, O], each in that layout (winograd.hpp).
// The products then run exactly as without it (the same blocks, the same sums: tested bit for
// bit), minus the packing.
//
// Who uses it: only ops::conv2d_affine (eval mode, autograd off), and only while a
// PackedFiltersScope on the calling thread names a store. Whoever opens the scope promises that
// the filters it reaches do not change while the store lives: the Predictor, evaluation and
// `agcnn bench --infer` own their model and never write its weights. Invalidation otherwise: an
// entry is keyed by the filter tensor's storage (held weakly, so a freed tensor's entry never
// answers for a new one at the same address), its address, shape and form; a miss packs anew.
// Memory: one packed copy of every filter used (ResNet-50: about 100 MB more; the 3x3 layers
// that take Winograd hold 16/9 of their size).
// CPUs without our x86 kernels get no packs (find returns null): Eigen packs for itself.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "agcnn/core/error.hpp"
#include "agcnn/core/geometry.hpp"
#include "agcnn/ops/cpu/conv_in_place.hpp"
#include "agcnn/ops/cpu/gemm.hpp"
#include "agcnn/ops/cpu/winograd_choice.hpp"

namespace agcnn::cpu {

// A convolution's filters in the form its forward pass reads.
struct PackedFilter {
    bool winograd = false;  // which path the pack is for (the choice made when it was packed)
    const float* data = nullptr;
};

class PackedFilters {
public:
    // The pack of filters w (of storage `owner`) for convolution g's forward pass, made on the
    // first call; null when this CPU has no kernels of ours.
    const PackedFilter* find(const std::shared_ptr<void>& owner, const float* w, const ConvGeometry& g) {
        if (gemm_detail::kernels().mr == 0) return nullptr;
        const bool winograd = use_winograd(g, ConvPass::inference);
        const Key key{w, g.o, g.kh, g.kw, g.c, winograd};
        std::lock_guard<std::mutex> lock(mutex_);
        Entry& entry = entries_[key];
        const bool same_owner = !entry.owner.owner_before(owner) && !owner.owner_before(entry.owner);
        if (entry.floats && same_owner && !entry.owner.expired()) return &entry.filter;
        entry.owner = owner;
        entry.filter.winograd = winograd;
        entry.floats = winograd ? 16 * winograd_detail::packed_plane(g.c, g.o) : packed_direct_size(g);
        entry.buffer.reset(static_cast<float*>(
            std::aligned_alloc(64, static_cast<std::size_t>((entry.floats + 15) / 16 * 16) * sizeof(float))));
        AGCNN_CHECK(entry.buffer != nullptr, "out of memory packing ", entry.floats, " filter values");
        if (winograd)
            winograd_detail::pack_filters(entry.buffer.get(), w, g.o, g.c);
        else
            pack_direct_filters(entry.buffer.get(), w, g);
        entry.filter.data = entry.buffer.get();
        return &entry.filter;
    }

    // Floats held, all entries together (the benchmarks report it).
    std::int64_t floats() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::int64_t total = 0;
        for (const auto& [key, entry] : entries_) total += entry.floats;
        return total;
    }

private:
    using Key = std::tuple<const float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool>;
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    struct Entry {
        std::weak_ptr<void> owner;
        std::unique_ptr<float, Free> buffer;
        std::int64_t floats = 0;
        PackedFilter filter;
    };
    mutable std::mutex mutex_;
    std::map<Key, Entry> entries_;
};

// The store conv2d_affine uses on this thread (null: pack on every call).
inline PackedFilters*& active_packed_filters() {
    thread_local PackedFilters* active = nullptr;
    return active;
}

// Names `store` as this thread's store for the scope's lifetime (then restores the previous).
class PackedFiltersScope {
public:
    explicit PackedFiltersScope(PackedFilters& store) : saved_(active_packed_filters()) {
        active_packed_filters() = &store;
    }
    ~PackedFiltersScope() { active_packed_filters() = saved_; }
    PackedFiltersScope(const PackedFiltersScope&) = delete;
    PackedFiltersScope& operator=(const PackedFiltersScope&) = delete;

private:
    PackedFilters* saved_;
};

}  // namespace agcnn::cpu
