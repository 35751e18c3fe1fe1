// agcnn/train/gradient_reducer.hpp — the gradients of one optimizer step of a data-parallel run,
// summed across its processes while backward still runs (docs/distributed.md).
//
// A step of a run of N processes with accumulation K: each rank runs backward on its K
// micro-batches, each loss scaled by 1/(K N) (train/stage.hpp), so the gradients that add up in
// each parameter (autograd accumulates them) are the rank's share of the mean. During the last
// micro-batch's backward, each parameter whose gradient is complete is reported (backward's
// leaf_done). The parameters are grouped into buckets of about 25 MB in reverse registration
// order (the order in which backward completes them, as PyTorch's DDP does); a bucket's sum
// across the ranks starts as soon as all its parameters are complete, buckets in index order on
// every rank (the collectives' order contract), and progress() is called at every report, so
// the sums of earlier buckets advance while backward computes the rest. finish() starts what is
// left, waits, and gives each parameter the summed gradient (a fresh tensor: gradients may share
// storage). A parameter without a gradient (the same on every rank: every rank runs the same
// graph) adds zeros and keeps none, as in a run of one process.
// broadcast_buffers() then gives every rank rank 0's batch-norm running statistics (PyTorch DDP's
// broadcast_buffers), so every rank holds the same model and rank 0's checkpoint is everyone's.
#pragma once

#include <chrono>
#include <functional>
#include <unordered_map>
#include <vector>

#include "agcnn/autograd/node.hpp"
#include "agcnn/nn/module.hpp"
#include "agcnn/optim/optimizer.hpp"
#include "agcnn/train/communicator.hpp"

namespace agcnn::train {

class GradientReducer {
public:
    static constexpr std::int64_t kBucketFloats = (25 << 20) / 4;

    GradientReducer(const optim::NamedParameters& parameters, Communicator& comm,
                    std::int64_t bucket_floats = kBucketFloats)
        : comm_(comm) {
        for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
            Tensor* p = it->second;
            if (buckets_.empty() || buckets_.back().floats + p->numel() > bucket_floats) buckets_.emplace_back();
            Bucket& b = buckets_.back();
            index_[&p->autograd()] = {buckets_.size() - 1, b.members.size()};
            b.members.push_back({p, b.floats});
            b.floats += p->numel();
        }
        for (Bucket& b : buckets_) b.pending = b.members.size();
    }

    // What backward calls for each finished leaf during the step's last micro-batch.
    std::function<void(const AutogradMeta&)> leaf_done() {
        return [this](const AutogradMeta& meta) {
            const auto found = index_.find(&meta);
            if (found == index_.end()) return;
            const auto [bucket, member] = found->second;
            if (!buckets_[bucket].members[member].ready) {
                buckets_[bucket].members[member].ready = true;
                --buckets_[bucket].pending;
            }
            timed([&] {
                while (next_ < buckets_.size() && buckets_[next_].pending == 0) start(buckets_[next_++]);
                comm_.progress();
            });
        };
    }

    // After the last micro-batch's backward: every parameter holds the gradient summed over ranks.
    void finish() {
        timed([&] {
            while (next_ < buckets_.size()) start(buckets_[next_++]);
            comm_.wait_sums();
            for (Bucket& b : buckets_) {
                for (Member& m : b.members) {
                    if (m.had_grad) {
                        Tensor g = Tensor::empty(m.parameter->shape(), device_);
                        copy_bytes(g.data(), device_, b.buffer.data() + m.offset, device_, bytes(*m.parameter));
                        m.parameter->set_grad(g);
                    }
                    m.ready = false;
                }
                b.pending = b.members.size();
            }
            next_ = 0;
        });
        ++steps_;
    }

    // Seconds spent in the reductions' calls (starting, advancing, waiting for the sums) since the
    // start, and the steps reduced; bytes summed per step.
    double seconds() const { return seconds_; }
    std::int64_t steps() const { return steps_; }
    std::int64_t bytes_per_step() const {
        std::int64_t floats = 0;
        for (const Bucket& b : buckets_) floats += b.floats;
        return floats * 4;
    }
    std::size_t bucket_count() const { return buckets_.size(); }

private:
    struct Member {
        Tensor* parameter;
        std::int64_t offset;  // in the bucket's buffer, floats
        bool ready = false, had_grad = false;
    };
    struct Bucket {
        std::vector<Member> members;
        std::int64_t floats = 0;
        std::size_t pending = 0;
        Tensor buffer;
    };

    static std::size_t bytes(const Tensor& t) { return static_cast<std::size_t>(t.numel()) * sizeof(float); }

    void start(Bucket& b) {
        device_ = b.members.front().parameter->device();
        if (!b.buffer.defined()) b.buffer = Tensor::empty({b.floats}, device_);
        for (Member& m : b.members) {
            const Tensor g = m.parameter->grad();
            m.had_grad = g.defined();
            if (m.had_grad)
                copy_bytes(b.buffer.data() + m.offset, device_, g.data(), device_, bytes(g));
            else
                fill_zero_bytes(b.buffer.data() + m.offset, bytes(*m.parameter), device_);
        }
        comm_.start_sum(b.buffer.data(), b.floats, device_);
    }

    template <class F>
    void timed(F&& f) {
        const auto begin = std::chrono::steady_clock::now();
        f();
        seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    }

    Communicator& comm_;
    std::vector<Bucket> buckets_;
    std::unordered_map<const AutogradMeta*, std::pair<std::size_t, std::size_t>> index_;
    std::size_t next_ = 0;
    Device device_;
    double seconds_ = 0;
    std::int64_t steps_ = 0;
};

// Rank 0's buffers of `module` (batch-norm running statistics) to every rank, in one broadcast.
inline void broadcast_buffers(nn::Module& module, Communicator& comm) {
    std::vector<Tensor*> buffers;
    std::int64_t floats = 0;
    for (const nn::StateEntry& e : module.state())
        if (e.tensor && !e.is_parameter) buffers.push_back(e.tensor), floats += e.tensor->numel();
    if (buffers.empty() || comm.size() == 1) return;
    const Device device = buffers.front()->device();
    Tensor all = Tensor::empty({floats}, device);
    std::int64_t offset = 0;
    for (Tensor* t : buffers) copy_bytes(all.data() + offset, device, t->data(), device, t->numel() * 4), offset += t->numel();
    comm.broadcast(all.data(), floats, device);
    offset = 0;
    for (Tensor* t : buffers) copy_bytes(t->data(), device, all.data() + offset, device, t->numel() * 4), offset += t->numel();
}

}  // namespace agcnn::train
