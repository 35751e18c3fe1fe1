// The engine's foundations: tensors, autograd over a DAG, no-grad mode, release of saved
// tensors, modules and their PyTorch names, optimizers against torch.optim's update rules,
// safetensors and .npy round trips and hostile files.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>

#include "agcnn/agcnn.hpp"
#include "gradcheck.hpp"
#include "hostile_input.hpp"

using namespace agcnn;
using namespace agcnn::test;

namespace {
std::string temp_path(const std::string& name) {
    const auto dir = std::filesystem::temp_directory_path() / "agcnn-test-engine";
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}
}  // namespace

TEST_CASE("tensor storage, views and alignment") {
    Tensor t = Tensor::zeros({2, 3, 4, 5});
    CHECK(t.numel() == 120);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    Tensor v = t.view({6, 20});
    v.at(21) = 5.0f;
    CHECK(t.at(21) == 5.0f);  // shared storage
    Tensor c = t.clone();
    c.at(21) = 1.0f;
    CHECK(t.at(21) == 5.0f);  // clone copies
    Tensor rows = t.slice_rows(1, 2);
    CHECK(rows.shape() == Shape{1, 3, 4, 5});
    CHECK(rows.data() == t.data() + 60);
    CHECK_THROWS_WITH_AS(t.view({7, 7}), "cannot view shape [2, 3, 4, 5] as [7, 7]", Error);
    CHECK_THROWS_AS(Tensor::from_vector({2, 2}, {1, 2, 3}), Error);
    // A CUDA device this build or this machine does not have is a clear error.
    if constexpr (kCudaBuilt) {
        const Device missing = Device::cuda(cuda::device_count());
        const std::string expected = missing.str() + " does not exist";
        CHECK_THROWS_WITH_AS(Tensor::empty({2}).to(missing).numel(),
                             doctest::Contains(expected.c_str()), Error);
    } else {
        CHECK_THROWS_WITH_AS(Tensor::empty({2}).to(Device::cuda()).numel(),
                             "this agcnn was built without the CUDA backend, so tensors cannot "
                             "live on cuda:0",
                             Error);
    }
}

TEST_CASE("large blocks are kept for reuse, within the live set's peak") {
    // No keep_freed_memory(): large blocks are kept in every program, embeddings included.
    const std::int64_t floats = std::int64_t{1} << 20;  // 4 MiB
    const float* first = nullptr;
    {
        Tensor t = Tensor::zeros({floats});
        first = t.data();
        CHECK(reinterpret_cast<std::uintptr_t>(first) % 4096 == 0);
    }
    CHECK(Tensor::empty({floats}).data() == first);  // the kept block, not a new one

    // Random allocations and frees of large tensors in a few sizes (and some small ones): each
    // tensor keeps its contents, and the kept blocks never take the footprint past kept_limit.
    Rng rng(7);
    std::vector<Tensor> live;
    const std::int64_t sizes[] = {1 << 16, 3 << 16, 1 << 18, 5 << 17, 1 << 20, 1000};
    for (int op = 0; op < 400; ++op) {
        if (live.empty() || (live.size() < 12 && rng.below(3) != 0)) {
            Tensor t = Tensor::empty({sizes[rng.below(6)]});
            std::fill(t.data(), t.data() + t.numel(), static_cast<float>(op));
            live.push_back(t);
        } else {
            const std::size_t i = rng.below(live.size());
            const float expected = live[i].at(0);
            CHECK(live[i].at(live[i].numel() - 1) == expected);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
        const LargeBlockBytes bytes = large_block_bytes();
        REQUIRE(bytes.live + bytes.kept <= memory_detail::kept_limit(bytes.peak));
    }
    CHECK(large_block_bytes().kept > 0);
}

TEST_CASE("autograd: a tensor used twice gets the sum of its gradients") {
    // y = sigmoid(x) + x, z = relu(y) + y: x reaches the loss along four paths.
    Tensor x = Tensor::from_vector({4}, {-1.0f, 0.5f, 2.0f, -0.2f});
    x.set_requires_grad(true);
    Tensor y = ops::add(ops::sigmoid(x), x);
    Tensor z = ops::add(ops::relu(y), y);
    backward(z, Tensor::full({4}, 1.0f));
    const auto g = x.grad().to_vector();
    for (int i = 0; i < 4; ++i) {
        const double xv = x.at(i), s = 1 / (1 + std::exp(-xv)), yv = s + xv;
        const double expected = (yv > 0 ? 2.0 : 1.0) * (s * (1 - s) + 1.0);
        CHECK(g[i] == doctest::Approx(expected).epsilon(1e-6));
    }
    // Interior gradients are released, leaves keep theirs.
    CHECK_FALSE(y.grad().defined());
    CHECK(x.grad().defined());
}

TEST_CASE("autograd: no-grad mode records nothing and keeps no activations") {
    Tensor w = Tensor::from_vector({3, 2}, {1, 2, 3, 4, 5, 6});
    w.set_requires_grad(true);
    const Tensor x = Tensor::from_vector({1, 2}, {1, -1});
    {
        NoGradGuard guard;
        Tensor y = ops::linear(x, w, Tensor());
        CHECK_FALSE(y.requires_grad());
        CHECK(y.grad_fn() == nullptr);
        CHECK_THROWS_WITH_AS(backward(ops::bce_with_logits(y, Tensor::zeros({1, 3}))),
                             doctest::Contains("does not require grad"), Error);
    }
    CHECK(grad_enabled());
    // A frozen parameter: nothing is recorded either.
    w.set_requires_grad(false);
    CHECK(ops::linear(x, w, Tensor()).grad_fn() == nullptr);
}

TEST_CASE("autograd: saved tensors are released after backward") {
    Tensor x = Tensor::from_vector({1, 4}, {1, 2, 3, 4});
    x.set_requires_grad(true);
    Tensor hidden = ops::relu(x);
    std::weak_ptr<Storage> saved = hidden.impl().storage;  // relu saves its output's storage
    Tensor loss = ops::bce_with_logits(ops::sigmoid(hidden), Tensor::zeros({1, 4}));
    hidden = Tensor();
    CHECK_FALSE(saved.expired());  // still held by the graph
    backward(loss);
    CHECK(saved.expired());  // freed by backward
    CHECK_THROWS_WITH_AS(backward(loss), doctest::Contains("a second time"), Error);
}

TEST_CASE("autograd: the graph keeps no activation that backward does not need") {
    // batch norm's output feeds relu, whose backward needs only its own output: once the forward
    // pass drops it, it must be freed, though the graph still runs through it.
    Tensor x = Tensor::from_vector({4, 2}, {1, 2, 3, 4, 5, 6, 7, 9});
    Tensor gamma = Tensor::full({2}, 1.0f), beta = Tensor::zeros({2});
    gamma.set_requires_grad(true);
    Tensor normalised = ops::batch_norm(x, gamma, beta, Tensor::zeros({2}), Tensor::full({2}, 1.0f),
                                        {true, 0.1, 1e-5});
    std::weak_ptr<Storage> storage = normalised.impl().storage;
    Tensor y = ops::relu(normalised);
    normalised = Tensor();
    CHECK(storage.expired());
    backward(y, Tensor::full({4, 2}, 1.0f));
    CHECK(gamma.grad().defined());
}

TEST_CASE("ResNet-50: torchvision's names, shapes and parameter count") {
    nn::ResNet50 net({});
    CHECK(net.parameter_count() == 25557032);
    const auto state = net.state();
    CHECK(state.front().name == "conv1.weight");
    CHECK(io::disk_shape(state.front()) == Shape{64, 3, 7, 7});
    std::map<std::string, Shape> shapes;
    for (const auto& e : state) shapes[e.name] = io::disk_shape(e);
    CHECK(shapes.at("layer1.0.downsample.0.weight") == Shape{256, 64, 1, 1});
    CHECK(shapes.at("layer2.0.conv2.weight") == Shape{128, 128, 3, 3});
    CHECK(shapes.at("layer4.2.bn3.running_var") == Shape{2048});
    CHECK(shapes.at("bn1.num_batches_tracked") == Shape{});
    CHECK(shapes.at("fc.weight") == Shape{1000, 2048});
    CHECK(shapes.count("layer1.1.downsample.0.weight") == 0);
    // PyTorch's state_dict order: a module's own entries, then its children's.
    CHECK(state[1].name == "bn1.weight");
    CHECK(state[5].name == "bn1.num_batches_tracked");
    CHECK(state[6].name == "layer1.0.conv1.weight");
    CHECK(state.back().name == "fc.bias");
    CHECK(state.size() == 320);  // 161 parameters + 3 * 53 batch-norm buffers
}

TEST_CASE("ResNet-50 narrow copy: shapes through the network, freezing, eval mode") {
    nn::ResNet50 net({.classes = 15, .pool = nn::GlobalPool::max, .base_width = 4, .seed = 3});
    const Tensor x = Tensor::full({2, 64, 64, 3}, 0.5f);
    const auto out = net.forward_all(x);
    CHECK(out.features.shape() == Shape{2, 2, 2, 128});
    CHECK(out.pooled.shape() == Shape{2, 128});
    CHECK(out.logits.shape() == Shape{2, 15});
    CHECK(out.logits.requires_grad());
    net.set_requires_grad(false);
    net.eval();
    CHECK(net.forward(x).grad_fn() == nullptr);
    CHECK_THROWS_WITH_AS(net.forward(Tensor::zeros({1, 32, 32, 1})),
                         "ResNet50: expected input [N, H, W, 3], got [1, 32, 32, 1]", Error);
}

TEST_CASE("Adam follows torch.optim.Adam, weight decay included") {
    // Two steps by hand in double, lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
    Tensor p = Tensor::from_vector({2}, {1.0f, -2.0f});
    p.set_requires_grad(true);
    optim::Adam adam({{"p", &p}}, {.lr = 0.1, .weight_decay = 0.01});
    double pv[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
    const double grads[2][2] = {{0.5, -0.3}, {0.2, 0.4}};
    for (int t = 1; t <= 2; ++t) {
        p.set_grad(Tensor::from_vector({2}, {float(grads[t - 1][0]), float(grads[t - 1][1])}));
        adam.step();
        for (int i = 0; i < 2; ++i) {
            const double g = grads[t - 1][i] + 0.01 * pv[i];
            m[i] = 0.9 * m[i] + 0.1 * g;
            v[i] = 0.999 * v[i] + 0.001 * g * g;
            const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8;
            pv[i] -= 0.1 / (1 - std::pow(0.9, t)) * m[i] / denom;
        }
    }
    CHECK(p.at(0) == doctest::Approx(pv[0]).epsilon(1e-6));
    CHECK(p.at(1) == doctest::Approx(pv[1]).epsilon(1e-6));
    CHECK(adam.state().size() == 2);
}

TEST_CASE("SGD follows torch.optim.SGD: momentum, dampening, Nesterov, weight decay") {
    for (const bool nesterov : {false, true}) {
        Tensor p = Tensor::from_vector({1}, {1.0f});
        p.set_requires_grad(true);
        optim::Sgd sgd({{"p", &p}}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.0,
                                     .weight_decay = 1e-2, .nesterov = nesterov});
        double pv = 1.0, buf = 0.0;
        const double grads[3] = {0.5, -0.25, 1.0};
        for (int t = 0; t < 3; ++t) {
            p.set_grad(Tensor::from_vector({1}, {float(grads[t])}));
            sgd.step();
            double d = grads[t] + 1e-2 * pv;
            buf = t == 0 ? d : 0.9 * buf + d;
            d = nesterov ? d + 0.9 * buf : buf;
            pv -= 0.1 * d;
        }
        CHECK(p.at(0) == doctest::Approx(pv).epsilon(1e-6));
    }
    // A parameter without a gradient is skipped, as in torch.optim.
    Tensor q = Tensor::from_vector({1}, {3.0f});
    q.set_requires_grad(true);
    optim::Sgd sgd({{"q", &q}}, {});
    sgd.step();
    CHECK(q.at(0) == 3.0f);
    CHECK(optim::step_decay_lr(0.01, 19, 20, 0.1) == doctest::Approx(0.01));
    CHECK(optim::step_decay_lr(0.01, 20, 20, 0.1) == doctest::Approx(0.001));
    CHECK(optim::step_decay_lr(0.01, 45, 20, 0.1) == doctest::Approx(0.0001));
}

TEST_CASE("safetensors: round trip, PyTorch layouts, strict loading") {
    nn::ResNet50 a({.classes = 15, .pool = nn::GlobalPool::max, .base_width = 2, .seed = 1});
    a.bn1.num_batches_tracked = 7;
    const std::string path = temp_path("narrow.safetensors");
    io::save_module(path, a, {{"format", "agcnn-weights-1"}}, "global.");
    const io::TensorFile file = io::read_safetensors(path);
    CHECK(file.metadata.at("format") == "agcnn-weights-1");
    CHECK(file.tensors.front().name == "global.conv1.weight");
    CHECK(file.tensors.front().shape == Shape{2, 3, 7, 7});  // OIHW on disk
    // On disk [o][c][y][x] equals the engine's [o][y][x][c].
    const auto disk = file.tensors.front().to_float32(path);
    const Tensor& w = *a.conv1.weight;
    CHECK(disk[((1 * 3 + 2) * 7 + 4) * 7 + 5] == w.at(((1 * 7 + 4) * 7 + 5) * 3 + 2));

    nn::ResNet50 b({.classes = 15, .pool = nn::GlobalPool::max, .base_width = 2, .seed = 2});
    io::load_module(path, b, "global.");
    const auto sa = a.state(), sb = b.state();
    for (std::size_t i = 0; i < sa.size(); ++i) {
        if (sa[i].counter) {
            CHECK(*sa[i].counter == *sb[i].counter);
            continue;
        }
        CHECK(sa[i].tensor->to_vector() == sb[i].tensor->to_vector());
    }
    // Wrong architecture: one error listing what is wrong.
    nn::ResNet50 c({.classes = 10, .pool = nn::GlobalPool::max, .base_width = 2});
    CHECK_THROWS_WITH_AS(io::load_module(path, c, "global."),
                         doctest::Contains("wrong shape (2): global.fc.weight (file [15, 64], model [10, 64])"),
                         Error);
    nn::ResNet50 d({.classes = 15, .pool = nn::GlobalPool::max, .base_width = 2});
    CHECK_THROWS_WITH_AS(io::load_module(path, d, "local."), doctest::Contains("missing (267)"),
                         Error);
}

TEST_CASE("safetensors: hostile and truncated files give errors naming the file") {
    io::TensorFile f;
    const float values[4] = {1, 2, 3, 4};
    f.add_f32("w", {2, 2}, values);
    const std::string good = io::serialize_safetensors_header(f) +
                             std::string(reinterpret_cast<const char*>(values), 16);
    CHECK(io::parse_safetensors(good, "x.safetensors").tensors.size() == 1);
    CHECK_THROWS_WITH_AS(io::parse_safetensors(good.substr(0, good.size() - 1), "x.safetensors"),
                         doctest::Contains("x.safetensors: tensor 'w' lies outside the data block"),
                         Error);
    CHECK_THROWS_WITH_AS(io::parse_safetensors("abc", "y.st"), doctest::Contains("y.st: not a safetensors"),
                         Error);
    std::string huge_header = good;
    huge_header[7] = '\x7f';
    CHECK_THROWS_WITH_AS(io::parse_safetensors(huge_header, "z"), doctest::Contains("header length"),
                         Error);
    auto with_header = [](const std::string& json) {
        std::string out(8, '\0');
        const std::uint64_t n = json.size();
        std::memcpy(out.data(), &n, 8);
        return out + json + std::string(16, '\0');
    };
    CHECK_THROWS_WITH_AS(
        io::parse_safetensors(with_header(R"({"w":{"dtype":"F32","shape":[4000000000,4000000000],"data_offsets":[0,16]}})"), "s"),
        doctest::Contains("larger than the file"), Error);
    CHECK_THROWS_WITH_AS(
        io::parse_safetensors(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"), "s"),
        doctest::Contains("overlap"), Error);
    CHECK_THROWS_WITH_AS(
        io::parse_safetensors(with_header(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})"), "s"),
        doctest::Contains("unknown dtype 'Q4'"), Error);
    CHECK_THROWS_WITH_AS(io::parse_safetensors(with_header("[1,2"), "s"),
                         doctest::Contains("not a JSON object"), Error);
}

TEST_CASE("half, bfloat16 and double weights become float32") {
    const unsigned char half_one[2] = {0x00, 0x3C}, half_min_sub[2] = {0x01, 0x00};
    CHECK(io::to_float32("F16", half_one, 1, "t")[0] == 1.0f);
    CHECK(io::to_float32("F16", half_min_sub, 1, "t")[0] == std::ldexp(1.0f, -24));
    const unsigned char bf_minus_two[2] = {0x00, 0xC0};
    CHECK(io::to_float32("BF16", bf_minus_two, 1, "t")[0] == -2.0f);
    const double d = 0.1;
    CHECK(io::to_float32("F64", reinterpret_cast<const unsigned char*>(&d), 1, "t")[0] == 0.1f);
}

TEST_CASE(".npy: round trip and refusals") {
    const std::string path = temp_path("a.npy");
    const float values[6] = {1, 2, 3, 4, 5, 6};
    io::write_npy(path, {2, 3}, values);
    const io::NpyArray a = io::read_npy(path);
    CHECK(a.shape == Shape{2, 3});
    CHECK(a.values == std::vector<float>(values, values + 6));
    io::write_npy(path, {}, values);
    CHECK(io::read_npy(path).shape.empty());
    std::string content = io::read_file(temp_path("a.npy"));
    CHECK_THROWS_WITH_AS(io::parse_npy(content.substr(0, content.size() - 2), "t.npy"),
                         doctest::Contains("t.npy: .npy data has"), Error);
    CHECK_THROWS_WITH_AS(io::parse_npy("hello world", "u.npy"), doctest::Contains("u.npy: not a .npy"),
                         Error);
    CHECK_THROWS_WITH_AS(io::read_npy(temp_path("missing.npy")), doctest::Contains("cannot open"),
                         Error);
}

TEST_CASE("atomic writes leave the old file when the new one cannot be written") {
    const std::string path = temp_path("atomic.txt");
    io::write_file_atomic(path, "first");
    CHECK(io::read_file(path) == "first");
    io::write_file_atomic(path, "second");
    CHECK(io::read_file(path) == "second");
    CHECK_THROWS_AS(io::write_file_atomic(temp_path("no-such-dir/x.txt"), "x"), Error);
    {  // a streamed write abandoned half way (an exception on the way): nothing changes
        io::AtomicFileWriter out(path);
        out.write("half", 4);
    }
    CHECK(io::read_file(path) == "second");
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
        CHECK(entry.path().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("read_file: regular files only, within the caller's limit; errors name the file") {
    // A FIFO (a reader that accepted it would get "data" and end-of-file from the writer, not hang).
    const std::string fifo = temp_path("fifo.csv");
    {
        testing::FifoWithWriter writer(fifo, "data");
        REQUIRE(writer.ready());
        CHECK_THROWS_WITH_AS(io::read_file(fifo), doctest::Contains("fifo.csv: not a regular file (a FIFO)"), Error);
    }
    // A symlink to /dev/zero: refused at once (a reader that accepted it would run into the
    // child's 1 GiB address-space limit and fail the check).
    const std::string zero = temp_path("zero.png");
    std::filesystem::remove(zero);
    std::filesystem::create_symlink("/dev/zero", zero);
    CHECK(testing::in_bounded_child(
        [&] {
            try {
                io::read_file(zero, std::uint64_t(1) << 40);
            } catch (const Error& e) {
                return std::string(e.what()).find("zero.png: not a regular file (a device)") != std::string::npos;
            }
            return false;
        },
        10));
    CHECK_THROWS_WITH_AS(io::read_file(temp_path("")), doctest::Contains("not a regular file (a folder)"), Error);
    // The limit: the error names the file and the limit.
    const std::string hundred = temp_path("hundred.bin");
    io::write_file_atomic(hundred, std::string(100, 'x'));
    CHECK(io::read_file(hundred, 100).size() == 100);
    CHECK_THROWS_WITH_AS(io::read_file(hundred, 99),
                         doctest::Contains("hundred.bin: 100 bytes is larger than the 99 bytes this kind of file may have"),
                         Error);
    CHECK(io::byte_size_text(256ull << 20) == "256 MiB");
    CHECK(io::byte_size_text(3ull << 29) == "1.5 GiB");
}

TEST_CASE("Rng: reproducible, and its state round-trips") {
    Rng a(42), b(42);
    for (int i = 0; i < 5; ++i) CHECK(a.next_u64() == b.next_u64());
    const std::string state = a.state_string();
    const double next = a.uniform();
    Rng c(0);
    c.set_state_string(state);
    CHECK(c.uniform() == next);
    CHECK_THROWS_AS(c.set_state_string("nonsense"), Error);
}

TEST_CASE("profiler: a synchronize hook runs at both ends of each profiled op, and only then") {
    int syncs = 0;
    profiler::reset();
    profiler::set_synchronize([&] { ++syncs; });
    {
        profiler::Scope off("relu");  // profiling off: no clock, no hook
    }
    CHECK(syncs == 0);
    CHECK(profiler::records().empty());
    profiler::enable();
    {
        profiler::Scope outer("conv2d");
        profiler::Scope inner("relu", ".backward");
    }
    profiler::enable(false);
    CHECK(syncs == 4);
    CHECK(profiler::records().at("conv2d").calls == 1);
    CHECK(profiler::records().at("relu.backward").calls == 1);
    profiler::set_synchronize(nullptr);
    profiler::enable();
    {
        profiler::Scope unhooked("add");
    }
    profiler::enable(false);
    CHECK(syncs == 4);
    CHECK(profiler::records().at("add").calls == 1);
    profiler::reset();
}
