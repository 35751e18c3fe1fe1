// The engine against PyTorch: files written by tests/reference/make_reference.py (PyTorch 1.13,
// float64 reference values). Every comparison prints the relative error of the whole tensor
// (||ours - torch|| / ||torch||) beside its tolerance and beside what PyTorch's own float32
// reaches against the same float64 values (stored in the file's metadata).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>

#include "agcnn/agcnn.hpp"
#include "agcnn/core/layout.hpp"
#include "gradcheck.hpp"

using namespace agcnn;
using namespace agcnn::test;

namespace {

const std::string kDir = std::string(AGCNN_TEST_DATA_DIR) + "/reference/";

struct Reference {
    io::TensorFile file;
    std::string path;
    explicit Reference(const std::string& name) : path(kDir + name) {
        file = io::read_safetensors(path);
    }
    const io::TensorRecord& record(const std::string& name) const {
        const io::TensorRecord* r = file.find(name);
        REQUIRE_MESSAGE(r != nullptr, path << " has no tensor " << name);
        return *r;
    }
    Vec values(const std::string& name) const { return to_double(record(name).to_float32(path)); }
    Shape shape(const std::string& name) const { return record(name).shape; }
    double metadata(const std::string& key) const { return std::stod(file.metadata.at(key)); }
};

Tensor nhwc_tensor(const Reference& ref, const std::string& name) {
    const Shape s = ref.shape(name);
    return tensor_from(channels_last_shape(s), to_channels_last(ref.values(name), s));
}

std::string format_error(double e) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.2e", e);
    return buffer;
}

void compare(const std::string& what, const Vec& ours, const Vec& torch64, double tolerance,
             double torch_f32 = -1) {
    REQUIRE(ours.size() == torch64.size());
    const double err = relative_error(ours, torch64);
    std::printf("  %-44s rel. error %.2e  (tolerance %.1e%s)\n", what.c_str(), err, tolerance,
                torch_f32 >= 0 ? (", PyTorch float32: " + format_error(torch_f32)).c_str() : "");
    INFO(what << ": relative error " << err << ", tolerance " << tolerance);
    CHECK(err < tolerance);
}

std::unique_ptr<nn::ResNet50> narrow_network(const Reference& ref, nn::GlobalPool pool) {
    auto net = std::make_unique<nn::ResNet50>(
        nn::ResNetConfig{.classes = 15, .pool = pool, .base_width = 4, .seed = 0});
    io::load_state(*net, ref.file, "model.", ref.path);
    return net;
}

}  // namespace

TEST_CASE("single ops against PyTorch (float64 reference; float32 ops, tolerance 1e-5 or 1e-6)") {
    const Reference ref("ops.safetensors");
    std::printf("ops vs PyTorch float64:\n");
    for (const auto& [name, stride, pad] : {std::tuple{"conv3x3s2", 2, 1},
                                            std::tuple{"conv7x7s2", 2, 3},
                                            std::tuple{"conv1x1s2", 2, 0}}) {
        const std::string p = name;
        Tensor x = nhwc_tensor(ref, p + ".in0"), w = nhwc_tensor(ref, p + ".in1");
        x.set_requires_grad(true);
        w.set_requires_grad(true);
        const Tensor y = ops::conv2d(x, w, stride, pad);
        compare(p + " forward", to_double(y), to_channels_last(ref.values(p + ".out"), ref.shape(p + ".out")), 1e-5);
        backward(y, nhwc_tensor(ref, p + ".dy"));
        compare(p + " dx", to_double(x.grad()),
                to_channels_last(ref.values(p + ".grad0"), ref.shape(p + ".grad0")), 1e-5);
        compare(p + " dw", to_double(w.grad()),
                to_channels_last(ref.values(p + ".grad1"), ref.shape(p + ".grad1")), 1e-5);
    }
    {
        Tensor x = nhwc_tensor(ref, "batch_norm_train.in0");
        Tensor g = tensor_from({4}, ref.values("batch_norm_train.in1"));
        Tensor b = tensor_from({4}, ref.values("batch_norm_train.in2"));
        for (Tensor* t : {&x, &g, &b}) t->set_requires_grad(true);
        const Tensor y = ops::batch_norm(x, g, b, Tensor::zeros({4}), Tensor::full({4}, 1.0f),
                                         {true, 0.1, 1e-5});
        const Shape s = ref.shape("batch_norm_train.out");
        compare("batch_norm train forward", to_double(y),
                to_channels_last(ref.values("batch_norm_train.out"), s), 1e-5);
        backward(y, nhwc_tensor(ref, "batch_norm_train.dy"));
        compare("batch_norm dx", to_double(x.grad()),
                to_channels_last(ref.values("batch_norm_train.grad0"), s), 1e-5);
        compare("batch_norm dgamma", to_double(g.grad()), ref.values("batch_norm_train.grad1"), 1e-5);
        compare("batch_norm dbeta", to_double(b.grad()), ref.values("batch_norm_train.grad2"), 1e-5);
    }
    {
        Tensor x = nhwc_tensor(ref, "max_pool.in0");
        x.set_requires_grad(true);
        const Tensor y = ops::max_pool2d(x, 3, 2, 1);
        compare("max_pool2d forward", to_double(y),
                to_channels_last(ref.values("max_pool.out"), ref.shape("max_pool.out")), 1e-6);
        backward(y, nhwc_tensor(ref, "max_pool.dy"));
        compare("max_pool2d dx", to_double(x.grad()),
                to_channels_last(ref.values("max_pool.grad0"), ref.shape("max_pool.grad0")), 1e-6);
    }
    {
        Tensor x = tensor_from({4, 6}, ref.values("linear.in0"));
        Tensor w = tensor_from({3, 6}, ref.values("linear.in1"));
        Tensor b = tensor_from({3}, ref.values("linear.in2"));
        for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
        const Tensor y = ops::linear(x, w, b);
        compare("linear forward", to_double(y), ref.values("linear.out"), 1e-5);
        backward(y, tensor_from({4, 3}, ref.values("linear.dy")));
        compare("linear dx", to_double(x.grad()), ref.values("linear.grad0"), 1e-5);
        compare("linear dw", to_double(w.grad()), ref.values("linear.grad1"), 1e-5);
        compare("linear db", to_double(b.grad()), ref.values("linear.grad2"), 1e-5);
    }
    // Elementwise, concat and global pooling: forward and every input gradient.
    const auto check_op = [&](const std::string& p, int inputs, const std::function<Tensor(std::vector<Tensor>&)>& op,
                              bool pool_input) {
        std::vector<Tensor> in;
        for (int i = 0; i < inputs; ++i) {
            const std::string name = p + ".in" + std::to_string(i);
            in.push_back(pool_input ? nhwc_tensor(ref, name) : tensor_from(ref.shape(name), ref.values(name)));
            in.back().set_requires_grad(true);
        }
        const Tensor y = op(in);
        compare(p + " forward", to_double(y), ref.values(p + ".out"), 1e-6);
        backward(y, tensor_from(ref.shape(p + ".dy"), ref.values(p + ".dy")));
        for (int i = 0; i < inputs; ++i) {
            const std::string name = p + ".grad" + std::to_string(i);
            const Vec expected = pool_input ? to_channels_last(ref.values(name), ref.shape(name)) : ref.values(name);
            compare(p + " d" + std::to_string(i), to_double(in[i].grad()), expected, 1e-6);
        }
    };
    check_op("relu", 1, [](std::vector<Tensor>& t) { return ops::relu(t[0]); }, false);
    check_op("add", 2, [](std::vector<Tensor>& t) { return ops::add(t[0], t[1]); }, false);
    check_op("sigmoid", 1, [](std::vector<Tensor>& t) { return ops::sigmoid(t[0]); }, false);
    check_op("concat", 2, [](std::vector<Tensor>& t) { return ops::concat_channels(t[0], t[1]); }, false);
    check_op("global_max_pool", 1, [](std::vector<Tensor>& t) { return ops::global_max_pool(t[0]); }, true);
    check_op("global_avg_pool", 1, [](std::vector<Tensor>& t) { return ops::global_avg_pool(t[0]); }, true);
    {
        Tensor x = tensor_from({4, 5}, ref.values("bce.in0"));
        x.set_requires_grad(true);
        const Tensor loss = ops::bce_with_logits(x, tensor_from({4, 5}, ref.values("bce.targets")),
                                                 tensor_from({5}, ref.values("bce.pos_weight")));
        compare("bce_with_logits (pos_weight) loss", to_double(loss), ref.values("bce.out"), 1e-6);
        backward(loss, tensor_from({1}, ref.values("bce.dy")));
        compare("bce_with_logits dx", to_double(x.grad()), ref.values("bce.grad0"), 1e-6);
    }
}

// Tolerances for the whole network: 3x what PyTorch float32 reaches against float64, and never
// tighter than 1e-5 (the bound for eval-mode logits).
TEST_CASE("narrow ResNet-50 topology against PyTorch: logits, loss, every gradient, Adam") {
    const Reference ref("resnet_narrow.safetensors");
    const Tensor x = nhwc_tensor(ref, "input");
    const Tensor labels = tensor_from({3, 15}, ref.values("labels"));
    auto bound = [&](const std::string& key) { return std::max(1e-5, 3 * ref.metadata(key)); };
    std::printf("narrow ResNet-50 vs PyTorch float64:\n");
    // Under the default (auto: direct at these widths) and with every 3x3 stride-1 convolution
    // by Winograd; the tolerances are the same.
    for (const cpu::ConvAlgorithm algorithm :
         {cpu::ConvAlgorithm::automatic, cpu::ConvAlgorithm::winograd}) {
        const cpu::ConvAlgorithmScope scope(algorithm);
        const std::string tag = algorithm == cpu::ConvAlgorithm::winograd ? " (winograd)" : "";

        struct EvalCase {
            nn::GlobalPool pool;
            const char* name;
            const char* key;  // the reference's logits and, under torch_f32_rel_err., PyTorch float32's error
        };
        for (const EvalCase& e : {EvalCase{nn::GlobalPool::max, "max pooling", "logits_eval"},
                                  EvalCase{nn::GlobalPool::avg, "average pooling", "logits_eval_avgpool"}}) {
            auto net = narrow_network(ref, e.pool);
            net->eval();
            NoGradGuard no_grad;
            const std::string error_key = std::string("torch_f32_rel_err.") + e.key;
            compare("logits, eval mode, " + std::string(e.name) + tag, to_double(net->forward(x)),
                    ref.values(e.key), bound(error_key), ref.metadata(error_key));
        }
        {
            auto net = narrow_network(ref, nn::GlobalPool::max);
            net->train();
            const Tensor logits = net->forward(x);
            compare("logits, train mode" + tag, to_double(logits), ref.values("logits_train"),
                    bound("torch_f32_rel_err.logits_train"), ref.metadata("torch_f32_rel_err.logits_train"));
            const Tensor loss = ops::bce_with_logits(logits, labels);
            compare("BCE loss, train mode" + tag, to_double(loss), ref.values("loss_train"), 1e-5);
            backward(loss);
            Vec ours, theirs;
            for (const auto& e : net->state()) {
                if (!e.is_parameter) continue;
                const Tensor g = e.tensor->grad();
                REQUIRE_MESSAGE(g.defined(), "no gradient for " << e.name);
                const Shape disk = io::disk_shape(e);
                const Vec expected = ref.values("grad." + e.name);
                const Vec mine = e.layout == nn::DiskLayout::conv_oihw
                                     ? to_double(io::ohwi_to_oihw(g))
                                     : to_double(g);
                ours.insert(ours.end(), mine.begin(), mine.end());
                theirs.insert(theirs.end(), expected.begin(), expected.end());
            }
            // PyTorch float32 reaches ~1e-4 here in one run but up to ~2e-3 over inputs perturbed at
            // float32 rounding level (a ReLU input within rounding of 0 flips): the bound is 3x that.
            compare("all parameter gradients together" + tag, ours, theirs,
                    bound("torch_f32_rel_err.gradients_worst"),
                    ref.metadata("torch_f32_rel_err.gradients_worst"));
        }
    }
    {
        auto net = narrow_network(ref, nn::GlobalPool::max);
        net->train();
        optim::Adam adam(net->named_parameters(), {.lr = 1e-3});
        Vec losses;
        for (int step = 0; step < 3; ++step) {
            adam.zero_grad();
            const Tensor loss = ops::bce_with_logits(net->forward(x), labels);
            losses.push_back(loss.item());
            backward(loss);
            adam.step();
        }
        // Adam moves every parameter by about lr whatever its gradient's size, so float32 noise in
        // tiny gradients changes later losses: PyTorch float32 lands up to a few 1e-2 away.
        compare("loss before Adam step 1", {losses[0]}, {ref.values("adam_losses")[0]}, 1e-5);
        compare("losses of 3 Adam steps", losses, ref.values("adam_losses"),
                bound("torch_f32_rel_err.adam_losses_worst"),
                ref.metadata("torch_f32_rel_err.adam_losses_worst"));
    }
}
