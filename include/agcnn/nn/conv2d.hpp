// agcnn/nn/conv2d.hpp — torch.nn.Conv2d(in, out, k, stride, padding, bias=False).
//
// forward: x [N, H, W, In] -> [N, OH, OW, Out]. The weight is held OHWI [Out, K, K, In]; on disk
// it is PyTorch's OIHW [Out, In, K, K] (see io/state_dict.hpp).
#pragma once

#include <cmath>

#include "agcnn/nn/init.hpp"
#include "agcnn/nn/module.hpp"
#include "agcnn/ops/conv2d.hpp"

namespace agcnn::nn {

class Conv2d : public Module {
public:
    Conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
           std::int64_t pad, Rng& rng)
        : stride_(stride), pad_(pad) {
        weight = &register_parameter(
            "weight",
            normal_tensor({out, kernel, kernel, in}, std::sqrt(2.0 / double(out * kernel * kernel)),
                          rng),
            DiskLayout::conv_oihw);
    }
    Tensor forward(const Tensor& x) const { return ops::conv2d(x, *weight, stride_, pad_); }
    std::int64_t stride() const { return stride_; }
    std::int64_t pad() const { return pad_; }

    Tensor* weight;

private:
    std::int64_t stride_, pad_;
};

}  // namespace agcnn::nn
