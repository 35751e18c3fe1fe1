// The embedding APIs without the command line (this test also runs in the inference-only build
// and, cross-compiled, under qemu-aarch64: .ci/aarch64.sh): gray buffers, model files, the C++
// Predictor, the C API and its example program. test_cli.cpp checks them against `agcnn export`
// and `agcnn predict`, and builds the example against an installed agcnn.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agcnn/app/predictor.hpp"
#include "agcnn/c/agcnn_c.h"

using namespace agcnn;

namespace {

const std::filesystem::path kTmp = std::filesystem::temp_directory_path() / "agcnn-test-embedding";

// A narrow AG-CNN (base width 2, input 32) with deterministic weights, written as a model file.
std::string narrow_model_file() {
    std::filesystem::create_directories(kTmp);
    const std::string path = (kTmp / "narrow.safetensors").string();
    model::AgCnn net(model::AgCnnConfig{2, 7});
    app::InferenceSettings settings;
    settings.base_width = 2;
    settings.input_size = 32;
    settings.resize = 36;
    settings.pack_side = 64;
    app::ModelProvenance provenance;
    provenance.software_version = "test";
    app::write_model_file(path, net, settings, provenance);
    return path;
}

// A 48 x 40 gray test picture: a bright disc on a gradient.
data::GrayImage test_picture() {
    data::GrayImage image;
    image.width = 48;
    image.height = 40;
    for (int y = 0; y < image.height; ++y)
        for (int x = 0; x < image.width; ++x) {
            const int dx = x - 30, dy = y - 14;
            image.pixels.push_back(std::uint8_t(dx * dx + dy * dy < 64 ? 250 : 2 * x + y));
        }
    return image;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("gray buffers: 8 bits copied, 16 bits kept deep; null, empty and out-of-range buffers refused") {
    // (The precision rules themselves are test_images' "gray buffers" case.)
    const std::uint8_t u8[6] = {0, 1, 127, 128, 254, 255};
    const data::GrayImage a = data::gray_image_from_u8(u8, 3, 2);
    CHECK(a.width == 3);
    CHECK(a.height == 2);
    CHECK(a.pixels == std::vector<std::uint8_t>(u8, u8 + 6));
    const std::uint16_t u16[3] = {65535, 257 * 100, 0};
    CHECK(data::gray_image_from_u16(u16, 3, 1, 16).deep == std::vector<std::uint16_t>(u16, u16 + 3));
    const std::uint16_t u12[4] = {4095, 2048, 8, 9 | 0x1000};
    CHECK_THROWS_WITH_AS(data::gray_image_from_u16(u12, 2, 2, 12), doctest::Contains("sample 3 = 4105 needs more than 12 bits"),
                         Error);
    const std::uint8_t* volatile none = nullptr;  // (volatile: GCC would warn of a null argument)
    CHECK_THROWS_WITH_AS(data::gray_image_from_u8(none, 3, 2), doctest::Contains("null pixel buffer"), Error);
    const std::uint16_t* volatile none16 = nullptr;
    CHECK_THROWS_WITH_AS(data::gray_image_from_u16(none16, 3, 1, 16), doctest::Contains("null pixel buffer"), Error);
    CHECK_THROWS_WITH_AS(data::gray_image_from_u8(u8, 0, 2), doctest::Contains("0x2 pixels"), Error);
    CHECK_THROWS_WITH_AS(data::gray_image_from_u16(u16, 3, 1, 17), doctest::Contains("17 bits stored"), Error);
}

TEST_CASE("model file: settings and labels round-trip in readable metadata; others are refused") {
    const std::string path = narrow_model_file();
    const app::LoadedModel m = app::read_model_file(path);
    CHECK(m.settings.base_width == 2);
    CHECK(m.settings.input_size == 32);
    CHECK(m.settings.resize == 36);
    CHECK(m.settings.pack_side == 64);
    CHECK(m.settings.attention.tau == 0.7);
    CHECK(m.metadata.at("labels").rfind("Atelectasis,Cardiomegaly,", 0) == 0);
    CHECK(m.metadata.at("mean") == "0.485,0.456,0.406");
    CHECK(m.metadata.at("tau") == "0.7");
    CHECK(m.metadata.at("software_version") == "test");

    // A weights file without the inference metadata, and one with a bad value.
    io::TensorFile file = io::read_safetensors(path);
    file.metadata.erase("format");
    io::write_safetensors((kTmp / "plain.safetensors").string(), file);
    CHECK_THROWS_WITH_AS(app::read_model_file((kTmp / "plain.safetensors").string()),
                         doctest::Contains("plain.safetensors: not an agcnn model file: metadata key 'format'"), Error);
    file = io::read_safetensors(path);
    file.metadata["tau"] = "0.7x";
    io::write_safetensors((kTmp / "bad-tau.safetensors").string(), file);
    CHECK_THROWS_WITH_AS(app::read_model_file((kTmp / "bad-tau.safetensors").string()),
                         doctest::Contains("bad-tau.safetensors: metadata 'tau' is '0.7x'"), Error);
    file = io::read_safetensors(path);
    file.metadata["mean"] = "0.5,0.5,0.5";
    io::write_safetensors((kTmp / "bad-mean.safetensors").string(), file);
    CHECK_THROWS_WITH_AS(app::read_model_file((kTmp / "bad-mean.safetensors").string()),
                         doctest::Contains("metadata 'mean' is '0.5,0.5,0.5'"), Error);
}

TEST_CASE("Predictor: buffers of 8 and 16 bits and PNG files of one image give the same prediction") {
    const app::Predictor predictor(narrow_model_file());
    const data::GrayImage image = test_picture();
    const app::Prediction p = predictor.predict(image, true);
    CHECK(p.input_size == 32);
    REQUIRE(p.heatmap.size() == 32u * 32u);
    CHECK(*std::max_element(p.heatmap.begin(), p.heatmap.end()) == doctest::Approx(1.0));
    CHECK(*std::min_element(p.heatmap.begin(), p.heatmap.end()) >= 0.0f);
    for (model::Branch b : model::kBranches)
        for (double q : p.probabilities(b)) CHECK((q > 0.0 && q < 1.0));
    // The box lies in the image and is the input box scaled by the image's geometry.
    CHECK(p.box_input.width() > 0);
    CHECK(p.box_source.x0 >= 0);
    CHECK(p.box_source.x1 <= image.width + 1e-9);
    CHECK(p.box_source.y1 <= image.height + 1e-9);
    CHECK(predictor.predict(image).heatmap.empty());

    const std::string png = (kTmp / "picture.png").string();
    data::write_png(png, image);
    for (const app::Prediction& q : {predictor.predict_u8(image.pixels.data(), image.width, image.height),
                                     predictor.predict_file(png)}) {
        for (model::Branch b : model::kBranches) CHECK(q.probabilities(b) == p.probabilities(b));
        CHECK(q.box_source.x0 == p.box_source.x0);
        CHECK(q.box_source.y1 == p.box_source.y1);
    }
    // A 16-bit buffer is kept deep (not rounded to 8 bits after resizing, as an 8-bit image is),
    // so it gives what the same samples as a 16-bit PNG give, not the 8-bit image's numbers.
    std::vector<std::uint16_t> wide;
    for (std::uint8_t v : image.pixels) wide.push_back(std::uint16_t(v * 257 + (v % 3)));
    const std::string png16 = (kTmp / "picture16.png").string();
    data::write_png(png16, data::gray_image_from_u16(wide.data(), image.width, image.height, 16));
    const app::Prediction deep = predictor.predict_u16(wide.data(), image.width, image.height, 16),
                          deep_file = predictor.predict_file(png16);
    for (model::Branch b : model::kBranches) CHECK(deep.probabilities(b) == deep_file.probabilities(b));
    CHECK(deep.box_source.x0 == deep_file.box_source.x0);
    CHECK(deep.box_source.y1 == deep_file.box_source.y1);
    // Concurrent calls are serialised inside and give the same numbers.
    std::vector<app::Prediction> concurrent(3);
    std::vector<std::thread> threads;
    for (auto& c : concurrent) threads.emplace_back([&] { c = predictor.predict(image); });
    for (auto& t : threads) t.join();
    for (const auto& c : concurrent) CHECK(c.fusion == p.fusion);
    CHECK_THROWS_WITH_AS(predictor.predict_file((kTmp / "missing.png").string()), doctest::Contains("missing.png"),
                         Error);
    CHECK_THROWS_WITH_AS(app::Predictor((kTmp / "missing.safetensors").string()),
                         doctest::Contains("missing.safetensors"), Error);
}

TEST_CASE("Predictor: filters packed once (the default) or on every call give the same bits") {
    const std::string model = narrow_model_file();
    const app::Predictor packed(model), unpacked(model, false);
    const data::GrayImage image = test_picture();
    for (int call = 0; call < 2; ++call) {  // the first call packs, the second reuses the packs
        INFO("call ", call);
        const app::Prediction a = packed.predict(image, true), b = unpacked.predict(image, true);
        for (model::Branch branch : model::kBranches) CHECK(a.probabilities(branch) == b.probabilities(branch));
        CHECK(a.heatmap == b.heatmap);
        CHECK(a.box_source.x0 == b.box_source.x0);
        CHECK(a.box_source.y1 == b.box_source.y1);
    }
}

TEST_CASE("C API: the Predictor's numbers, caller-owned buffers, statuses and last-error lines") {
    const std::string model = narrow_model_file();
    const app::Predictor reference(model);
    const data::GrayImage image = test_picture();
    const app::Prediction expected = reference.predict(image, true);

    agcnn_predictor* predictor = nullptr;
    REQUIRE(agcnn_predictor_open(model.c_str(), &predictor) == AGCNN_OK);
    CHECK(agcnn_predictor_input_size(predictor) == 32);
    agcnn_result result;
    std::vector<float> heatmap(32 * 32, -1.0f);
    REQUIRE(agcnn_predict_u8(predictor, image.pixels.data(), image.width, image.height, &result, heatmap.data(),
                             heatmap.size()) == AGCNN_OK);
    for (model::Branch b : model::kBranches)
        for (int k = 0; k < AGCNN_LABEL_COUNT; ++k)
            CHECK(result.probabilities[int(b)][k] == expected.probabilities(b)[std::size_t(k)]);
    CHECK(result.box_source.x == expected.box_source.x0);
    CHECK(result.box_source.width == expected.box_source.width());
    CHECK(result.box_input.height == expected.box_input.height());
    CHECK(heatmap == expected.heatmap);
    CHECK(std::string(agcnn_label_name(14)) == "No Finding");
    CHECK(agcnn_label_name(15) == nullptr);
    CHECK(std::string(agcnn_branch_name(AGCNN_FUSION)) == "fusion");

    CHECK(agcnn_predict_u8(predictor, image.pixels.data(), image.width, image.height, &result, heatmap.data(),
                           heatmap.size() - 1) == AGCNN_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(agcnn_last_error()).find("holds 1023 floats but needs 1024") != std::string::npos);
    CHECK(agcnn_predict_u8(predictor, nullptr, 4, 4, &result, nullptr, 0) == AGCNN_ERROR_INVALID_ARGUMENT);
    CHECK(agcnn_predict_u8(predictor, image.pixels.data(), -1, 4, &result, nullptr, 0) == AGCNN_ERROR);
    CHECK(std::string(agcnn_last_error()).find("-1x4 pixels") != std::string::npos);
    CHECK(agcnn_predict_u16(predictor, nullptr, 4, 4, 12, &result, nullptr, 0) == AGCNN_ERROR_INVALID_ARGUMENT);
    const std::string missing = (kTmp / "missing.png").string();
    CHECK(agcnn_predict_file(predictor, missing.c_str(), &result, nullptr, 0) == AGCNN_ERROR);
    CHECK(std::string(agcnn_last_error()).find("missing.png") != std::string::npos);
    CHECK(agcnn_predict_u8(predictor, image.pixels.data(), image.width, image.height, &result, nullptr, 0) == AGCNN_OK);
    CHECK(std::string(agcnn_last_error()).empty());
    // Threads kept together on a shared machine: the same numbers; 0 and 1 only. (The library's
    // switch lives in its own copy of the headers: this program's cpu_sharing() does not see it.)
    CHECK(agcnn_set_cpu_sharing(2) == AGCNN_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(agcnn_last_error()).find("expected 0 or 1") != std::string::npos);
    REQUIRE(agcnn_set_cpu_sharing(1) == AGCNN_OK);
    REQUIRE(agcnn_predict_u8(predictor, image.pixels.data(), image.width, image.height, &result, nullptr, 0) == AGCNN_OK);
    for (model::Branch b : model::kBranches)
        for (int k = 0; k < AGCNN_LABEL_COUNT; ++k)
            CHECK(result.probabilities[int(b)][k] == expected.probabilities(b)[std::size_t(k)]);
    REQUIRE(agcnn_set_cpu_sharing(0) == AGCNN_OK);
    agcnn_predictor_close(predictor);
    agcnn_predictor_close(nullptr);

    // Without packed filters: the same numbers.
    agcnn_predictor* unpacked = nullptr;
    REQUIRE(agcnn_predictor_open_unpacked(model.c_str(), &unpacked) == AGCNN_OK);
    REQUIRE(agcnn_predict_u8(unpacked, image.pixels.data(), image.width, image.height, &result, nullptr, 0) == AGCNN_OK);
    for (model::Branch b : model::kBranches)
        for (int k = 0; k < AGCNN_LABEL_COUNT; ++k)
            CHECK(result.probabilities[int(b)][k] == expected.probabilities(b)[std::size_t(k)]);
    agcnn_predictor_close(unpacked);
    CHECK(agcnn_predictor_open_unpacked(nullptr, &unpacked) == AGCNN_ERROR_INVALID_ARGUMENT);

    agcnn_predictor* none = reinterpret_cast<agcnn_predictor*>(&result);
    CHECK(agcnn_predictor_open((kTmp / "missing.safetensors").string().c_str(), &none) == AGCNN_ERROR);
    CHECK(none == nullptr);
    CHECK(std::string(agcnn_last_error()).find("missing.safetensors") != std::string::npos);
    CHECK(agcnn_predictor_open(nullptr, &none) == AGCNN_ERROR_INVALID_ARGUMENT);
}

#ifdef AGCNN_C_EXAMPLE
TEST_CASE("the C example prints the Predictor's numbers for a PNG file") {
    const std::string model = narrow_model_file();
    const std::string png = (kTmp / "example.png").string();
    data::write_png(png, test_picture());
    const std::string out = (kTmp / "example.txt").string();
    const std::string command = std::string(AGCNN_C_EXAMPLE) + " " + model + " " + png + " > " + out;
    REQUIRE(std::system(command.c_str()) == 0);
    const app::Prediction p = app::Predictor(model).predict_file(png, true);
    std::string expected;
    for (model::Branch b : model::kBranches) {
        expected += png + "," + model::branch_name(b);
        for (double q : p.probabilities(b)) {
            char text[24];
            std::snprintf(text, sizeof text, ",%.6f", q);
            expected += text;
        }
        expected += "\n";
    }
    const std::string printed = read_text(out);
    CHECK(printed.substr(0, expected.size()) == expected);
    char box[160];
    std::snprintf(box, sizeof box, "%s,box,%.9g,%.9g,%.9g,%.9g\n", png.c_str(), p.box_source.x0, p.box_source.y0,
                  p.box_source.width(), p.box_source.height());
    CHECK(printed.find(box) != std::string::npos);
}
#endif
