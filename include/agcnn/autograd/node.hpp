// agcnn/autograd/node.hpp — one recorded op in the autograd graph, and how ops record it.
//
// An op that produced tensor `out` from inputs x1..xn records a Node on `out`: the inputs, which
// of them want a gradient, and a backward closure. Given dL/d(out) the closure returns
// dL/d(x_i) for every input that wants one (an undefined Tensor for the others). The closure
// assigns fresh gradient tensors (=); the engine (backward.hpp) is the one place that adds them
// into what is already accumulated (+=), for a tensor used twice and for parameters across
// backward passes.
//
// The node refers to its inputs through their AutogradMeta only (not their data): what backward
// needs of an input's values the op captures itself, as a detached tensor (`x.detach()` shares
// the storage, not the history). So an input no closure captured is freed when the forward pass
// drops it. A closure must never capture `out` itself (that would be a reference cycle through
// grad_fn): it captures `out.detach()`.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agcnn/autograd/grad_mode.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn {

struct Node {
    using Backward = std::function<std::vector<Tensor>(const Tensor& grad_out,
                                                       const std::vector<bool>& needs_grad)>;
    std::string op_name;
    std::vector<std::shared_ptr<AutogradMeta>> inputs;  // null where no gradient is wanted
    std::vector<bool> needs_grad;
    Backward backward;
};

// True when an op on these inputs must be recorded.
inline bool should_record(std::initializer_list<const Tensor*> inputs) {
    if (!grad_enabled()) return false;
    for (const Tensor* t : inputs)
        if (t && t->defined() && t->requires_grad()) return true;
    return false;
}

// Attaches a Node to `out` when grad mode is on and any input requires a gradient.
// `inputs` may contain undefined tensors (optional arguments); they never get a gradient.
inline void record_op(Tensor& out, std::string op_name, std::vector<Tensor> inputs,
                      Node::Backward backward) {
    if (!grad_enabled()) return;
    bool any = false;
    std::vector<bool> needs(inputs.size(), false);
    std::vector<std::shared_ptr<AutogradMeta>> metas(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        needs[i] = inputs[i].defined() && inputs[i].requires_grad();
        if (needs[i]) metas[i] = inputs[i].impl().autograd;
        any = any || needs[i];
    }
    if (!any) return;
    auto node = std::make_shared<Node>();
    node->op_name = std::move(op_name);
    node->inputs = std::move(metas);
    node->needs_grad = std::move(needs);
    node->backward = std::move(backward);
    AutogradMeta& meta = out.autograd();
    meta.requires_grad = true;
    meta.grad_fn = std::move(node);
}

}  // namespace agcnn
