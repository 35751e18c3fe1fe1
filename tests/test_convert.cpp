// agcnn-convert's readers and checks: PyTorch files written by make_convert_fixtures.py (zip,
// legacy, ZIP64, big-endian, wrapped, DataParallel, hand-written safetensors) read value for
// value; the ResNet-50 check and its policies (fc, num_batches_tracked, prefix, dtypes); and
// hostile inputs (truncation, every single-byte corruption, forbidden globals and opcodes,
// overlong lengths, views outside their storage), each an agcnn::Error naming the file.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "agcnn/io/convert_weights.hpp"
#include "agcnn/io/sha256.hpp"

using namespace agcnn;

namespace {

std::string fixture(const std::string& name) {
    return std::string(AGCNN_TEST_DATA_DIR) + "/reference/convert/" + name;
}

// The error message `parse` throws, or "" when it parses.
template <class F>
std::string error_of(F&& parse) {
    try {
        parse();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

io::pickle::Result unpickle(const std::string& bytes) {
    const io::pickle::PersistentLoad refuse =
        [](const io::pickle::Arena&, const io::pickle::Value&) -> io::pickle::StorageRef {
        throw Error("no storages here");
    };
    return io::pickle::unpickle(bytes, refuse, "test.pkl");
}

void replace_once(std::string& text, const std::string& from, const std::string& to) {
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
}

// A ResNet-50 state_dict as torchvision saves it (fc and num_batches_tracked included).
const io::TensorFile& resnet50_source() {
    static const io::TensorFile file = [] {
        nn::ResNet50 model(nn::ResNetConfig{1000, nn::GlobalPool::avg, 64, 7});
        io::TensorFile out;
        io::append_state(out, model, "");
        return out;
    }();
    return file;
}

const io::Provenance source_provenance{"/downloads/resnet50.pth", "abc123",
                                       io::WeightFormat::pytorch_zip};

}  // namespace

TEST_CASE("every fixture reads as PyTorch read it, value for value (exact)") {
    std::ifstream in(fixture("expected.json"));
    const nlohmann::json expected = nlohmann::json::parse(in);
    REQUIRE(expected.size() == 7);
    for (const auto& [name, want] : expected.items()) {
        CAPTURE(name);
        const std::string path = fixture(name);
        const std::string content = io::read_file(path);
        CHECK(io::format_name(io::detect_format(content, path)) ==
              want["format"].get<std::string>());
        const io::TensorFile file = io::parse_weights(content, path);
        const auto& tensors = want["tensors"];
        REQUIRE(file.tensors.size() == tensors.size());
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const io::TensorRecord& got = file.tensors[i];
            CAPTURE(got.name);
            CHECK(got.name == tensors[i]["name"].get<std::string>());
            CHECK(got.dtype == tensors[i]["dtype"].get<std::string>());
            CHECK(got.shape == tensors[i]["shape"].get<Shape>());
            const std::vector<float> values = got.to_float32(path);
            const auto want_values = tensors[i]["values"].get<std::vector<double>>();
            REQUIRE(values.size() == want_values.size());
            for (std::size_t k = 0; k < values.size(); ++k)
                CHECK(values[k] == static_cast<float>(want_values[k]));
        }
    }
}

TEST_CASE("sha256 matches FIPS 180-4 test vectors") {
    CHECK(io::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(io::sha256_hex("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(io::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(io::sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("convert: ResNet-50 check, fc and num_batches_tracked policies") {
    const io::TensorFile& source = resnet50_source();
    const io::TensorFile out = io::convert_weights(source, source_provenance, {"resnet50", true});
    // torchvision's ResNet-50: 161 parameters and 106 running statistics, less fc.weight and
    // fc.bias (asked for); the 53 counters dropped.
    REQUIRE(out.tensors.size() == 265);
    CHECK(out.metadata.at("num_batches_tracked") == "dropped (53)");
    CHECK(out.metadata.at("fc") == "dropped");
    CHECK(out.metadata.at("base_width") == "64");
    CHECK(out.metadata.at("source_sha256") == "abc123");
    CHECK(out.metadata.at("source_format") == "pytorch-zip");
    CHECK(out.metadata.at("source_file") == "resnet50.pth");
    CHECK(out.metadata.at("arch") == "resnet50");
    CHECK(out.metadata.at("format_version") == "1");
    CHECK(out.tensors.front().name == "conv1.weight");
    CHECK(out.tensors.front().shape == Shape({64, 3, 7, 7}));
    for (const auto& t : out.tensors) {
        CHECK(t.dtype == "F32");
        CHECK(t.bytes == source.find(t.name)->bytes);  // F32 in, same bytes out
    }
    // By default every tensor of the source is kept, the classifier too.
    const io::TensorFile kept = io::convert_weights(source, source_provenance, {});
    REQUIRE(kept.tensors.size() == 267);
    CHECK(kept.tensors.back().name == "fc.bias");
    CHECK(kept.metadata.at("fc") == "kept (1000 classes)");

    // The converted file loads strictly into the engine's ResNet-50.
    nn::ResNet50 model(nn::ResNetConfig{1000, nn::GlobalPool::avg, 64, 99});
    io::load_state(model, kept, "", "converted.safetensors");
    io::TensorFile reloaded;
    io::append_state(reloaded, model, "");
    CHECK(reloaded.find("layer4.2.conv3.weight")->bytes ==
          source.find("layer4.2.conv3.weight")->bytes);
}

TEST_CASE("convert: half, bfloat16 and double become float32") {
    io::TensorFile source = resnet50_source();
    for (auto& t : source.tensors) {
        if (t.name != "bn1.weight") continue;
        const std::vector<float> ones(64, 1.5f);
        std::string half(128, '\0');
        for (int i = 0; i < 64; ++i) half[2 * i + 1] = 0x3E;  // 0x3E00 = 1.5 in float16
        t.dtype = "F16";
        t.bytes = half;
    }
    const io::TensorFile out = io::convert_weights(source, source_provenance, {});
    const std::vector<float> values = out.find("bn1.weight")->to_float32("out");
    CHECK(values == std::vector<float>(64, 1.5f));
}

TEST_CASE("convert: missing, unexpected, wrong-shaped and integer tensors are all reported") {
    io::TensorFile source = resnet50_source();
    std::erase_if(source.tensors,
                  [](const io::TensorRecord& t) { return t.name == "layer1.0.conv1.weight"; });
    for (auto& t : source.tensors)
        if (t.name == "layer2.0.bn1.bias") t.shape = {2, 64};
    source.add_i64("layer3.0.bn2.weight.extra", 1);
    const std::string message =
        error_of([&] { io::convert_weights(source, source_provenance, {}); });
    CHECK(message.find("/downloads/resnet50.pth: weights do not match resnet50") == 0);
    CHECK(message.find("missing (1): layer1.0.conv1.weight") != std::string::npos);
    CHECK(message.find("unexpected (1): layer3.0.bn2.weight.extra") != std::string::npos);
    CHECK(message.find("wrong shape (1): layer2.0.bn1.bias (file [2, 64], model [128])") !=
          std::string::npos);

    io::TensorFile integer = resnet50_source();
    for (auto& t : integer.tensors)
        if (t.name == "bn1.running_var") t.dtype = "I32";
    CHECK(error_of([&] {
              io::convert_weights(integer, source_provenance, {});
          }).find("not floating point (1): bn1.running_var (I32)") != std::string::npos);

    // The classifier is checked like the rest; a source without one converts without one.
    io::TensorFile half_fc = resnet50_source();
    std::erase_if(half_fc.tensors, [](const io::TensorRecord& t) { return t.name == "fc.bias"; });
    CHECK(error_of([&] {
              io::convert_weights(half_fc, source_provenance, {});
          }).find("missing (1): fc.bias") != std::string::npos);
    io::TensorFile no_fc = resnet50_source();
    std::erase_if(no_fc.tensors,
                  [](const io::TensorRecord& t) { return t.name.rfind("fc.", 0) == 0; });
    const io::TensorFile headless = io::convert_weights(no_fc, source_provenance, {});
    CHECK(headless.tensors.size() == 265);
    CHECK(headless.metadata.at("fc") == "absent in the source");
}

TEST_CASE("hostile: every truncation and every single-byte corruption is an Error or a file") {
    for (const char* name : {"zip.pth", "legacy.pth", "zip64.pth", "hand.safetensors"}) {
        CAPTURE(name);
        const std::string path = fixture(name);
        const std::string content = io::read_file(path);
        for (std::size_t size = 0; size < content.size(); ++size) {
            const std::string message =
                error_of([&] { io::parse_weights(content.substr(0, size), path); });
            // A zip cut inside its trailing central directory may still find the end record
            // only if it is intact, which it is not before the full size; so every prefix fails.
            CHECK_MESSAGE(message.rfind(path + ": ", 0) == 0, size);
        }
        for (std::size_t at = 0; at < content.size(); ++at) {
            std::string corrupt = content;
            corrupt[at] = static_cast<char>(corrupt[at] ^ 0x5A);
            const std::string message = error_of([&] { io::parse_weights(corrupt, path); });
            CHECK((message.empty() || message.rfind(path + ": ", 0) == 0));
        }
    }
}

TEST_CASE("hostile: forbidden globals are refused by name, in both formats") {
    const std::string legacy_path = fixture("legacy.pth");
    std::string legacy = io::read_file(legacy_path);
    replace_once(legacy, "ctorch._utils\n_rebuild_tensor_v2\n", "cos\nsystem\n");
    CHECK(error_of([&] { io::parse_weights(legacy, legacy_path); }) ==
          legacy_path +
              ": refused pickle global 'os.system': only the globals of a PyTorch "
              "state_dict are allowed");

    // Same length, so the zip's sizes stay right.
    const std::string zip_path = fixture("zip.pth");
    std::string zip = io::read_file(zip_path);
    replace_once(zip, "collections\nOrderedDict", "subprocess\ncheck_output");
    CHECK(error_of([&] {
              io::parse_weights(zip, zip_path);
          }).find("refused pickle global 'subprocess.check_output'") != std::string::npos);

    CHECK(error_of([] {
              unpickle(
                  "\x80\x02"
                  "cbuiltins\neval\n.");
          }).find("'builtins.eval'") != std::string::npos);
}

TEST_CASE("hostile pickles: opcodes, lengths, stack, memo, cycles") {
    // INST, OBJ, STACK_GLOBAL, EXT1, DUP: outside the allowed subset.
    for (const char* op : {"i", "o", "\x93", "\x82", "2"})
        CHECK(error_of([&] {
                  unpickle(std::string("\x80\x02") + op + ".");
              }).find("refused opcode") != std::string::npos);
    CHECK(error_of([] {
              unpickle(
                  std::string("X\xf0\xff\xff\xff"
                              "abc.",
                              9));
          }).find("test.pkl: bad pickle: truncated (BINUNICODE needs 4294967280 bytes") == 0);
    CHECK(error_of([] { unpickle("a."); }).find("stack underflow") != std::string::npos);
    CHECK(error_of([] {
              unpickle(
                  "(K\x01"
                  "a.");
          }).find("stack underflow") != std::string::npos);
    CHECK(error_of([] { unpickle("h\x05."); }).find("memo slot 5 read before written") !=
          std::string::npos);
    CHECK(error_of([] { unpickle("(."); }).find("STOP inside an open MARK") != std::string::npos);
    CHECK(error_of([] { unpickle("K\x01"); }).find("truncated") != std::string::npos);
    CHECK(error_of([] {
              unpickle(
                  ")K\x01"
                  "a.");
          }).find("APPEND on a tuple") != std::string::npos);
    CHECK(error_of([] { unpickle(std::string("}]K\x01s.")); }).find("dict key of type list") !=
          std::string::npos);
    CHECK(error_of([] {
              unpickle("ccollections\nOrderedDict\nK\x01\x85R.");
          }).find("OrderedDict with arguments") != std::string::npos);
    CHECK(error_of([] { unpickle("K\x01Q."); }).find("persistent id is a int") !=
          std::string::npos);

    // A list appended to itself: a cycle, harmless in the arena.
    const io::pickle::Result cycle =
        unpickle(std::string("]q\x00h\x00"
                             "a.",
                             7));
    REQUIRE(cycle.arena.is(cycle.root, io::pickle::ObjectKind::list));
    CHECK(cycle.arena.at(cycle.root).items.at(0).integer == cycle.root.integer);
    CHECK(cycle.end == 7);

    // LONG1: negative and wide values.
    CHECK(unpickle("\x8a\x01\xff.").root.integer == -1);
    CHECK(unpickle(std::string("\x8a\x02\x00\x80.", 5)).root.integer == -32768);
    CHECK(unpickle(std::string("\x8a\x00.", 3)).root.integer == 0);
}

TEST_CASE("hostile: views outside their storage, bad roots, unknown formats") {
    const io::pickle::StorageRef storage{"F32", "0", 12};
    const std::string bytes(48, '\0');
    std::uint64_t budget = 1 << 20;
    const auto read = [&](std::int64_t offset, Shape size, Shape stride) {
        return io::torch_detail::materialise({0, offset, size, stride}, storage, bytes, budget, "w",
                                             "f.pth");
    };
    CHECK(read(0, {3, 4}, {4, 1}).size() == 48);
    CHECK(read(11, {1, 1}, {999999999999, -5}).size() == 4);  // size-1 strides never step
    CHECK(error_of([&] {
              read(1, {3, 4}, {4, 1});
          }) == "f.pth: tensor 'w' reads past the end of its storage (12 elements)");
    CHECK(error_of([&] { read(-1, {2}, {1}); }).find("negative storage offset") !=
          std::string::npos);
    CHECK(error_of([&] {
              read(0, {2, 2}, {1, -1});
          }).find("negative size or stride") != std::string::npos);
    // Overlapping views are fine within the budget, which they use up.
    CHECK(budget == (1 << 20) - 48 - 4);
    CHECK(read(0, {1 << 10, 4}, {0, 1}).size() == 4096 * 4);
    CHECK(error_of([&] { read(0, {1 << 18}, {0}); }).find("past 4 x its size + 64 MiB") !=
          std::string::npos);
    CHECK(error_of([&] {
              read(0, {1 << 30, 1 << 30, 1 << 30}, {0, 0, 0});
          }).find("past 4 x its size + 64 MiB") != std::string::npos);
    CHECK(read(0, {1 << 17}, {0}).size() == 1 << 19);
    CHECK(budget == (1 << 20) - 48 - 4 - (1 << 14) - (1 << 19));
    CHECK(error_of([&] {
              io::torch_detail::materialise({0, 0, {2}, {1}}, {"F32", "0", 4611686018427387904}, "",
                                            budget, "w", "f.pth");
          }).find("storage '0' has 0 bytes") != std::string::npos);

    // A dict that wraps itself: unwrapping stops, and its entry is no tensor.
    const io::pickle::Result self =
        unpickle(std::string("}q\x00X\x0a\x00\x00\x00state_dicth\x00s.", 22));
    CHECK(error_of([&] {
              io::torch_detail::state_dict_records(
                  self, [](const io::pickle::StorageRef&) { return std::string_view(); }, false,
                  budget, "self.pth");
          }) == "self.pth: state_dict entry 'state_dict' is a dict, not a tensor");

    CHECK(error_of([] { io::parse_weights("hello, world", "notes.txt"); }) ==
          "notes.txt: not a supported weights file (expected a PyTorch .pth, zip or legacy "
          "format, or a safetensors file)");
    std::string overlong("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
    CHECK(error_of([&] {
              io::parse_weights(overlong, "x.safetensors");
          }).find("x.safetensors: not a supported weights file") == 0);
}
