// agcnn/model/forward.hpp — one batch through AG-CNN (Guan et al. 2018, figure 2), the one
// implementation that training, evaluation, predict and embedding programs all call.
//
//   1. global branch on the images                      -> global logits, pooled, features
//   2. attention on the global features (attention.hpp) -> one box per image, input pixels
//   3. crop: the box cut from the highest-resolution copy at hand, resized and normalised
//   4. local branch on the crops                        -> local logits, pooled
//   5. fusion of the two pooled vectors                 -> fusion logits
//
// Step 3 is the caller's: the model knows where to crop, only the data layer knows the source
// images and the geometry that made each network input (data/local_crop.hpp implements it). This
// is the paper's point (section 3.2): the crop comes from the source, not from the shrunken input.
//
// Contract of forward(net, images, crop, options):
//   - images [B, S, S, 3] normalised network inputs on any device; they and the crops are moved to
//     options.device, where the network must already be.
//   - options.trained names the one branch that runs in training mode and records the autograd
//     graph; every other branch is frozen: eval mode, gradients off, no activations kept. With no
//     trained branch everything is inference (evaluation, predict).
//   - options.through is the last branch computed: global skips steps 2-5 (stage I), local skips
//     step 5. The trained branch must not come after it.
//   - crop(boxes) returns the local inputs [B, S', S', 3] of boxes[i] (input pixels, integer edges)
//     for image i, on any device.
//   - options.boxes, when given (one per image), are the attention boxes: steps 1-2 are skipped
//     and the global outputs and attention stay empty. Stage II with augmentation off uses it:
//     the frozen global branch gives an image the same box every epoch (train/stage.hpp).
//   - the outputs of branches not computed are empty tensors / vectors.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "agcnn/autograd/grad_mode.hpp"
#include "agcnn/model/agcnn_model.hpp"
#include "agcnn/model/attention.hpp"

namespace agcnn::model {

// The local inputs of a batch from the attention boxes (see the contract above).
using CropFn = std::function<Tensor(const std::vector<Box>& boxes)>;

struct ForwardOptions {
    AttentionOptions attention;
    Device device;
    std::optional<Branch> trained;   // none: inference
    Branch through = Branch::fusion;
    bool local_attention = false;    // also the local branch's own heatmap on its crop (pictures)
    const std::vector<Box>* boxes = nullptr;  // known attention boxes (see the contract)
};

struct AgCnnOutputs {
    nn::ResNetOutput global;            // logits [B, 15], pooled [B, F], features [B, h, w, F]
    std::vector<Attention> attention;   // the global branch's, per image
    Tensor local_input;                 // the crops [B, S', S', 3]
    nn::ResNetOutput local;
    std::vector<Attention> local_attention;  // the local branch's, on the crop (when asked)
    Tensor fusion_logits;               // [B, 15]

    const Tensor& logits(Branch b) const {
        return b == Branch::global ? global.logits : b == Branch::local ? local.logits : fusion_logits;
    }
};

inline std::vector<Box> boxes_of(const std::vector<Attention>& attention) {
    std::vector<Box> boxes;
    for (const auto& a : attention) boxes.push_back(a.box);
    return boxes;
}

namespace detail {

// Runs `body` with `branch` trained (training mode, graph recorded) or frozen (eval mode, no graph).
template <class Body>
auto run_branch(nn::Module& branch, bool trained, Body&& body) {
    branch.train(trained);
    if (trained) return body();
    NoGradGuard no_grad;
    return body();
}

}  // namespace detail

inline AgCnnOutputs forward(AgCnn& net, const Tensor& images, const CropFn& crop,
                            const ForwardOptions& options) {
    check_rank(images, 4, "AG-CNN input");
    AGCNN_CHECK(!options.trained || *options.trained <= options.through, "AG-CNN forward: branch ",
                branch_name(*options.trained), " is trained but the pass stops after ",
                branch_name(options.through));
    auto trained = [&](Branch b) { return options.trained == b; };
    AgCnnOutputs out;
    if (options.boxes) {
        AGCNN_CHECK(options.through == Branch::local && !trained(Branch::global) &&
                        options.boxes->size() == static_cast<std::size_t>(images.dim(0)),
                    "AG-CNN forward: given attention boxes need a pass through the local branch and one box "
                    "per image (", options.boxes->size(), " for ", images.dim(0), ")");
        out.local_input = crop(*options.boxes);
    } else {
        out.global = detail::run_branch(net.global, trained(Branch::global),
                                        [&] { return net.global.forward_all(images.to(options.device)); });
        if (options.through == Branch::global) return out;
        out.attention = attend_batch(out.global.features, static_cast<int>(images.dim(1)), options.attention);
        out.local_input = crop(boxes_of(out.attention));
    }
    out.local = detail::run_branch(net.local, trained(Branch::local),
                                   [&] { return net.local.forward_all(out.local_input.to(options.device)); });
    if (options.local_attention)
        out.local_attention =
            attend_batch(out.local.features, static_cast<int>(out.local_input.dim(1)), options.attention);
    if (options.through == Branch::local) return out;

    out.fusion_logits = detail::run_branch(net.fusion, trained(Branch::fusion),
                                           [&] { return net.fuse(out.global.pooled, out.local.pooled); });
    return out;
}

}  // namespace agcnn::model
