// agcnn/train/branches.hpp — one batch through AG-CNN: the global branch, its attention, the
// crop, the local branch and the fusion layer (Guan et al. 2018, figure 2).
//
// infer() runs all three branches in eval mode with gradients off (evaluation, prediction,
// stage III's frozen features). local_input() is the attention-guided crop that stages II and
// III feed the local branch; the global branch runs frozen for it (eval mode, no graph).
#pragma once

#include <vector>

#include "agcnn/autograd/grad_mode.hpp"
#include "agcnn/model/agcnn_model.hpp"
#include "agcnn/model/attention.hpp"
#include "agcnn/train/data_source.hpp"

namespace agcnn::train {

struct BranchOutputs {
    Tensor global_logits, local_logits, fusion_logits;  // [B, 15] each
    Tensor global_pooled, local_pooled;                 // [B, F] each
    std::vector<model::Attention> attention;            // global branch's, per image
    std::vector<model::Attention> local_attention;      // local branch's, on the crop
    Tensor local_input;                                 // the crops [B, S, S, 3]
};

inline std::vector<Box> boxes_of(const std::vector<model::Attention>& attention) {
    std::vector<Box> boxes;
    for (const auto& a : attention) boxes.push_back(a.box);
    return boxes;
}

// Frozen global branch -> attention -> crops. Returns the global outputs too.
struct LocalInput {
    nn::ResNetOutput global;
    std::vector<model::Attention> attention;
    Tensor crops;
};
inline LocalInput local_input(model::AgCnn& net, const data::Batch& batch, DataSource& data,
                              const model::AttentionOptions& options, Device device) {
    NoGradGuard no_grad;
    net.global.eval();
    LocalInput out;
    out.global = net.global.forward_all(batch.images.to(device));
    const int size = static_cast<int>(batch.images.dim(1));
    out.attention = model::attend_batch(out.global.features, size, options);
    out.crops = data.crop(batch, boxes_of(out.attention));
    return out;
}

// All three branches, eval mode, no graph. `with_local_attention` also computes the local
// branch's own heatmap (pictures only).
inline BranchOutputs infer(model::AgCnn& net, const data::Batch& batch, DataSource& data,
                           const model::AttentionOptions& options, Device device,
                           bool with_local_attention = false) {
    NoGradGuard no_grad;
    LocalInput in = local_input(net, batch, data, options, device);
    net.local.eval();
    net.fusion.eval();
    const nn::ResNetOutput local = net.local.forward_all(in.crops.to(device));
    BranchOutputs out;
    out.global_logits = in.global.logits;
    out.global_pooled = in.global.pooled;
    out.local_logits = local.logits;
    out.local_pooled = local.pooled;
    out.fusion_logits = net.fuse(in.global.pooled, local.pooled);
    out.attention = std::move(in.attention);
    out.local_input = in.crops;
    if (with_local_attention)
        out.local_attention =
            model::attend_batch(local.features, static_cast<int>(in.crops.dim(1)), options);
    return out;
}

}  // namespace agcnn::train
