// The audit commands end to end: `agcnn forward` on a narrow ResNet-50 copy reproduces PyTorch's
// logits, and every kind of bad input gives one line on stderr that names the file and the
// problem, with a non-zero exit code. Run folders survive kill -9, a move and a concurrent start;
// no command overwrites its input.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "agcnn/agcnn.hpp"
#include "agcnn/io/sha256.hpp"
#include "agcnn/data/dicom_writer.hpp"
#include "agcnn/data/gray_buffer.hpp"
#include "agcnn/data/image_file.hpp"
#include "agcnn/train/config.hpp"
#include "gradcheck.hpp"
#include "hostile_input.hpp"

using namespace agcnn;

namespace {

const std::string kReference = std::string(AGCNN_TEST_DATA_DIR) + "/reference/resnet_narrow.safetensors";
// One folder per test process (several checkouts' tests may run at once on one machine), removed
// at exit.
const std::filesystem::path kTmp =
    std::filesystem::temp_directory_path() / ("agcnn-test-cli-" + std::to_string(::getpid()));
struct RemoveTmpAtExit {
    ~RemoveTmpAtExit() {
        std::error_code error;
        std::filesystem::remove_all(kTmp, error);
    }
} remove_tmp_at_exit;

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

// The JSON line `agcnn bench` prints last.
nlohmann::json last_json_line(const std::string& out) {
    const std::size_t last_line = out.rfind('\n', out.size() - 2);
    return nlohmann::json::parse(out.substr(last_line == std::string::npos ? 0 : last_line + 1));
}

// The smallest `agcnn bench` run: one inference step of a narrow ResNet-50 on a 64x64 image.
const std::string kTinyBench = "bench --model resnet50 --base-width 4 --size 64 --batch 1 --infer --steps 1 --warmup 0";

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

TEST_CASE("a CPU run loads no CUDA library; a CUDA device without the backend module is one line naming the file tried") {
    // LD_DEBUG=files: the dynamic linker names on stderr every shared object it opens. The CUDA
    // backend is the module libagcnn_cuda.so, opened only for a CUDA device (core/cuda_module.hpp).
    const Result version = run("--version", "export LD_DEBUG=files");
    REQUIRE(version.exit_code == 0);
    CHECK(version.err.find("calling init:") != std::string::npos);  // LD_DEBUG did report
    for (const char* library : {"libagcnn_cuda", "libcudart", "libcublas", "libcudnn", "libnccl"}) {
        INFO(library);
        CHECK(version.err.find(library) == std::string::npos);
    }
    if constexpr (kCudaBuilt)
        check_one_line_error(run("bench --device cuda", "export AGCNN_CUDA_MODULE=" + tmp("no-such-module.so")),
                             tmp("no-such-module.so") + ": cannot open shared object file");
    else
        check_one_line_error(run("bench --device cuda"), "built without the CUDA backend");
}

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

TEST_CASE("OMP_PROC_BIND: the threads still default to every core, and --threads is not capped to one") {
    // libgomp binds the initial thread to its first place when OMP_PROC_BIND is set: its
    // affinity mask then holds one CPU, in this process and, inherited, in the one that agcnn's
    // start-up executes again (OMP_WAIT_POLICY unset). Both paths are run.
    for (const std::string env : {"unset OMP_WAIT_POLICY GOMP_SPINCOUNT; export OMP_PROC_BIND=true",
                                  "export OMP_WAIT_POLICY=passive OMP_PROC_BIND=spread OMP_PLACES=cores"})
        for (const std::string& threads : {std::string(), " --threads " + std::to_string(std::min(2, core_count()))}) {
            const Result r = run(kTinyBench + threads, env);
            INFO(env << threads << "\n" << r.err);
            REQUIRE(r.exit_code == 0);
            CHECK(last_json_line(r.out).at("threads").get<int>() == (threads.empty() ? core_count() : std::min(2, core_count())));
        }
}

TEST_CASE("more threads asked than cores: capped to the cores, and said on stderr") {
    const std::string more = std::to_string(core_count() + 1);
    for (const auto& [flag, env, source] : {std::tuple{" --threads " + more, std::string(), "--threads"},
                                             {std::string(), "export OMP_NUM_THREADS=" + more, "OMP_NUM_THREADS"}}) {
        const Result r = run(kTinyBench + flag, env);
        INFO(flag << env << "\n" << r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(r.err.find(more + " threads asked (" + source + "), this process may use " + std::to_string(core_count()) +
                         " cores: running " + std::to_string(core_count()) + " threads") != std::string::npos);
        CHECK(last_json_line(r.out).at("threads").get<int>() == core_count());
    }
    // As many as the cores: nothing said.
    const Result r = run(kTinyBench + " --threads " + std::to_string(core_count()));
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("threads asked") == std::string::npos);
}

TEST_CASE("CPU sharing: beside one busy process per core the threads are kept together; off when asked") {
    if (core_count() < 2) return;  // one core: nothing to keep together
    const std::string env = "unset OMP_PROC_BIND OMP_PLACES AGCNN_CPU_SHARING";
    auto bench = [&](int steps, const std::string& more_env) {
        const auto start = std::chrono::steady_clock::now();
        const Result r = run("bench --model resnet50 --base-width 8 --size 96 --batch 1 --infer --warmup 0 --steps " +
                             std::to_string(steps), env + more_env);  // more_env: "" or "; export ..."
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        return std::make_pair(last_json_line(r.out).at("cpu_sharing"), seconds);
    };
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;  // to agcnn, another process keeping every core busy
    for (int i = 0; i < core_count(); ++i)
        spinners.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
            }
        });
    // Long enough for a few of the sharing's quarter-second windows on any machine.
    int steps = 50;
    auto [on, on_seconds] = bench(steps, "");
    while (on_seconds < 1.5 && steps < 100000) std::tie(on, on_seconds) = bench(steps *= 4, "");
    const auto [off, off_seconds] = bench(steps, "; export AGCNN_CPU_SHARING=off");
    stop = true;
    for (std::thread& t : spinners) t.join();
    INFO(on.dump(), " after ", on_seconds, " s; off: ", off.dump(), " after ", off_seconds, " s");
    CHECK(on.at("on").get<bool>());
    CHECK(on.at("changes").get<int>() >= 1);
    CHECK(!off.at("on").get<bool>());
    CHECK(off.at("changes").get<int>() == 0);
    CHECK(off.at("cpus").empty());
    check_one_line_error(run("bench --model resnet50 --base-width 4 --size 64 --infer --steps 1", "export AGCNN_CPU_SHARING=sometimes"),
                         "AGCNN_CPU_SHARING=sometimes: expected on or off");
    // The user's own placement turns it off.
    CHECK(!bench(1, "; export OMP_PROC_BIND=true").first.at("on").get<bool>());
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

TEST_CASE("one or two threads, one or three loader workers: every weight file and prediction is the same to the bit") {
    // DESIGN.md, Determinism (issue 17). Large enough that every parallel path splits its work:
    // batch norm's sums run over several chunks, the GEMMs over both threads (base width 16 at
    // input 64, batches of 8). The thread count, the workers and the input paths are left out of
    // the config the weight files record, so whole files are compared; the second run reads a
    // copy of the data in another folder, as two `agcnn demo --out DIR` runs do.
    const std::string data = tmp("bits-data"), copy = tmp("bits-data-copy");
    std::filesystem::remove_all(data);
    std::filesystem::remove_all(copy);
    REQUIRE(run("synth --out " + data + " --images 40 --size 96 --seed 9", kLimits).exit_code == 0);
    std::filesystem::copy(data, copy, std::filesystem::copy_options::recursive);
    const std::string train = "train --base-width 16 --input-size 64 --resize 72 --pack 96 "
                              "--global-epochs 1 --local-epochs 1 --fusion-epochs 1 --global-batch 8 --local-batch 8 "
                              "--fusion-batch 8 --tau 0.6 --seed 4 --quiet ";
    for (const auto& [name, flags] : {std::pair{"bits-1", "--threads 1 --workers 1 --data " + data},
                                      {"bits-2", "--threads 2 --workers 3 --data " + copy}}) {
        std::filesystem::remove_all(tmp(name));
        const Result r = run(train + "--out " + tmp(name) + " " + flags, kLimits);
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    for (const char* file : {"global-best.safetensors", "local-best.safetensors", "fusion-best.safetensors",
                             "checkpoint-fusion.safetensors"}) {
        INFO(file);
        const std::string one = io::read_file(tmp("bits-1/") + file, 1ull << 30);
        CHECK(!one.empty());
        CHECK(one == io::read_file(tmp("bits-2/") + file, 1ull << 30));
    }
    std::vector<std::string> pngs;
    for (const auto& e : std::filesystem::directory_iterator(data + "/images")) pngs.push_back(e.path().string());
    std::sort(pngs.begin(), pngs.end());
    REQUIRE(pngs.size() >= 4);
    const std::string images = " " + pngs[0] + " " + pngs[1] + " " + pngs[2] + " " + pngs[3];
    for (const char* threads : {"1", "2"})
        REQUIRE(run("predict --run " + tmp("bits-1") + images + " --out " + tmp(std::string("bits-predicted-") + threads) +
                        " --threads " + threads,
                    kLimits)
                    .exit_code == 0);
    const std::string csv = read_text(tmp("bits-predicted-1") + "/predictions.csv");
    CHECK(!csv.empty());
    CHECK(read_text(tmp("bits-predicted-2") + "/predictions.csv") == csv);
}

namespace {

std::string file_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// A run trained for one epoch per stage on a tiny synthetic set, exported to a model file (made
// once per test process).
std::string exported_model() {
    static bool made = false;
    const std::string model = tmp("exported.safetensors");
    if (made) return model;
    made = true;
    const Result trained = synth_and_train("export", "--images 24 --size 64 --seed 3",
                                           "--base-width 2 --input-size 32 --resize 36 --pack 64 --global-epochs 1 "
                                           "--local-epochs 1 --fusion-epochs 1 --global-batch 8 --local-batch 8 "
                                           "--fusion-batch 8 --tau 0.6 --threads 2");
    INFO(trained.err);
    REQUIRE(trained.exit_code == 0);
    const Result exported = run("export --run " + tmp("export-run") + " -o " + model);
    INFO(exported.err);
    REQUIRE(exported.exit_code == 0);
    return model;
}

}  // namespace

// ---- DICOM (docs/dicom.md) ------------------------------------------------------------------

namespace {

// Runs agcnn with `args`, keeping stdout and stderr together (for searching every output).
Result run_keeping_output(const std::string& args, const std::string& output_path) {
    const std::string command = kLimits + "; " + std::string(AGCNN_BINARY) + " " + args + " >" + output_path + " 2>&1";
    const int status = std::system(command.c_str());
    return {WEXITSTATUS(status), io::read_file(output_path), {}};
}

// Every byte of every regular file under `folder` (or the file itself), with its path.
std::vector<std::pair<std::string, std::string>> all_files(const std::string& folder) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(folder))
        if (e.is_regular_file()) out.emplace_back(e.path().string(), io::read_file(e.path().string(), 1ull << 30));
    return out;
}

}  // namespace

TEST_CASE("agcnn export: one model file with readable settings; predict --model gives what --run gives") {
    const std::string model = exported_model(), run_dir = tmp("export-run");
    const io::TensorFile file = io::read_safetensors(model);
    CHECK(file.metadata.at("format") == "agcnn-model");
    CHECK(file.metadata.at("input_size") == "32");
    CHECK(file.metadata.at("resize") == "36");
    CHECK(file.metadata.at("pack_side") == "64");
    CHECK(file.metadata.at("tau") == "0.6");
    CHECK(file.metadata.at("heatmap") == "max");
    CHECK(file.metadata.at("software_version") == AGCNN_VERSION);
    CHECK(file.metadata.at("source_weights_sha256") ==
          io::sha256_hex(io::read_file(run_dir + "/fusion-best.safetensors")));
    CHECK(file.find("fusion.weight") != nullptr);
    CHECK(file.find("local.layer4.2.bn3.running_var") != nullptr);

    const std::string images = tmp("export-data") + "/images";
    REQUIRE(run("predict --run " + run_dir + " " + images + " --out " + tmp("by-run"), kLimits).exit_code == 0);
    REQUIRE(run("predict --model " + model + " " + images + " --out " + tmp("by-model"), kLimits).exit_code == 0);
    const std::string csv = file_text(tmp("by-run") + "/predictions.csv");
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + 3 * 24);
    CHECK(file_text(tmp("by-model") + "/predictions.csv") == csv);
    CHECK(file_text(tmp("by-model") + "/predictions.json") == file_text(tmp("by-run") + "/predictions.json"));

    check_one_line_error(run("predict --model " + run_dir + "/fusion-best.safetensors " + images + " --out " +
                             tmp("by-model")),
                         "fusion-best.safetensors: not an agcnn model file: metadata key 'format' is missing");
    check_one_line_error(run("export --run " + tmp("no-such-run") + " -o " + tmp("x.safetensors")), "no-such-run");
}

TEST_CASE("the C example, built against the installed package, prints agcnn predict's numbers for a real X-ray") {
    const std::filesystem::path sample = std::filesystem::path(AGCNN_SHARED_DIR) / "data" / "nih-sample" / "images-256";
    if (!std::filesystem::exists(sample / "00000001_002.png")) {
        MESSAGE("skipped: the shared sample " << sample << " is not on this machine");
        return;
    }
    const std::string model = exported_model(), prefix = tmp("installed"), example = tmp("example-build");
    std::filesystem::remove_all(prefix);
    std::filesystem::remove_all(example);
    const std::string cmake = std::string("\"") + AGCNN_CMAKE + "\"";
    const std::string log = tmp("install.log");
    auto sh = [&](const std::string& command) { return std::system((command + " >>" + log + " 2>&1").c_str()); };
    REQUIRE(sh(cmake + " --install " + AGCNN_BUILD_DIR + " --prefix " + prefix + " --component development") == 0);
    REQUIRE(sh(cmake + " -S " + AGCNN_SOURCE_DIR + "/examples/c_predict -B " + example +
               " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + prefix) == 0);
    REQUIRE(sh(cmake + " --build " + example) == 0);

    const std::string image = (sample / "00000001_002.png").string();
    REQUIRE(std::system((example + "/agcnn_c_predict " + model + " " + image + " >" + tmp("example.txt")).c_str()) == 0);
    REQUIRE(run("predict --model " + model + " " + image + " --out " + tmp("real"), kLimits).exit_code == 0);
    const std::string printed = file_text(tmp("example.txt")), csv = file_text(tmp("real") + "/predictions.csv");
    // The three branches' lines, without the millimetre columns (empty for a PNG).
    std::string rows = csv.substr(csv.find('\n') + 1);
    for (std::size_t at; (at = rows.find(",,,,\n")) != std::string::npos;) rows.erase(at, 4);
    INFO(printed);
    CHECK(std::count(rows.begin(), rows.end(), '\n') == 3);
    CHECK(printed.substr(0, rows.size()) == rows);
    // The box: predictions.json's [x, y, w, h], the example's "box" line.
    const auto box = nlohmann::json::parse(file_text(tmp("real") + "/predictions.json"))[image]["box"];
    double x, y, w, h;
    REQUIRE(std::sscanf(printed.substr(printed.find(",box,") + 5).c_str(), "%lf,%lf,%lf,%lf", &x, &y, &w, &h) == 4);
    CHECK(x == doctest::Approx(box[0].get<double>()).epsilon(1e-8));
    CHECK(y == doctest::Approx(box[1].get<double>()).epsilon(1e-8));
    CHECK(w == doctest::Approx(box[2].get<double>()).epsilon(1e-8));
    CHECK(h == doctest::Approx(box[3].get<double>()).epsilon(1e-8));
}

TEST_CASE("DICOM: predict on a 16-bit MONOCHROME1 JPEG 2000 file gives the probabilities and box of the same 16-bit PNG") {
    if (!data::kDicomBuilt) {
        MESSAGE("SKIPPED: built without GDCM");
        return;
    }
    const Result trained = synth_and_train("dicom-predict", "--images 16 --size 64 --seed 3",
                                           "--base-width 2 --input-size 32 --resize 36 --pack 64 --global-epochs 1 "
                                           "--global-batch 4 --local-epochs 0 --fusion-epochs 0 --threads 2 --seed 2");
    INFO(trained.err);
    REQUIRE(trained.exit_code == 0);
    // A 96 x 80 picture using all 16 bits (bright disc on a ramp, low byte varying on its own).
    const int width = 96, height = 80;
    std::vector<std::uint16_t> value, stored;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const double ramp = 20000.0 + 300.0 * x + ((x - 60) * (x - 60) + (y - 30) * (y - 30) < 200 ? 25000 : 0);
            value.push_back(static_cast<std::uint16_t>(int(ramp) ^ ((x * 7 + y * 13) & 0xFF)));
            stored.push_back(static_cast<std::uint16_t>(65535 - value.back()));  // MONOCHROME1: white = low
        }
    const std::string png = tmp("same.png"), dcm = tmp("same.dcm");
    data::write_png(png, data::gray_image_from_u16(value.data(), width, height, 16));
    data::DicomWriteSpec spec;
    spec.bits_stored = 16;
    spec.monochrome1 = true;
    spec.transfer_syntax = "j2k";
    spec.window = data::DicomWindow{32768, 65536, "LINEAR"};  // the identity on 16 bits
    spec.spacing = data::PixelSpacing{0.15, 0.125, "ImagerPixelSpacing"};
    io::write_file_atomic(dcm, data::encode_dicom(stored.data(), width, height, spec));
    const std::string out = tmp("dicom-predicted");
    std::filesystem::remove_all(out);
    const Result predicted = run("predict --run " + tmp("dicom-predict-run") + " " + png + " " + dcm + " --out " + out, kLimits);
    INFO(predicted.err);
    REQUIRE(predicted.exit_code == 0);
    const auto json = nlohmann::json::parse(io::read_file(out + "/predictions.json"));
    const auto& a = json.at(png);
    const auto& b = json.at(dcm);
    for (const char* branch : {"global", "local", "fusion"})
        for (const auto& [label, p] : a.at(branch).items()) {
            INFO(branch << " " << label);
            CHECK(std::abs(p.get<double>() - b.at(branch).at(label).get<double>()) <= 1e-5);
        }
    CHECK(a.at("box") == b.at("box"));
    // The box in millimetres: x and width by the column spacing, y and height by the row spacing.
    CHECK_FALSE(a.contains("box_mm"));
    REQUIRE(b.contains("box_mm"));
    CHECK(b.at("pixel_spacing").at("source") == "ImagerPixelSpacing");
    for (int k = 0; k < 4; ++k)
        CHECK(b.at("box_mm")[k].get<double>() == doctest::Approx(b.at("box")[k].get<double>() * (k % 2 ? 0.15 : 0.125)));
    const std::string csv = io::read_file(out + "/predictions.csv");
    CHECK(csv.find(",box_x_mm,box_y_mm,box_width_mm,box_height_mm,pixel_spacing\n") != std::string::npos);
    CHECK(csv.find(",ImagerPixelSpacing\n") != std::string::npos);
    CHECK(csv.find(png + ",global,") != std::string::npos);
}

TEST_CASE("DICOM: a synthetic DICOM data set goes through dataset, train, eval and predict; no patient field leaves the files") {
    if (!data::kDicomBuilt) {
        MESSAGE("SKIPPED: built without GDCM");
        return;
    }
    const std::string data_dir = tmp("dicom-e2e-data"), run_dir = tmp("dicom-e2e-run"), out = tmp("dicom-e2e-out");
    for (const auto& d : {data_dir, run_dir, out}) std::filesystem::remove_all(d);
    REQUIRE(run("synth --out " + data_dir + " --images 40 --size 64 --seed 4 --format dicom", kLimits).exit_code == 0);
    // Every fourth image becomes a file full of identifying fields (its pixels unchanged).
    const std::vector<std::pair<std::string, std::string>> secrets = {
        {"PN", "SECRETNAME^JANE"}, {"LO", "PID-7741-SECRET"},   {"DA", "19230405"},
        {"SH", "ACC-99120-SECRET"}, {"LO", "SECRET GENERAL HOSPITAL"}, {"PN", "DRSECRET^WHO"}};
    const std::uint16_t tags[][2] = {{0x0010, 0x0010}, {0x0010, 0x0020}, {0x0010, 0x0030},
                                     {0x0008, 0x0050}, {0x0008, 0x0080}, {0x0008, 0x0090}};
    int rewritten = 0, index = 0;
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(data_dir + "/images")) names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    for (const std::string& path : names) {
        if (index++ % 4 != 0) continue;
        const data::GrayImage image = data::read_image(path);
        data::DicomWriteSpec spec;
        spec.window = data::DicomWindow{32768, 65536, "LINEAR"};
        spec.spacing = data::PixelSpacing{0.143, 0.143, "PixelSpacing"};
        for (std::size_t k = 0; k < secrets.size(); ++k) spec.text.push_back({tags[k][0], tags[k][1], secrets[k].first, secrets[k].second});
        io::write_file_atomic(path, data::encode_dicom(image.deep.data(), image.width, image.height, spec));
        CHECK(io::read_file(path).find("SECRETNAME^JANE") != std::string::npos);  // the field is really there
        ++rewritten;
    }
    REQUIRE(rewritten == 10);
    std::vector<Result> results;
    results.push_back(run_keeping_output("dataset --data " + data_dir, tmp("dicom-e2e-1.txt")));
    results.push_back(run_keeping_output("train --data " + data_dir + " --out " + run_dir +
                                             " --base-width 2 --input-size 32 --resize 36 --pack 64 --global-epochs 1 "
                                             "--local-epochs 1 --fusion-epochs 1 --global-batch 8 --local-batch 8 "
                                             "--fusion-batch 8 --threads 2 --seed 1",
                                         tmp("dicom-e2e-2.txt")));
    results.push_back(run_keeping_output("eval --run " + run_dir + " --split test", tmp("dicom-e2e-3.txt")));
    results.push_back(run_keeping_output("predict --run " + run_dir + " " + data_dir + "/images --steps --out " + out,
                                         tmp("dicom-e2e-4.txt")));
    for (const Result& r : results) {
        INFO(r.err);
        CHECK(r.exit_code == 0);
    }
    REQUIRE(std::filesystem::exists(out + "/predictions.json"));
    const auto json = nlohmann::json::parse(io::read_file(out + "/predictions.json"));
    CHECK(json.size() == 40);
    // No identifying value anywhere: command output, run folder, predictions, pictures, the pack.
    auto files = all_files(run_dir);
    for (auto& f : all_files(out)) files.push_back(std::move(f));
    for (const auto& e : std::filesystem::directory_iterator(data_dir))
        if (e.is_regular_file() && e.path().extension() == ".bin") files.emplace_back(e.path().string(), io::read_file(e.path().string(), 1ull << 30));
    for (int k = 1; k <= 4; ++k) files.emplace_back("output of command " + std::to_string(k), results[std::size_t(k - 1)].err);
    CHECK(files.size() > 50);
    for (const auto& [path, bytes] : files)
        for (const auto& [vr, secret] : secrets) {
            INFO(path << " contains " << secret);
            CHECK(bytes.find(secret) == std::string::npos);
        }
}

// ---- Issues 12 and 19: run folders that survive kills, moves, concurrent starts and mistakes ----

// `agcnn ARGS` started in the background (the shell execs agcnn, so the pid is agcnn's).
pid_t spawn(const std::string& args) {
    const std::string command = "exec " + std::string(AGCNN_BINARY) + " " + args + " >/dev/null 2>&1";
    const pid_t child = ::fork();
    if (child == 0) {
        testing::default_signal_handlers();
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    return child;
}

// Waits up to 60 s for `path` to exist while `pid` runs; false when it never appears.
bool wait_for_file(const std::string& path, pid_t pid) {
    for (int i = 0; i < 6000; ++i) {
        if (std::filesystem::exists(path)) return true;
        if (::waitpid(pid, nullptr, WNOHANG) == pid) return std::filesystem::exists(path);
        ::usleep(10000);
    }
    return false;
}

bool same_bytes(const std::string& a, const std::string& b) {
    return std::filesystem::exists(a) && std::filesystem::exists(b) && io::read_file(a, 1ull << 30) == io::read_file(b, 1ull << 30);
}

const std::string kTinyRun = "--base-width 2 --input-size 32 --resize 32 --pack 64 --global-epochs 2 --local-epochs 1 "
                             "--fusion-epochs 1 --global-batch 4 --local-batch 4 --fusion-batch 4 --seed 5 --threads 1 "
                             "--workers 1 --checkpoint-minutes 0.0001 --quiet";

// The uninterrupted tiny run (data in TMP/kill-data, run in TMP/kill-run) that the kill -9 case
// compares with and later cases damage copies of; made once per test process, so that each case
// also runs alone (-tc).
std::string tiny_reference_run() {
    static bool made = false;
    const std::string run_dir = tmp("kill-run");
    if (made) return run_dir;
    made = true;
    const Result whole = synth_and_train("kill", "--images 24 --size 64 --seed 3", kTinyRun);
    INFO(whole.err);
    REQUIRE(whole.exit_code == 0);
    return run_dir;
}

TEST_CASE("kill -9 mid-run: a second train on the folder is refused naming the holder; the rerun removes stale "
          "temporaries and ends with the uninterrupted run's weights, byte for byte") {
    const std::string reference = tiny_reference_run(), data = tmp("kill-data"), killed = tmp("kill-killed");
    std::filesystem::remove_all(killed);
    const std::string command = "train --data " + data + " --out " + killed + " " + kTinyRun;
    const pid_t first = spawn(command);
    REQUIRE(wait_for_file(killed + "/checkpoint-global.safetensors", first));
    // Stopped (not ended) so that it still holds the lock however fast this machine finishes the
    // tiny run; SIGKILL ends it below as it would a running one.
    REQUIRE(::kill(first, SIGSTOP) == 0);
    // The folder is locked: a second process says who holds it and exits.
    const Result second = run(command, kLimits);
    INFO(second.err);
    CHECK(second.exit_code != 0);
    CHECK(second.err.find("run folder " + killed + " is in use: " + killed + "/.lock is locked by agcnn process " +
                          std::to_string(first)) != std::string::npos);
    ::kill(first, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(first, &status, 0) == first);
    // What a write cut by the kill leaves (the dead process's temporary file), and a live one's.
    const std::string stale = killed + "/checkpoint-global.safetensors.tmp-" + std::to_string(first);
    const std::string live = killed + "/other.tmp-" + std::to_string(::getpid());
    io::write_file_atomic(stale, "torn");
    io::write_file_atomic(live, "someone else's");
    const Result resumed = run(command, kLimits);
    INFO(resumed.err);
    REQUIRE(resumed.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(stale));
    CHECK(std::filesystem::exists(live));
    for (const char* file : {"global-best", "local-best", "fusion-best", "checkpoint-global", "checkpoint-fusion"})
        CHECK_MESSAGE(same_bytes(reference + "/" + file + ".safetensors", killed + "/" + file + ".safetensors"), file);
}

TEST_CASE("a checkpoint with one flipped bit, or of another configuration, is refused on resume") {
    const std::string run_dir = tiny_reference_run();
    const std::string flipped = tmp("flipped-run");
    std::filesystem::remove_all(flipped);
    std::filesystem::copy(run_dir, flipped);
    {  // one bit of the last weight of the fusion checkpoint
        std::string bytes = io::read_file(flipped + "/checkpoint-fusion.safetensors", 1ull << 30);
        bytes[bytes.size() - 3] ^= 0x10;
        io::write_file_atomic(flipped + "/checkpoint-fusion.safetensors", bytes);
    }
    check_one_line_error(run("train --out " + flipped + " --resume", kLimits),
                         "checkpoint-fusion.safetensors: damaged (its contents do not match the sha256");
    // config.json's seed changed by hand: the checkpoints are of seed 5.
    const std::string reseeded = tmp("reseeded-run");
    std::filesystem::remove_all(reseeded);
    std::filesystem::copy(run_dir, reseeded);
    auto config = nlohmann::json::parse(io::read_file(reseeded + "/config.json"));
    config["config"]["seed"] = 6;
    io::write_file_atomic(reseeded + "/config.json", config.dump());
    check_one_line_error(run("train --out " + reseeded + " --resume", kLimits),
                         "checkpoint-global.safetensors was written by another configuration (seed 5 in the "
                         "checkpoint, 6 now)");
}

TEST_CASE("a run folder moved with its data resumes; moved without it, resume names what it cannot find") {
    // Train stage I from inside a project folder with relative paths, move the folder, continue.
    const std::string project = tmp("project"), moved = tmp("project-moved");
    std::filesystem::remove_all(project);
    std::filesystem::remove_all(moved);
    std::filesystem::create_directories(project);
    REQUIRE(run("synth --out " + project + "/data --images 24 --size 64 --seed 3", kLimits).exit_code == 0);
    const Result first = run("train --data data --out runs/a --stage global " + kTinyRun, "cd " + project + "; " + kLimits);
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(nlohmann::json::parse(io::read_file(project + "/runs/a/config.json"))["config"]["data_dir"] == "data");
    std::filesystem::rename(project, moved);
    const Result resumed = run("train --out " + moved + "/runs/a --resume", kLimits);
    INFO(resumed.err);
    CHECK(resumed.exit_code == 0);
    CHECK(std::filesystem::exists(moved + "/runs/a/fusion-best.safetensors"));
    CHECK(run("eval --run " + moved + "/runs/a --split test", kLimits).exit_code == 0);
    // The run folder alone, elsewhere: nothing finds the data.
    const std::string alone = tmp("alone-run");
    std::filesystem::remove_all(alone);
    std::filesystem::copy(moved + "/runs/a", alone);
    std::filesystem::remove(alone + "/checkpoint-fusion.safetensors");
    check_one_line_error(run("train --out " + alone + " --resume", "cd /; " + kLimits),
                         alone + ": the run's data cannot be found: data_dir 'data' (tried " +
                             (std::filesystem::path(alone) / "../../data").lexically_normal().string() + ", data)");
}

TEST_CASE("a failed start leaves nothing that blocks the corrected command") {
    tiny_reference_run();
    const std::string data = tmp("kill-data"), run_dir = tmp("failed-start");
    std::filesystem::remove_all(run_dir);
    const std::string common = "train --data " + data + " --out " + run_dir + " --stage global --base-width 2 "
                               "--input-size 32 --resize 32 --pack 64 --global-epochs 1 --threads 1 --quiet";
    const Result failed = run(common + " --global-batch 500", kLimits);
    INFO(failed.err);
    CHECK(failed.exit_code != 0);
    CHECK(failed.err.find("agcnn: error: stage global: the training split has") != std::string::npos);
    CHECK(failed.err.find("fewer than one batch of 500") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(run_dir + "/config.json"));
    const Result corrected = run(common + " --global-batch 4", kLimits);
    INFO(corrected.err);
    CHECK(corrected.exit_code == 0);
}

TEST_CASE("no command overwrites its input or a file it did not write") {
    tiny_reference_run();
    const std::string data = tmp("kill-data");
    const std::string csv = io::read_file(data + "/Data_Entry_2017.csv");
    const std::string png = io::read_file(data + "/images/00000001_000.png");
    // agcnn synth over an existing data set.
    const Result synth = run("synth --out " + data + " --images 5 --size 64", kLimits);
    CHECK(synth.exit_code != 0);
    CHECK(synth.err.find("--out " + data + ": holds files") != std::string::npos);
    // agcnn pack onto the label CSV or an image.
    check_one_line_error(run("pack --data " + data + " --pack " + data + "/Data_Entry_2017.csv", kLimits),
                         "--pack " + data + "/Data_Entry_2017.csv: exists and is not an agcnn pack");
    check_one_line_error(run("pack --data " + data + " --pack " + data + "/images/00000001_000.png", kLimits),
                         "is not an agcnn pack");
    // agcnn train into the data set's folder.
    check_one_line_error(run("train --data " + data + " --out " + data + " --stage global", kLimits),
                         "--out " + data + ": holds files");
    // agcnn forward writing over its input.
    write_reference_input(tmp("x.npy"));
    const std::string x = io::read_file(tmp("x.npy"));
    check_one_line_error(run("forward " + kNet + " --weights " + kReference + " --input " + tmp("x.npy") +
                             " --output " + tmp("x.npy")),
                         "--output " + tmp("x.npy") + ": is the input");
    CHECK(io::read_file(tmp("x.npy")) == x);
    // agcnn-convert -o its source, or onto a file it did not write.
    const std::string pth = std::string(AGCNN_TEST_DATA_DIR) + "/reference/convert/resnet50_narrow.pth";
    std::filesystem::copy_file(pth, tmp("source.pth"), std::filesystem::copy_options::overwrite_existing);
    const std::string source = io::read_file(tmp("source.pth"));
    const auto convert = [](const std::string& args) {
        const std::string err_path = tmp("convert-stderr.txt");
        const int status = std::system((std::string(AGCNN_CONVERT_BINARY) + " " + args + " >/dev/null 2>" + err_path).c_str());
        return Result{WEXITSTATUS(status), io::read_file(err_path), {}};
    };
    const Result same = convert(tmp("source.pth") + " -o " + tmp("source.pth"));
    CHECK(same.exit_code != 0);
    CHECK(same.err.find("-o " + tmp("source.pth") + ": is the input") != std::string::npos);
    CHECK(io::read_file(tmp("source.pth")) == source);
    const Result onto = convert(tmp("source.pth") + " -o " + tmp("x.npy"));
    CHECK(onto.exit_code != 0);
    CHECK(onto.err.find("exists and is not a file agcnn-convert wrote") != std::string::npos);
    CHECK(io::read_file(tmp("x.npy")) == x);
    // Its own earlier output it may replace.
    std::filesystem::remove(tmp("converted.safetensors"));
    CHECK(convert(tmp("source.pth") + " -o " + tmp("converted.safetensors")).exit_code == 0);
    CHECK(convert(tmp("source.pth") + " -o " + tmp("converted.safetensors")).exit_code == 0);
    CHECK(io::read_file(data + "/Data_Entry_2017.csv") == csv);
    CHECK(io::read_file(data + "/images/00000001_000.png") == png);
}

TEST_CASE("NaN weights are refused on load and on conversion, naming the tensor; a NaN box names its row") {
    {  // forward on weights with one NaN
        io::TensorFile file = io::read_safetensors(kReference);
        io::TensorRecord& record = *std::find_if(file.tensors.begin(), file.tensors.end(),
                                                 [](const io::TensorRecord& r) { return r.name == "model.layer2.0.conv1.weight"; });
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(record.bytes.data() + 8, &nan, 4);
        io::write_safetensors(tmp("nan.safetensors"), file);
    }
    write_reference_input(tmp("x.npy"));
    check_one_line_error(run("forward " + kNet + " --weights " + tmp("nan.safetensors") + " --input " + tmp("x.npy") +
                             " --output " + tmp("y.npy")),
                         "nan.safetensors: tensor 'model.layer2.0.conv1.weight' holds NaN (element 2 of");
    {  // agcnn-convert from a safetensors source (torchvision names) with an infinite value
        const std::string converted = tmp("nan-converted.safetensors");
        std::filesystem::remove(converted);
        const std::string pth = std::string(AGCNN_TEST_DATA_DIR) + "/reference/convert/resnet50_narrow.pth";
        REQUIRE(std::system((std::string(AGCNN_CONVERT_BINARY) + " " + pth + " -o " + converted + " >/dev/null").c_str()) == 0);
        io::TensorFile file = io::read_safetensors(converted);
        const float inf = std::numeric_limits<float>::infinity();
        std::memcpy(file.tensors.front().bytes.data(), &inf, 4);
        io::write_safetensors(tmp("inf-source.safetensors"), file);
        const std::string name = file.tensors.front().name;
        std::filesystem::remove(tmp("from-inf.safetensors"));
        const int status = std::system((std::string(AGCNN_CONVERT_BINARY) + " " + tmp("inf-source.safetensors") + " -o " +
                                        tmp("from-inf.safetensors") + " 2>" + tmp("convert-stderr.txt")).c_str());
        CHECK(WEXITSTATUS(status) != 0);
        const std::string err = io::read_file(tmp("convert-stderr.txt"));
        CHECK(err.find("tensor '" + name + "' holds an infinite value") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(tmp("from-inf.safetensors")));
    }
    // A box with NaN, Inf or 1e308 in BBox_List_2017.csv: the row is named.
    const std::string data = tmp("nanbox-data");
    std::filesystem::remove_all(data);
    REQUIRE(run("synth --out " + data + " --images 8 --size 64 --seed 1", kLimits).exit_code == 0);
    const std::string boxes = io::read_file(data + "/BBox_List_2017.csv");
    REQUIRE(run("dataset --data " + data, kLimits).exit_code == 0);
    for (const char* box : {"nan,1,2,3", "1,inf,2,3", "1,2,1e308,3"}) {
        const std::string csv = boxes + "00000001_000.png,Mass," + box + "\n";
        const std::size_t lines = std::count(csv.begin(), csv.end(), '\n');
        io::write_file_atomic(data + "/BBox_List_2017.csv", csv);
        const Result r = run("dataset --data " + data, kLimits);
        INFO(r.err);
        CHECK(r.exit_code != 0);
        CHECK(r.err.find("BBox_List_2017.csv:" + std::to_string(lines) + ": box '" + box +
                         "' is not four finite numbers") != std::string::npos);
    }
}

TEST_CASE("bad flags and unknown commands: one line in the flag's own words") {
    tiny_reference_run();
    const std::string data = tmp("kill-data"), out = tmp("bad-flags-run");
    const std::string train = "train --data " + data + " --out " + out + " --stage global --base-width 2 --input-size 32 "
                              "--resize 32 --pack 64 --global-batch 4 --threads 1 ";
    const std::pair<const char*, const char*> cases[] = {
        {"--momentum -0.5", "momentum (--momentum) must be in [0, 1), got -0.5"},
        {"--momentum 5", "momentum (--momentum) must be in [0, 1), got 5"},
        {"--weight-decay -1", "weight_decay (--weight-decay) must be in [0, 1), got -1"},
        {"--lr-step -2", "lr_step (--lr-step) must be >= 0 epochs"},
        {"--lr-gamma 0", "lr_gamma (--lr-gamma) must be in (0, 1], got 0"},
        {"--lr-gamma 1.5", "lr_gamma (--lr-gamma) must be in (0, 1], got 1.5"},
        {"--lr nan", "lr (--lr) must be a positive number"},
        {"--workers -1", "loader_workers (--workers) must be in 0..64, got -1"},
        {"--global-epochs -1", "global.epochs (--global-epochs) must be in 0..100000, got -1"},
        {"--split random --split-fractions 0.9,0.1,0", "split_fractions (--split-fractions): each share must be in (0, 1)"},
    };
    for (const auto& [flag, message] : cases) {
        check_one_line_error(run(train + flag, kLimits), message);
        CHECK_FALSE(std::filesystem::exists(out + "/config.json"));
    }
    for (const char* flag : {"--threads -1", "--seed -1"}) {
        const Result r = run(train + flag, kLimits);
        INFO(flag << ": " << r.err);
        CHECK(r.exit_code != 0);
        CHECK(r.err.size() < 300);  // no 309-digit range
        CHECK(r.err.find(std::string(flag).substr(0, std::string(flag).find(' '))) != std::string::npos);
    }
    const Result bogus = run("bogus");
    CHECK(bogus.exit_code != 0);
    CHECK(bogus.err.rfind("agcnn: error: unknown command 'bogus'; the commands are: ", 0) == 0);
    CHECK(bogus.err.find("train") != std::string::npos);
    // A folder where a file is expected: the file is named (the input exists, so that the
    // error is the weights' also when this case runs alone).
    write_reference_input(tmp("x.npy"));
    check_one_line_error(run("forward " + kNet + " --weights " + tmp("") + " --input " + tmp("x.npy") + " --output " +
                             tmp("y.npy")),
                         ": not a regular file (a folder)");
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
