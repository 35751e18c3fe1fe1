// agcnn forward / agcnn grad — audit the engine against any other implementation.
//
//   agcnn forward --model resnet50 --classes C --pool max|avg --weights W.safetensors
//                 --input X.npy --output Y.npy [--mode eval|train]
//     X: float32 [N, 3, H, W] (PyTorch's layout); Y: [N, C] logits.
//   agcnn grad    ... --input X.npy --labels L.npy --output DIR [--mode train|eval]
//     loss = BCE-with-logits, mean over batch and classes; writes DIR/loss.npy and one
//     DIR/<parameter name>.npy per parameter gradient, in PyTorch's name and layout.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "agcnn/io/output_guard.hpp"
#include "commands/common.hpp"

namespace agcnn::cli {

struct NetworkArgs {
    std::string model = "resnet50";
    std::int64_t classes = 1000;
    std::string pool = "avg";
    std::string weights, input, output, mode;
    std::string prefix;
    std::int64_t base_width = 64;
    int threads = 0;
    DeviceArgs device;
};

inline void add_network_options(CLI::App* command, NetworkArgs& args) {
    command->add_option("--model", args.model, "architecture (resnet50)")
        ->check(CLI::IsMember({"resnet50"}));
    command->add_option("--classes", args.classes, "number of outputs of the fc layer")
        ->check(CLI::PositiveNumber);
    command->add_option("--pool", args.pool, "global pooling: max (AG-CNN) or avg (torchvision)")
        ->check(CLI::IsMember({"max", "avg"}));
    command->add_option("--weights", args.weights, "weights (.safetensors, PyTorch names)")
        ->required();
    command->add_option("--prefix", args.prefix,
                        "name prefix of the network's tensors in the file (e.g. global.)");
    command->add_option("--base-width", args.base_width,
                        "channel width of the stem (64 in ResNet-50; smaller for narrow test copies)")
        ->check(CLI::PositiveNumber);
    command->add_option("--input", args.input, "input images, float32 .npy [N, 3, H, W]")
        ->required();
    add_threads_option(command, args.threads);
    add_conv_option(command);
    add_device_options(command, args.device);
}

inline std::unique_ptr<nn::ResNet50> load_network(const NetworkArgs& args, Device device) {
    auto net = std::make_unique<nn::ResNet50>(
        nn::ResNetConfig{args.classes, nn::parse_global_pool(args.pool), args.base_width, 0});
    io::load_module(args.weights, *net, args.prefix);
    net->to(device);
    if (args.mode == "train")
        net->train();
    else
        net->eval();
    return net;
}

inline Tensor load_images(const std::string& path) {
    const io::NpyArray x = io::read_npy_float32(path);
    AGCNN_CHECK(x.shape.size() == 4 && x.shape[1] == 3, path,
                ": expected float32 images [N, 3, H, W], got shape ", shape_str(x.shape));
    AGCNN_CHECK(x.shape[0] > 0 && x.shape[2] > 0 && x.shape[3] > 0, path,
                ": empty batch or image in shape ", shape_str(x.shape));
    return nchw_to_nhwc(x.values, x.shape);
}

inline void run_forward(const NetworkArgs& args) {
    io::refuse_input_as_output(args.output, "--output", {args.input, args.weights});
    io::refuse_foreign_output(args.output, "--output", "\x93NUMPY", "a .npy file");
    apply_threads(args.threads);
    const Device device = select_device(args.device.device, args.device.precision());
    const Tensor x = load_images(args.input).to(device);
    auto net = load_network(args, device);
    NoGradGuard no_grad;
    const Tensor logits = net->forward(x).to(Device::cpu());
    io::write_npy(args.output, logits.shape(), logits.data());
}

inline void run_grad(const NetworkArgs& args, const std::string& labels_path) {
    io::refuse_foreign_folder(args.output, "--output", "loss.npy", "an earlier agcnn grad output");
    apply_threads(args.threads);
    const Device device = select_device(args.device.device, args.device.precision());
    const Tensor x = load_images(args.input).to(device);
    const io::NpyArray labels = io::read_npy_float32(labels_path);
    AGCNN_CHECK(labels.shape == Shape({x.dim(0), args.classes}), labels_path,
                ": expected labels of shape ", shape_str({x.dim(0), args.classes}), ", got ",
                shape_str(labels.shape));
    auto net = load_network(args, device);
    const Tensor loss = ops::bce_with_logits(
        net->forward(x), Tensor::from_vector(labels.shape, labels.values).to(device));
    backward(loss);
    std::filesystem::create_directories(args.output);
    const std::string dir = args.output + "/";
    io::write_npy(dir + "loss.npy", {}, loss.to(Device::cpu()).data());
    for (const auto& entry : net->state()) {
        if (!entry.is_parameter) continue;
        const Tensor g = entry.tensor->grad().defined() ? entry.tensor->grad().to(Device::cpu())
                                                        : Tensor();
        AGCNN_CHECK(g.defined(), "no gradient reached parameter ", entry.name);
        if (entry.layout == nn::DiskLayout::conv_oihw) {
            const std::vector<float> oihw = io::ohwi_to_oihw(g);
            io::write_npy(dir + entry.name + ".npy", io::oihw_shape(g.shape()), oihw.data());
        } else {
            io::write_npy(dir + entry.name + ".npy", g.shape(), g.data());
        }
    }
}

inline void add_forward_grad_commands(CLI::App& app) {
    auto forward_args = std::make_shared<NetworkArgs>();
    CLI::App* forward = app.add_subcommand("forward", "run a network on .npy images, write logits");
    add_network_options(forward, *forward_args);
    forward_args->mode = "eval";
    forward->add_option("--output", forward_args->output, "logits .npy [N, classes]")->required();
    forward->add_option("--mode", forward_args->mode, "eval (running statistics) or train")
        ->check(CLI::IsMember({"eval", "train"}));
    forward->callback([forward_args] { run_forward(*forward_args); });

    auto grad_args = std::make_shared<NetworkArgs>();
    auto labels = std::make_shared<std::string>();
    CLI::App* grad = app.add_subcommand(
        "grad", "BCE loss and every parameter gradient of a network on .npy images");
    add_network_options(grad, *grad_args);
    grad_args->mode = "train";
    grad->add_option("--labels", *labels, "targets .npy [N, classes] in [0, 1]")->required();
    grad->add_option("--output", grad_args->output, "folder for loss.npy and <param>.npy")
        ->required();
    grad->add_option("--mode", grad_args->mode, "train (batch statistics) or eval")
        ->check(CLI::IsMember({"eval", "train"}));
    grad->callback([grad_args, labels] { run_grad(*grad_args, *labels); });
}

}  // namespace agcnn::cli
