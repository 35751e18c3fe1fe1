// agcnn/nn/module.hpp — the base of every layer: named parameters, buffers, children, modes.
//
// Mirrors torch.nn.Module where it matters for weights on disk: names are dotted paths in
// registration order ("layer1.0.conv1.weight"), and state() lists, per module, its parameters,
// then its buffers, then its children's entries, which is the order of PyTorch's state_dict().
//
// Each state entry knows how it is laid out on disk: a conv weight is OHWI in the engine and OIHW
// in PyTorch, so io/state_dict.hpp transposes it on save and load. BatchNorm's
// num_batches_tracked is an integer counter, kept for PyTorch compatibility.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::nn {

// How a tensor is stored on disk, relative to the engine's layout.
enum class DiskLayout {
    same,        // identical layout
    conv_oihw,   // engine [O, KH, KW, C]; disk [O, C, KH, KW]
};

struct StateEntry {
    std::string name;           // dotted path
    Tensor* tensor = nullptr;   // the parameter or buffer (null for counters)
    std::int64_t* counter = nullptr;  // integer buffers (num_batches_tracked)
    bool is_parameter = false;
    DiskLayout layout = DiskLayout::same;
};

class Module {
public:
    Module() = default;
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // Every parameter, buffer and counter of this module and its children, in PyTorch order.
    std::vector<StateEntry> state(const std::string& prefix = "") {
        std::vector<StateEntry> out;
        for (auto& own : own_entries_) {
            StateEntry e = own;
            e.name = prefix + own.name;
            out.push_back(e);
        }
        for (auto& [name, child] : children_) {
            auto sub = child->state(prefix + name + ".");
            out.insert(out.end(), sub.begin(), sub.end());
        }
        return out;
    }

    std::vector<std::pair<std::string, Tensor*>> named_parameters(const std::string& prefix = "") {
        std::vector<std::pair<std::string, Tensor*>> out;
        for (auto& e : state(prefix))
            if (e.is_parameter) out.emplace_back(e.name, e.tensor);
        return out;
    }
    std::vector<Tensor*> parameters() {
        std::vector<Tensor*> out;
        for (auto& [name, t] : named_parameters()) out.push_back(t);
        return out;
    }
    std::int64_t parameter_count() {
        std::int64_t count = 0;
        for (Tensor* t : parameters()) count += t->numel();
        return count;
    }

    // Training mode: batch norm uses batch statistics and updates its running statistics.
    void train(bool on = true) {
        training_ = on;
        for (auto& [name, child] : children_) child->train(on);
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // Freezing: requires_grad off for every parameter (a frozen branch records no graph).
    void set_requires_grad(bool on) {
        for (Tensor* t : parameters()) t->set_requires_grad(on);
    }
    void zero_grad() {
        for (Tensor* t : parameters()) t->set_grad(Tensor());
    }
    // Moves every parameter and buffer to `device` (data copied; gradients dropped).
    void to(Device device) {
        for (auto& e : state())
            if (e.tensor) {
                const bool wanted = e.tensor->requires_grad();
                *e.tensor = e.tensor->to(device);
                e.tensor->set_requires_grad(wanted);
            }
    }

protected:
    Tensor& register_parameter(const std::string& name, Tensor value,
                               DiskLayout layout = DiskLayout::same) {
        value.set_requires_grad(true);
        owned_.push_back(std::make_unique<Tensor>(std::move(value)));
        own_entries_.push_back({name, owned_.back().get(), nullptr, true, layout});
        return *owned_.back();
    }
    Tensor& register_buffer(const std::string& name, Tensor value) {
        owned_.push_back(std::make_unique<Tensor>(std::move(value)));
        own_entries_.push_back({name, owned_.back().get(), nullptr, false, DiskLayout::same});
        return *owned_.back();
    }
    void register_counter(const std::string& name, std::int64_t* counter) {
        own_entries_.push_back({name, nullptr, counter, false, DiskLayout::same});
    }
    template <class M>
    M& register_module(const std::string& name, std::unique_ptr<M> module) {
        M& ref = *module;
        children_.emplace_back(name, std::move(module));
        return ref;
    }

private:
    bool training_ = true;
    std::vector<std::unique_ptr<Tensor>> owned_;
    std::vector<StateEntry> own_entries_;
    std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

}  // namespace agcnn::nn
