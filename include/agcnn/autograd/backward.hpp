// agcnn/autograd/backward.hpp — reverse-mode differentiation over the recorded graph.
//
// backward(loss) orders every tensor reachable from `loss` through grad_fn topologically
// (depth-first, iterative so a deep graph cannot overflow the stack), then walks that order from
// the loss down. Each node's closure turns the gradient of its output into gradients of its
// inputs, which are accumulated here:
//   - an input that has no gradient yet takes the new one;
//   - otherwise the sum is formed out of place (gradients are never modified in place, so a
//     closure may hand the same tensor to two inputs, as `add` does).
// Leaves (parameters) keep their gradient, so a second backward adds to it. Interior gradients
// and each node's saved tensors are released as soon as the node has run. `leaf_done`, when
// given, is called for each leaf as soon as its gradient of this pass is complete (every node
// that consumes it has run), so data-parallel training can start reducing it while the rest of
// backward runs (train/gradient_reducer.hpp).
#pragma once

#include <functional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/add.hpp"
#include "agcnn/core/profiler.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn {

namespace detail {

inline void accumulate_grad(AutogradMeta& target, const Tensor& g) {
    AGCNN_CHECK(g.shape() == target.shape, "backward produced a gradient of shape ",
                shape_str(g.shape()), " for a tensor of shape ", shape_str(target.shape));
    if (!target.grad) {
        target.grad = g.impl_ptr();
    } else {
        target.grad = add_values(Tensor(target.grad), g, "gradient accumulation").impl_ptr();
    }
}

// Tensors reachable from root through grad_fn, each after all tensors that consume it.
inline std::vector<std::shared_ptr<AutogradMeta>> topological_order(
    const std::shared_ptr<AutogradMeta>& root) {
    std::vector<std::shared_ptr<AutogradMeta>> order;  // post-order: inputs before consumers
    std::unordered_set<const AutogradMeta*> visited;
    std::vector<std::pair<std::shared_ptr<AutogradMeta>, std::size_t>> stack;
    stack.emplace_back(root, 0);
    visited.insert(root.get());
    while (!stack.empty()) {
        auto& [meta, next_input] = stack.back();
        const Node* node = meta->grad_fn.get();
        if (node && next_input < node->inputs.size()) {
            const std::shared_ptr<AutogradMeta>& input = node->inputs[next_input++];
            if (input && visited.insert(input.get()).second) stack.emplace_back(input, 0);
            continue;
        }
        order.push_back(meta);
        stack.pop_back();
    }
    return {order.rbegin(), order.rend()};  // consumers first
}

}  // namespace detail

// Computes gradients of `root` with respect to every tensor it depends on that requires one.
// `grad_root` defaults to ones (so a scalar loss needs nothing else).
inline void backward(const Tensor& root, Tensor grad_root = Tensor(),
                     const std::function<void(const AutogradMeta&)>& leaf_done = {}) {
    AGCNN_CHECK(root.requires_grad(),
                "backward: the tensor does not require grad (was it computed under NoGradGuard, "
                "or from frozen parameters only?)");
    if (!grad_root.defined()) {
        AGCNN_CHECK(root.numel() == 1, "backward on a non-scalar tensor of shape ",
                    shape_str(root.shape()), " needs an explicit gradient");
        grad_root = Tensor::full(root.shape(), 1.0f).to(root.device());
    }
    check_same_shape(root, grad_root, "backward");
    NoGradGuard no_recording;  // closures use ops; they must not record a graph of their own
    const auto order = detail::topological_order(root.impl().autograd);
    detail::accumulate_grad(*root.impl().autograd, grad_root);
    for (const auto& meta : order) {
        const std::shared_ptr<Node> node = meta->grad_fn;
        if (!node) {  // a leaf: its gradient stays
            if (leaf_done) leaf_done(*meta);
            continue;
        }
        AGCNN_CHECK(node->backward != nullptr, "backward through op '", node->op_name,
                    "' a second time: its saved tensors were already released");
        const Tensor grad_out(meta->grad);
        if (grad_out.defined()) {
            profiler::Scope timer(node->op_name.c_str(), ".backward");
            std::vector<Tensor> grads = node->backward(grad_out, node->needs_grad);
            AGCNN_CHECK(grads.size() == node->inputs.size(), "op '", node->op_name,
                        "' returned ", grads.size(), " gradients for ", node->inputs.size(),
                        " inputs");
            for (std::size_t i = 0; i < grads.size(); ++i)
                if (node->needs_grad[i] && grads[i].defined())
                    detail::accumulate_grad(*node->inputs[i], grads[i]);
        }
        meta->grad.reset();      // interior gradient no longer needed
        node->backward = nullptr;  // releases the saved activations
        node->inputs.clear();
    }
}

}  // namespace agcnn
