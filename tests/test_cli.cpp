// The audit commands end to end: `agcnn forward` on a narrow ResNet-50 copy reproduces PyTorch's
// logits, and every kind of bad input gives one line on stderr that names the file and the
// problem, with a non-zero exit code.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agcnn/agcnn.hpp"
#include "gradcheck.hpp"

using namespace agcnn;

namespace {

const std::string kReference = std::string(AGCNN_TEST_DATA_DIR) + "/reference/resnet_narrow.safetensors";
const std::filesystem::path kTmp = std::filesystem::temp_directory_path() / "agcnn-test-cli";

struct Result {
    int exit_code;
    std::string err;
};

Result run(const std::string& args) {
    std::filesystem::create_directories(kTmp);
    const std::string err_path = (kTmp / "stderr.txt").string();
    const std::string command = std::string(AGCNN_BINARY) + " " + args + " 2>" + err_path + " >/dev/null";
    const int status = std::system(command.c_str());
    std::ifstream in(err_path);
    std::stringstream text;
    text << in.rdbuf();
    return {WEXITSTATUS(status), text.str()};
}

std::string tmp(const std::string& name) {
    std::filesystem::create_directories(kTmp);
    return (kTmp / name).string();
}

// The narrow network's flags: weights under "model." in the reference file.
const std::string kNet = "--model resnet50 --classes 15 --pool max --base-width 4 --prefix model. --threads 2";

void write_reference_input(const std::string& path) {
    const io::TensorFile ref = io::read_safetensors(kReference);
    const auto x = ref.find("input")->to_float32(kReference);
    io::write_npy(path, ref.find("input")->shape, x.data());
}

void check_one_line_error(const Result& r, const std::string& must_contain) {
    INFO("stderr: " << r.err);
    CHECK(r.exit_code != 0);
    CHECK(r.err.rfind("agcnn: error: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(must_contain) != std::string::npos);
}

}  // namespace

TEST_CASE("agcnn forward reproduces PyTorch's logits on the narrow network") {
    write_reference_input(tmp("x.npy"));
    const Result r = run("forward " + kNet + " --weights " + kReference + " --input " + tmp("x.npy") +
                         " --output " + tmp("y.npy"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const io::NpyArray y = io::read_npy(tmp("y.npy"));
    CHECK(y.shape == Shape{3, 15});
    const io::TensorFile ref = io::read_safetensors(kReference);
    const double err = test::relative_error(test::to_double(y.values),
                                            test::to_double(ref.find("logits_eval")->to_float32(kReference)));
    INFO("relative error " << err << " (tolerance 1e-5; PyTorch float32 gets 2e-7)");
    CHECK(err < 1e-5);
}

TEST_CASE("agcnn grad writes the loss and one file per parameter in PyTorch's layout") {
    write_reference_input(tmp("x.npy"));
    const io::TensorFile ref = io::read_safetensors(kReference);
    const auto labels = ref.find("labels")->to_float32(kReference);
    io::write_npy(tmp("labels.npy"), {3, 15}, labels.data());
    std::filesystem::remove_all(tmp("grads"));
    const Result r = run("grad " + kNet + " --weights " + kReference + " --input " + tmp("x.npy") +
                         " --labels " + tmp("labels.npy") + " --output " + tmp("grads"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(io::read_npy(tmp("grads/loss.npy")).values.at(0) ==
          doctest::Approx(ref.find("loss_train")->to_float32(kReference)[0]).epsilon(1e-5));
    CHECK(io::read_npy(tmp("grads/conv1.weight.npy")).shape == Shape{4, 3, 7, 7});
    CHECK(io::read_npy(tmp("grads/fc.bias.npy")).shape == Shape{15});
}

TEST_CASE("bad input: one line naming the file and the problem, non-zero exit") {
    write_reference_input(tmp("x.npy"));
    const std::string weights = " --weights " + kReference;
    check_one_line_error(run("forward " + kNet + weights + " --input " + tmp("missing.npy") + " --output " + tmp("y.npy")),
                         "missing.npy: cannot open");
    const float values[6] = {1, 2, 3, 4, 5, 6};
    io::write_npy(tmp("wrong-shape.npy"), {1, 2, 3}, values);
    check_one_line_error(run("forward " + kNet + weights + " --input " + tmp("wrong-shape.npy") + " --output " + tmp("y.npy")),
                         "wrong-shape.npy: expected float32 images [N, 3, H, W], got shape [1, 2, 3]");
    {  // float64 data
        std::string content = io::read_file(tmp("x.npy"));
        const auto at = content.find("<f4");
        content.replace(at, 3, "<f8");
        content.resize(content.size() + (content.size() - content.find('\n') - 1));
        io::write_file_atomic(tmp("double.npy"), content);
    }
    check_one_line_error(run("forward " + kNet + weights + " --input " + tmp("double.npy") + " --output " + tmp("y.npy")),
                         "double.npy: expected float32 ('<f4') data, got '<f8'");
    {  // truncated input
        const std::string content = io::read_file(tmp("x.npy"));
        io::write_file_atomic(tmp("truncated.npy"), content.substr(0, content.size() / 2));
    }
    check_one_line_error(run("forward " + kNet + weights + " --input " + tmp("truncated.npy") + " --output " + tmp("y.npy")),
                         "truncated.npy: .npy data has");
    {  // truncated weights
        const std::string content = io::read_file(kReference);
        io::write_file_atomic(tmp("truncated.safetensors"), content.substr(0, content.size() - 100));
    }
    check_one_line_error(run("forward " + kNet + " --weights " + tmp("truncated.safetensors") + " --input " + tmp("x.npy") + " --output " + tmp("y.npy")),
                         "truncated.safetensors: tensor");
    // Missing names (wrong prefix) and wrong shapes (wrong class count).
    check_one_line_error(run("forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix nothing." + weights +
                             " --input " + tmp("x.npy") + " --output " + tmp("y.npy")),
                         "weights do not match the model: missing (267)");
    check_one_line_error(run("forward --model resnet50 --classes 14 --pool max --base-width 4 --prefix model." + weights +
                             " --input " + tmp("x.npy") + " --output " + tmp("y.npy")),
                         "wrong shape (2): model.fc.weight (file [15, 128], model [14, 128])");
    {  // an extra name
        io::TensorFile file = io::read_safetensors(kReference);
        const float one = 1;
        file.add_f32("model.extra.weight", {1}, &one);
        io::write_safetensors(tmp("extra.safetensors"), file);
    }
    check_one_line_error(run("forward " + kNet + " --weights " + tmp("extra.safetensors") + " --input " + tmp("x.npy") + " --output " + tmp("y.npy")),
                         "unexpected (1): model.extra.weight");
    // A GPU where there is none (or no CUDA build), and a CUDA precision mode on the CPU.
    check_one_line_error(run("forward " + kNet + weights + " --input " + tmp("x.npy") + " --output " +
                             tmp("y.npy") + " --device cuda:7"),
                         agcnn::kCudaBuilt ? "cuda:7 does not exist"
                                           : "this agcnn was built without the CUDA backend, so "
                                             "tensors cannot live on cuda:7");
    check_one_line_error(run("forward " + kNet + weights + " --input " + tmp("x.npy") + " --output " +
                             tmp("y.npy") + " --bf16"),
                         "precision bf16 needs a CUDA device");
    io::write_npy(tmp("bad-labels.npy"), {2, 3}, values);
    check_one_line_error(run("grad " + kNet + weights + " --input " + tmp("x.npy") + " --labels " + tmp("bad-labels.npy") +
                             " --output " + tmp("g")),
                         "bad-labels.npy: expected labels of shape [3, 15], got [2, 3]");
}
