// agcnn-convert — import ImageNet-pretrained weights from the files users download, no Python.
//
//   agcnn-convert IN -o OUT.safetensors [--arch resnet50] [--drop-fc]
//     IN: a PyTorch .pth (zip or legacy format) or a safetensors file, detected by content.
//     Checks IN against the architecture (missing, unexpected, wrong-shaped names, as PyTorch's
//     strict load_state_dict) and writes every tensor (the classifier fc too, unless --drop-fc;
//     not num_batches_tracked) as float32 safetensors in PyTorch names and layouts, with the
//     source's sha256 and format in __metadata__ (see io/convert_weights.hpp, docs/weights.md).
//   agcnn-convert --inspect IN
//     Lists every tensor: name, stored dtype, shape, the sum of its values and the first 16 hex
//     digits of the sha256 of its contiguous little-endian bytes.
// Any failure is one line `agcnn-convert: error: <file>: <problem>` on stderr and exit code 1;
// OUT is written atomically, so a failed run leaves no partial file. OUT is never IN, nor an
// existing file that agcnn-convert did not write.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "agcnn/io/convert_weights.hpp"
#include "agcnn/io/output_guard.hpp"
#include "agcnn/io/sha256.hpp"

namespace {

void inspect(const std::string& path) {
    const std::string content = agcnn::io::read_file(path, agcnn::io::kMaxWeightFileBytes);
    const auto format = agcnn::io::detect_format(content, path);
    const agcnn::io::TensorFile file = agcnn::io::parse_weights(content, path, format);
    std::printf("%s: %s, %zu tensors, sha256 %s\n", path.c_str(), agcnn::io::format_name(format),
                file.tensors.size(), agcnn::io::sha256_hex(content).c_str());
    for (const auto& t : file.tensors) {
        double sum = 0;
        for (float v : t.to_float32(path)) sum += v;
        std::printf("%s\t%s\t%s\tsum=%.9g\tsha256=%.16s\n", t.name.c_str(), t.dtype.c_str(),
                    agcnn::shape_str(t.shape).c_str(), sum, agcnn::io::sha256_hex(t.bytes).c_str());
    }
}

// An existing OUT may be replaced only when it is an earlier output of agcnn-convert (a
// safetensors file whose metadata records its source's sha256).
void refuse_foreign_output(const std::string& in, const std::string& out) {
    agcnn::io::refuse_input_as_output(out, "-o", {in});
    std::error_code error;
    if (!std::filesystem::exists(out, error)) return;
    bool ours = false;
    try {
        ours = agcnn::io::read_safetensors(out).metadata.count("source_sha256") == 1;
    } catch (const agcnn::Error&) {
    }
    AGCNN_CHECK(ours, "-o ", out, ": exists and is not a file agcnn-convert wrote; refusing to overwrite it "
                "(choose another path, or remove the file yourself)");
}

void convert(const std::string& in, const std::string& out,
             const agcnn::io::ConvertOptions& options) {
    refuse_foreign_output(in, out);
    const std::string content = agcnn::io::read_file(in, agcnn::io::kMaxWeightFileBytes);
    const agcnn::io::Provenance from{in, agcnn::io::sha256_hex(content),
                                     agcnn::io::detect_format(content, in)};
    const agcnn::io::TensorFile weights = agcnn::io::convert_weights(
        agcnn::io::parse_weights(content, in, from.format), from, options);
    agcnn::io::write_safetensors(out, weights);
    std::printf("%s (%s): %zu tensors -> %s\n", in.c_str(), agcnn::io::format_name(from.format),
                weights.tensors.size(), out.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"agcnn-convert: PyTorch .pth or safetensors weights -> agcnn weights"};
    app.set_version_flag("--version", std::string("agcnn-convert ") + AGCNN_VERSION);
    std::string in, out;
    agcnn::io::ConvertOptions options;
    bool inspect_only = false;
    app.add_option("IN", in, "weights file: PyTorch .pth (zip or legacy) or safetensors")
        ->required();
    app.add_option("-o,--output", out, "output .safetensors file");
    app.add_option("--arch", options.arch, "architecture to check against")
        ->check(CLI::IsMember({"resnet50"}));
    app.add_flag("--drop-fc", options.drop_fc, "leave out the classifier (fc.weight, fc.bias)");
    app.add_flag("--inspect", inspect_only, "list the tensors of IN and exit");
    try {
        app.parse(argc, argv);
        if (!inspect_only && out.empty()) throw CLI::RequiredError("-o,--output");
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (inspect_only)
            inspect(in);
        else
            convert(in, out, options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "agcnn-convert: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
