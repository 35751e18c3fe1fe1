// agcnn/ops/add.hpp — elementwise sum of two tensors of one shape (the residual connection).
//
// add(a, b):  a, b same shape -> y same shape, y = a + b
// The sum itself is backend/add.hpp's (gradient accumulation uses it too).
// backward:   da = dy, db = dy (the same tensor handed to both; gradients are never modified
//             in place, see autograd/backward.hpp)
#pragma once

#include "agcnn/autograd/node.hpp"
#include "agcnn/backend/add.hpp"
#include "agcnn/core/profiler.hpp"

namespace agcnn::ops {

inline Tensor add(const Tensor& a, const Tensor& b) {
    profiler::Scope timer("add");
    Tensor y = add_values(a, b, "add");
    record_op(y, "add", {a, b}, [](const Tensor& dy, const std::vector<bool>&) {
        return std::vector<Tensor>{dy, dy};
    });
    return y;
}

}  // namespace agcnn::ops
