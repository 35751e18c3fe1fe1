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
#include "agcnn/train/config.hpp"
#include "gradcheck.hpp"
#include "hostile_input.hpp"

using namespace agcnn;

namespace {

const std::string kReference = std::string(AGCNN_TEST_DATA_DIR) + "/reference/resnet_narrow.safetensors";
const std::filesystem::path kTmp = std::filesystem::temp_directory_path() / "agcnn-test-cli";

struct Result {
    int exit_code;
    std::string err, out;
};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Runs agcnn with `args`; `limits` (shell commands such as "ulimit -v 4000000") bound the run.
Result run(const std::string& args, const std::string& limits = "") {
    std::filesystem::create_directories(kTmp);
    const std::string err_path = (kTmp / "stderr.txt").string(), out_path = (kTmp / "stdout.txt").string();
    const std::string command = (limits.empty() ? "" : limits + "; ") + std::string(AGCNN_BINARY) + " " + args +
                                " 2>" + err_path + " >" + out_path;
    const int status = std::system(command.c_str());
    return {WEXITSTATUS(status), read_text(err_path), read_text(out_path)};
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

// Every run below is bounded by 4 GB of address space and 60 s of CPU time, so a regression that
// spins, reads a device for ever or starts 100,000 threads fails instead of taking the machine.
// Under AddressSanitizer (CI's .ci/sanitizers.sh) the binary reserves terabytes of shadow address
// space and runs a few times slower: CPU time alone bounds it, at 240 s.
#if defined(__SANITIZE_ADDRESS__)
const std::string kLimits = "ulimit -t 240";
#else
const std::string kLimits = "ulimit -v 4000000; ulimit -t 60";
#endif

TEST_CASE("hostile flags: thread counts beyond the machine, in the flag's words and in config.json") {
    const std::string most = std::to_string(max_threads());
    for (const char* threads : {"100000", "5000"}) {
        const Result r = run("synth --out " + tmp("threads-synth") + " --images 1 --size 64 --threads " + threads, kLimits);
        INFO(r.err);
        CHECK(r.exit_code != 0);
        CHECK(r.err.find(std::string("--threads: ") + threads + " is more than " + most +
                         ", the most this machine allows (4 per core") != std::string::npos);
    }
    // The same count from a run's config.json on --resume: the file is named.
    train::TrainConfig config;
    config.data_dir = tmp("no-data");
    config.threads = 100000;
    std::filesystem::create_directories(tmp("threads-run"));
    io::write_file_atomic(tmp("threads-run/config.json"), nlohmann::json{{"version", "test"}, {"config", config}}.dump());
    check_one_line_error(run("train --out " + tmp("threads-run") + " --resume", kLimits),
                         "threads-run/config.json: threads: 100000 is more than " + most);
    // --images beyond the documented maximum is refused before anything is allocated.
    const Result images = run("synth --out " + tmp("too-many") + " --images 2000000000 --size 64", kLimits);
    CHECK(images.exit_code != 0);
    CHECK(images.err.find("--images") != std::string::npos);
}

// `agcnn synth` into a fresh tmp(name + "-data") with `synth_flags`, then `agcnn train` from it
// into a fresh tmp(name + "-run") with `train_flags`; the training's result.
Result synth_and_train(const std::string& name, const std::string& synth_flags, const std::string& train_flags) {
    const std::string data = tmp(name + "-data"), run_dir = tmp(name + "-run");
    std::filesystem::remove_all(data);
    std::filesystem::remove_all(run_dir);
    REQUIRE(run("synth --out " + data + " " + synth_flags, kLimits).exit_code == 0);
    return run("train --data " + data + " --out " + run_dir + " " + train_flags, kLimits);
}

TEST_CASE("hostile files: predict on a FIFO or a /dev/zero link is refused at once, naming the file") {
    // A run with the starting weights (zero epochs) on a tiny synthetic set.
    const Result trained = synth_and_train("predict", "--images 8 --size 64 --seed 1",
                                           "--base-width 2 --input-size 32 --resize 32 --pack 64 --global-epochs 0 "
                                           "--local-epochs 0 --fusion-epochs 0 --threads 2");
    const std::string data = tmp("predict-data"), run_dir = tmp("predict-run");
    INFO(trained.err);
    REQUIRE(trained.exit_code == 0);
    const std::string image = data + "/images/00000001_000.png";
    REQUIRE(run("predict --run " + run_dir + " " + image + " --out " + tmp("predicted"), kLimits).exit_code == 0);
    {
        testing::FifoWithWriter fifo(tmp("fifo.png"), io::read_file(image));
        REQUIRE(fifo.ready());
        check_one_line_error(run("predict --run " + run_dir + " " + tmp("fifo.png") + " --out " + tmp("predicted"), kLimits),
                             "fifo.png: not a regular file (a FIFO)");
    }
    std::filesystem::remove(tmp("zero.png"));
    std::filesystem::create_symlink("/dev/zero", tmp("zero.png"));
    check_one_line_error(run("predict --run " + run_dir + " " + tmp("zero.png") + " --out " + tmp("predicted"), kLimits),
                         "zero.png: not a regular file (a device)");
}

TEST_CASE("an ordinary small run trains and validates: its last batch of 2 images is left out") {
    // Issue 19's run: 34 training images in batches of 8. Its last batch of 2 made gradients 1000
    // times the others' and the first validation NaN, on which the AUROC's tie loop spun for ever
    // (bounded here by kLimits' 60 s of CPU).
    const Result r = synth_and_train("ordinary", "--images 60 --size 64 --seed 23",
                                     "--stage global --base-width 4 --input-size 32 --resize 40 --global-batch 8 "
                                     "--global-epochs 1 --seed 5");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("stage global: 34 training images in batches of 8; each epoch leaves out 2") != std::string::npos);
    const auto line = nlohmann::json::parse(io::read_file(tmp("ordinary-run") + "/metrics.jsonl"));
    REQUIRE(line["mean_auroc"].is_number());
    CHECK(std::isfinite(line["mean_auroc"].get<double>()));
}

TEST_CASE("[REQ-EVAL-07] [REQ-PROV-02] agcnn eval reports intervals, operating points, calibration and subgroups; "
          "predict calls findings; verify catches a changed byte") {
    const Result trained = synth_and_train("clinical", "--images 48 --size 64 --seed 3 --test-fraction 0.3",
                                           "--base-width 2 --input-size 32 --resize 32 --pack 64 --global-epochs 0 "
                                           "--local-epochs 0 --fusion-epochs 0 --val-fraction 0.3 --threads 2");
    INFO(trained.err);
    REQUIRE(trained.exit_code == 0);
    const std::string run_dir = tmp("clinical-run"), data = tmp("clinical-data");
    const Result eval = run("eval --run " + run_dir + " --bootstrap 50 --threads 2", kLimits);
    INFO(eval.err << eval.out);
    REQUIRE(eval.exit_code == 0);
    for (const char* text : {"95% intervals: patient bootstrap, 50 resamples", "operating points (fusion; youden on val",
                             "calibration (fusion): mean ECE", "subgroups (fusion)"})
        CHECK(eval.out.find(text) != std::string::npos);
    const auto results = nlohmann::json::parse(io::read_file(run_dir + "/results.json"));
    for (const char* key : {"confidence_intervals", "operating_points", "calibration", "subgroups", "paper_table_1"})
        CHECK(results.contains(key));
    CHECK(results["confidence_intervals"]["resamples"] == 50);
    CHECK(results["subgroups"]["groups"].size() >= 4);
    const auto thresholds = nlohmann::json::parse(io::read_file(run_dir + "/thresholds.json"));
    CHECK(thresholds["thresholds"].size() == 15);
    const std::string report = io::read_file(run_dir + "/report.html");
    for (const char* text : {"Research software, not cleared for clinical use", "reliability diagram",
                             "Operating points (fusion)", "Subgroups (fusion)", "The paper beside this run"})
        CHECK(report.find(text) != std::string::npos);

    // verify: clean, then a changed byte in an output and in an input, each named; then clean again.
    REQUIRE(run("verify " + run_dir, kLimits).exit_code == 0);
    for (const std::string& path : {run_dir + "/results.json", data + "/Data_Entry_2017.csv"}) {
        const std::string original = io::read_file(path);
        std::string changed = original;
        changed[changed.size() / 2] = char(changed[changed.size() / 2] ^ 0x20);
        io::write_file_atomic(path, changed);
        const Result v = run("verify " + run_dir, kLimits);
        CHECK(v.exit_code == 1);
        CHECK(v.out.find("changed: ") != std::string::npos);
        CHECK(v.out.find(std::filesystem::path(path).filename().string()) != std::string::npos);
        io::write_file_atomic(path, original);
    }
    CHECK(run("verify " + run_dir, kLimits).exit_code == 0);
    check_one_line_error(run("verify " + tmp("no-such-run"), kLimits), "no-such-run/manifest.json: cannot open");

    // predict uses the run's thresholds: one positive/negative/none per label and image.
    const Result p = run("predict --run " + run_dir + " " + data + "/images/00000001_000.png --out " +
                         tmp("clinical-predicted") + " --threads 2", kLimits);
    INFO(p.err << p.out);
    REQUIRE(p.exit_code == 0);
    CHECK(p.out.find("findings called positive/negative") != std::string::npos);
    const std::string findings = io::read_file(tmp("clinical-predicted") + "/findings.csv");
    CHECK(findings.rfind("image,Atelectasis,", 0) == 0);
    CHECK(std::count(findings.begin(), findings.end(), '\n') == 2);
    CHECK((findings.find("positive") != std::string::npos || findings.find("negative") != std::string::npos));
}
