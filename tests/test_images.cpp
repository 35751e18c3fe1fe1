// Tests of the image formats (agcnn/data/image_file.hpp and below): PNG at 8 and 16 bits, JPEG
// (baseline and progressive, gray and colour), DICOM through GDCM in every photometric
// interpretation x bits x transfer syntax written here, the DICOM grayscale pipeline's arithmetic,
// deep (16-bit) images through resampling, the network input and the pack. Every file is written
// by the test itself, except the progressive JPEGs (no encoder here: bytes below) and the real
// DICOM files of python3-pydicom's test data, used read-only when installed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "agcnn/data/dicom_pixels.hpp"
#include "agcnn/data/gray_buffer.hpp"
#include "agcnn/data/image_file.hpp"
#include "agcnn/data/isolated_call.hpp"
#include "agcnn/data/pack.hpp"
#include "agcnn/data/synth_dicom.hpp"
#include "agcnn/data/transforms.hpp"
#include "temp_files.hpp"

namespace fs = std::filesystem;
using namespace agcnn;
using namespace agcnn::data;

namespace {

using testing::error_of;
using testing::TempDir;
using testing::write_text;

// An 8-bit test picture, not square, with edges, a gradient and noise (so a decoder that drops a
// row, swaps axes or loses a bit shows).
GrayImage test_picture(int width, int height, std::uint32_t seed) {
    GrayImage image{width, height, {}, {}};
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            seed = seed * 1664525u + 1013904223u;
            const int v = (x * 255) / (width - 1) / 2 + (y > height / 2 ? 100 : 0) + int(seed >> 28);
            image.pixels.push_back(static_cast<std::uint8_t>(std::clamp(v, 0, 255)));
        }
    return image;
}

// A deep picture using all 16 bits (the low byte varies independently of the high one).
GrayImage deep_picture(int width, int height) {
    GrayImage image{width, height, {}, {}};
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            image.deep.push_back(static_cast<std::uint16_t>((x * 65535) / (width - 1) ^ ((y * 37 + x * 11) & 0xFF)));
    return image;
}

// Progressive JPEGs, 16 x 12, made with Pillow 9.4 (python3-pil):
//   Image 'L' with pixel (x, y) = 10x + 5y; 'RGB' with (10x + 40, 5y + 60, 128);
//   im.save(f, 'JPEG', progressive=True, quality=95)
const std::string kProgressiveGray(
    "\xff\xd8\xff\xe0\x00\x10\x4a\x46\x49\x46\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00\x43"
    "\x00\x02\x01\x01\x01\x01\x01\x02\x01\x01\x01\x02\x02\x02\x02\x02\x04\x03\x02\x02\x02\x02\x05\x04"
    "\x04\x03\x04\x06\x05\x06\x06\x06\x05\x06\x06\x06\x07\x09\x08\x06\x07\x09\x07\x06\x06\x08\x0b\x08"
    "\x09\x0a\x0a\x0a\x0a\x0a\x06\x08\x0b\x0c\x0b\x0a\x0c\x09\x0a\x0a\x0a\xff\xc2\x00\x0b\x08\x00\x0c"
    "\x00\x10\x01\x01\x11\x00\xff\xc4\x00\x15\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x08\x07\xff\xda\x00\x08\x01\x01\x00\x00\x00\x01\x34\x28\x24\x4a\x0f\xff\xc4\x00\x18"
    "\x10\x00\x02\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x03\x04\x05\xff\xda"
    "\x00\x08\x01\x01\x00\x01\x05\x02\x52\xc9\x14\xb2\x45\x2a\xd1\x0a\x55\xa2\x3f\xff\xc4\x00\x16\x10"
    "\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x22\xff\xda\x00\x08\x01"
    "\x01\x00\x06\x3f\x02\x59\x16\x45\x91\x64\xff\xc4\x00\x14\x10\x01\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x20\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x21\x1f\xf6\xb7\xff\xda\x00"
    "\x08\x01\x01\x00\x00\x00\x10\x3f\xff\xc4\x00\x17\x10\x01\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x41\x91\xa1\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x10\xc4\x86\x24\x29\x0a"
    "\x43\xff\xd9", 315);
const std::string kProgressiveColour(
    "\xff\xd8\xff\xe0\x00\x10\x4a\x46\x49\x46\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00\x43"
    "\x00\x02\x01\x01\x01\x01\x01\x02\x01\x01\x01\x02\x02\x02\x02\x02\x04\x03\x02\x02\x02\x02\x05\x04"
    "\x04\x03\x04\x06\x05\x06\x06\x06\x05\x06\x06\x06\x07\x09\x08\x06\x07\x09\x07\x06\x06\x08\x0b\x08"
    "\x09\x0a\x0a\x0a\x0a\x0a\x06\x08\x0b\x0c\x0b\x0a\x0c\x09\x0a\x0a\x0a\xff\xdb\x00\x43\x01\x02\x02"
    "\x02\x02\x02\x02\x05\x03\x03\x05\x0a\x07\x06\x07\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a"
    "\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a"
    "\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\xff\xc2\x00\x11\x08\x00\x0c\x00\x10\x03"
    "\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xc4\x00\x16\x00\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x06\x04\x07\xff\xc4\x00\x15\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x04\x05\xff\xda\x00\x0c\x03\x01\x00\x02\x10\x03\x10\x00\x00\x01\xc9\x17"
    "\xce\xc2\xdb\xff\x00\xff\xc4\x00\x17\x10\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x04\x00\x02\x03\xff\xda\x00\x08\x01\x01\x00\x01\x05\x02\x10\xe1\x0e\x17\x2c\x42\xe5\x8b"
    "\xff\xc4\x00\x18\x11\x00\x02\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x04"
    "\x06\x22\xff\xda\x00\x08\x01\x03\x01\x01\x3f\x01\xa9\x4e\x7c\x9f\xff\xc4\x00\x16\x11\x01\x01\x01"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x02\xff\xda\x00\x08\x01\x02\x01\x01"
    "\x3f\x01\x7b\x35\x7f\xff\xc4\x00\x15\x10\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x31\xff\xda\x00\x08\x01\x01\x00\x06\x3f\x02\x88\x88\xff\xc4\x00\x16\x10\x01\x01\x01"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x21\x31\xff\xda\x00\x08\x01\x01\x00\x01"
    "\x3f\x21\xcd\xcd\x98\x98\xff\xda\x00\x0c\x03\x01\x00\x02\x00\x03\x00\x00\x00\x10\x77\xff\xc4\x00"
    "\x15\x11\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xa1\xff\xda\x00\x08"
    "\x01\x03\x01\x01\x3f\x10\x98\xff\xc4\x00\x15\x11\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x21\xff\xda\x00\x08\x01\x02\x01\x01\x3f\x10\xb5\xff\xc4\x00\x19\x10\x00\x01"
    "\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x10\x41\xa1\xe1\xff\xda\x00\x08"
    "\x01\x01\x00\x01\x3f\x10\x87\x51\x7c\x9e\xf7\xff\xd9", 565);

int max_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    REQUIRE(a.size() == b.size());
    int worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
    return worst;
}

}  // namespace

TEST_CASE("PNG: 8-bit and 16-bit gray round trips are exact; 16 bits stay deep") {
    TempDir dir("png");
    const GrayImage eight = test_picture(37, 23, 1);
    write_png(dir.file("eight.png"), eight);
    const GrayImage eight_back = read_image(dir.file("eight.png"));
    CHECK_FALSE(eight_back.is_deep());
    CHECK(eight_back.pixels == eight.pixels);
    const GrayImage deep = deep_picture(41, 19);
    write_png(dir.file("deep.png"), deep);
    const GrayImage deep_back = read_image(dir.file("deep.png"));
    REQUIRE(deep_back.is_deep());
    CHECK(deep_back.width == 41);
    CHECK(deep_back.height == 19);
    CHECK(deep_back.deep == deep.deep);
    CHECK(read_image_size(dir.file("deep.png")) == std::pair{41, 19});
}

TEST_CASE("JPEG: baseline gray and colour round trips through stb; progressive gray and colour decode") {
    TempDir dir("jpeg");
    GrayImage smooth{48, 32, {}, {}};  // JPEG is lossy: a smooth picture, compared within 3 levels
    for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 48; ++x) smooth.pixels.push_back(static_cast<std::uint8_t>(40 + 3 * x + 2 * y));
    write_text(dir.file("gray.jpg"), encode_jpeg(smooth.pixels.data(), 48, 32, 1, 100));
    const GrayImage gray = read_image(dir.file("gray.jpg"));
    CHECK(gray.width == 48);
    CHECK(gray.height == 32);
    CHECK_FALSE(gray.is_deep());
    CHECK(max_difference(gray.pixels, smooth.pixels) <= 3);
    // Colour: gray = stb's luma (77 R + 150 G + 29 B) / 256 of the colour written.
    std::vector<std::uint8_t> rgb;
    std::vector<std::uint8_t> luma;
    for (std::uint8_t v : smooth.pixels) {
        const int r = v, g = 255 - v, b = 128;
        rgb.insert(rgb.end(), {std::uint8_t(r), std::uint8_t(g), std::uint8_t(b)});
        luma.push_back(std::uint8_t((77 * r + 150 * g + 29 * b) >> 8));
    }
    write_text(dir.file("colour.JPEG"), encode_jpeg(rgb.data(), 48, 32, 3, 100));
    CHECK(max_difference(read_image(dir.file("colour.JPEG")).pixels, luma) <= 4);
    // Progressive.
    std::vector<std::uint8_t> expected_gray, expected_colour;
    for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 16; ++x) {
            expected_gray.push_back(std::uint8_t(10 * x + 5 * y));
            expected_colour.push_back(std::uint8_t((77 * (10 * x + 40) + 150 * (5 * y + 60) + 29 * 128) >> 8));
        }
    write_text(dir.file("progressive.jpg"), kProgressiveGray);
    const GrayImage progressive = read_image(dir.file("progressive.jpg"));
    CHECK(progressive.width == 16);
    CHECK(progressive.height == 12);
    CHECK(max_difference(progressive.pixels, expected_gray) <= 4);
    write_text(dir.file("progressive-colour.jpg"), kProgressiveColour);
    CHECK(max_difference(read_image(dir.file("progressive-colour.jpg")).pixels, expected_colour) <= 6);
    // Broken files: one line naming the file.
    write_text(dir.file("cut.jpg"), kProgressiveGray.substr(0, 40));
    CHECK(error_of([&] { read_image(dir.file("cut.jpg")); }).rfind(dir.file("cut.jpg") + ": ", 0) == 0);
    write_text(dir.file("text.jpg"), "not a jpeg");
    CHECK(error_of([&] { read_image(dir.file("text.jpg")); }) == dir.file("text.jpg") + ": not a readable JPEG (bad signature)");
    write_text(dir.file("text.bmp"), "not an image");
    CHECK(error_of([&] { read_image(dir.file("text.bmp")); }) == dir.file("text.bmp") + ": not a PNG, JPEG or DICOM image");
}

TEST_CASE("deep images: resampling, the network input and the pack keep 16-bit precision") {
    const GrayImage deep = deep_picture(300, 200);
    // Resampling: a deep image stays deep; a crop at the same scale returns the samples themselves.
    GrayImage cropped{64, 48, {}, std::vector<std::uint16_t>(64 * 48)};
    resample(deep, {10, 20, 64, 48, false}, 64, 48, cropped.deep.data());
    for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 64; ++x) REQUIRE(cropped.deep[std::size_t(y) * 64 + x] == deep.deep[std::size_t(y + 20) * 300 + x + 10]);
    CHECK(fit_within(deep, 100).is_deep());
    // The network input of a deep image has far more than 256 distinct values.
    TransformConfig t = eval_transform(64);
    t.contrast = 0;
    Rng rng(1);
    const CropGeometry g = sample_geometry(t, deep.width, deep.height, rng);
    std::vector<float> input(64 * 64 * 3);
    render_input(deep, g, t, nullptr, input.data());
    std::set<float> distinct;
    for (std::size_t i = 0; i < input.size(); i += 3) distinct.insert(input[i]);
    CHECK(distinct.size() > 1000);
    // An 8-bit image and its deep copy (v * 257) give the same input within half an 8-bit level.
    const GrayImage eight = test_picture(300, 200, 5);
    std::vector<std::uint16_t> widened;
    for (std::uint8_t v : eight.pixels) widened.push_back(std::uint16_t(v * 257));
    const GrayImage wide = gray_image_from_u16(widened.data(), 300, 200, 16);
    for (double contrast : {0.0, 0.5}) {
        t.contrast = contrast;
        std::vector<float> a(64 * 64 * 3), b(64 * 64 * 3);
        render_input(eight, g, t, nullptr, a.data());
        render_input(wide, g, t, nullptr, b.data());
        float worst = 0;
        for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
        INFO("contrast " << contrast);
        CHECK(worst < (contrast == 0 ? 0.6f : 4.0f) / 255 / 0.224f);
    }
}

TEST_CASE("gray buffers: 8-bit stays 8-bit, deeper samples are scaled to the 16-bit range") {
    const std::uint8_t bytes[] = {0, 7, 255, 128};
    const GrayImage a = gray_image_from_u8(bytes, 2, 2);
    CHECK(a.pixels == std::vector<std::uint8_t>{0, 7, 255, 128});
    CHECK_FALSE(a.is_deep());
    const std::uint16_t twelve[] = {0, 1, 4095, 2048};
    const GrayImage b = gray_image_from_u16(twelve, 2, 2, 12);
    CHECK(b.deep == std::vector<std::uint16_t>{0, 16, 65535, 32776});  // round(v * 65535 / 4095)
    const std::uint16_t eight[] = {0, 7, 255, 128};
    CHECK(gray_image_from_u16(eight, 2, 2, 8).pixels == a.pixels);
    CHECK(error_of([&] { gray_image_from_u16(twelve, 2, 2, 11); }).find("sample 2 = 4095 needs more than 11 bits") != std::string::npos);
    CHECK(error_of([&] { gray_image_from_u8(bytes, 0, 2); }).find("0x2") != std::string::npos);
}

TEST_CASE("pack: deep images are stored at 16 bits and read back exactly; 8-bit ones as before") {
    TempDir dir("pack");
    fs::create_directories(dir.path / "images");
    write_png(dir.file("images/deep.png"), deep_picture(80, 60));
    write_png(dir.file("images/eight.png"), test_picture(80, 60, 3));
    std::vector<ImageRecord> records(2);
    records[0].name = "deep.png", records[0].path = dir.file("images/deep.png");
    records[1].name = "eight.png", records[1].path = dir.file("images/eight.png");
    auto [reader, built] = ensure_pack(records, dir.file("pack.bin"), 64, false);
    CHECK(built);
    const auto deep = reader->image("deep.png");
    REQUIRE(deep->is_deep());
    CHECK(deep->deep == fit_within(read_image(records[0].path), 64).deep);
    const auto eight = reader->image("eight.png");
    CHECK_FALSE(eight->is_deep());
    CHECK(eight->pixels == fit_within(read_image(records[1].path), 64).pixels);
    // Another VOI mode is another pack: rebuilt.
    ImageReadOptions minmax;
    minmax.dicom.voi = VoiMode::minmax;
    reader.reset();
    CHECK(ensure_pack(records, dir.file("pack.bin"), 64, false, {}, minmax).second);
    // One flipped bit in a deep image's samples: refused, naming the pack and the image.
    std::string bytes = io::read_file(dir.file("pack.bin"), 1 << 20);
    bytes[8 + 100] ^= 0x04;
    write_text(dir.file("pack.bin"), bytes);
    PackReader corrupt(dir.file("pack.bin"));
    CHECK(error_of([&] { corrupt.image("deep.png"); }) ==
          dir.file("pack.bin") + ": image 'deep.png' fails its checksum: the pack is corrupt (delete it, or run agcnn pack again)");
}

// ---- the DICOM grayscale pipeline's arithmetic (no GDCM) -------------------------------------

namespace {
GrayImage pipeline(DicomGrayModule m, const std::vector<std::uint16_t>& raw, VoiMode voi = VoiMode::file) {
    m.rows = 1;
    m.columns = int(raw.size());
    return dicom_gray_image(m, raw.data(), raw.size() * 2, voi, "test.dcm");
}
}  // namespace

TEST_CASE("DICOM pipeline: stored bits, sign, modality LUT, VOI and MONOCHROME1 in the standard's order") {
    DicomGrayModule m;
    m.bits_stored = 12;
    m.high_bit = 11;
    // 1. Bits above High Bit are masked (0xF000 garbage); VOI none maps 0..4095 to 0..65535.
    CHECK(pipeline(m, {0xF000, 0xF000 | 4095, 2048}, VoiMode::none).deep ==
          std::vector<std::uint16_t>{0, 65535, std::uint16_t(std::lround(2048 * 65535.0 / 4095))});
    // High bit below the top: bits 4..15 hold a 12-bit value.
    DicomGrayModule shifted = m;
    shifted.high_bit = 15;
    CHECK(pipeline(shifted, {0x000F, 0xFFF0}, VoiMode::none).deep == std::vector<std::uint16_t>{0, 65535});
    // 2. Signed 12-bit: 0x800 is -2048, 0x7FF is 2047; none maps [-2048, 2047].
    DicomGrayModule s = m;
    s.is_signed = true;
    CHECK(pipeline(s, {0x800, 0x7FF, 0}, VoiMode::none).deep ==
          std::vector<std::uint16_t>{0, 65535, std::uint16_t(std::lround(2048 * 65535.0 / 4095))});
    // Rescale (CT-like: slope 1, intercept -1024) with a window of centre 40, width 400 (LINEAR,
    // PS3.3 C.11.2.1.2.1): x <= c - 0.5 - (w-1)/2 = -160 -> 0; x > c - 0.5 + (w-1)/2 = 239 -> 1;
    // else ((x - (c - 0.5)) / (w - 1) + 0.5).
    DicomGrayModule ct = m;
    ct.intercept = -1024;
    ct.window = DicomWindow{40, 400, "LINEAR"};
    auto linear = [](double x) { return std::uint16_t(std::lround(((x - 39.5) / 399 + 0.5) * 65535)); };
    CHECK(pipeline(ct, {1024 - 160, 1024 - 159, 1024 + 40, 1024 + 239, 1024 + 240}).deep ==
          std::vector<std::uint16_t>{0, linear(-159), linear(40), 65535, 65535});
    ct.window->function = "LINEAR_EXACT";  // C.11.2.1.3.2: (x - c) / w + 0.5 inside [c - w/2, c + w/2]
    CHECK(pipeline(ct, {1024 - 160, 1024 + 40, 1024 + 140}).deep ==
          std::vector<std::uint16_t>{0, std::uint16_t(std::lround(0.5 * 65535)), std::uint16_t(std::lround(0.75 * 65535))});
    ct.window->function = "SIGMOID";  // C.11.2.1.3.1: 1 / (1 + exp(-4 (x - c) / w))
    CHECK(pipeline(ct, {1024 + 140}).deep ==
          std::vector<std::uint16_t>{std::uint16_t(std::lround(65535 / (1 + std::exp(-4.0 * 100 / 400))))});
    // A window wins over a VOI LUT; `none` ignores both; minmax uses the image's own range.
    DicomGrayModule lut = m;
    lut.voi_lut = DicomLut{100, 8, {0, 51, 255}};  // inputs 100, 101, 102 -> 0, 0.2, 1; clamped outside
    CHECK(pipeline(lut, {99, 101, 102, 200}).deep == std::vector<std::uint16_t>{0, 13107, 65535, 65535});
    CHECK(pipeline(lut, {100, 200, 300}, VoiMode::minmax).deep == std::vector<std::uint16_t>{0, 32768, 65535});
    // The file without a window or VOI LUT: as minmax.
    CHECK(pipeline(m, {100, 200, 300}).deep == std::vector<std::uint16_t>{0, 32768, 65535});
    // Modality LUT sequence instead of rescale: stored 10, 11, 12 -> 1000, 3000, 2000.
    DicomGrayModule mlut = m;
    mlut.modality_lut = DicomLut{10, 16, {1000, 3000, 2000}};
    mlut.slope = 7;  // ignored when a modality LUT is present
    CHECK(pipeline(mlut, {10, 11, 12}, VoiMode::minmax).deep == std::vector<std::uint16_t>{0, 65535, 32768});
    // MONOCHROME1: inverted after VOI.
    DicomGrayModule mono1 = m;
    mono1.monochrome1 = true;
    CHECK(pipeline(mono1, {100, 200, 300}).deep == std::vector<std::uint16_t>{65535, 32768, 0});
    // Refusals name the file.
    DicomGrayModule bad = m;
    bad.bits_stored = 17;
    CHECK(error_of([&] { pipeline(bad, {1}); }).find("test.dcm: inconsistent Bits Stored 17") == 0);
    DicomGrayModule zero = m;
    zero.window = DicomWindow{0, 0, "LINEAR"};
    CHECK(error_of([&] { pipeline(zero, {1}); }).find("test.dcm: unusable VOI window") == 0);
    CHECK(error_of([&] { dicom_gray_image(m, nullptr, 0, VoiMode::file, "short.dcm"); }).find("short.dcm: DICOM image of 0x0") == 0);
    m.rows = 2, m.columns = 2;
    const std::uint16_t two[2] = {1, 2};
    CHECK(error_of([&] { dicom_gray_image(m, two, 4, VoiMode::file, "short.dcm"); }).find("short.dcm: pixel data is short") == 0);
}

// ---- DICOM files through GDCM --------------------------------------------------------------

TEST_CASE("DICOM: every photometric interpretation x bits x transfer syntax reads back as the same pixels as PNG") {
    if (!kDicomBuilt) {
        MESSAGE("SKIPPED: built without GDCM");
        CHECK(error_of([] { decode_image(std::string(200, 'x'), "a.dcm"); }).find("no DICOM support") != std::string::npos);
        return;
    }
    TempDir dir("dicom");
    const GrayImage picture = test_picture(46, 30, 9);  // not square (GDCM 3.0.21's RLE encoder asserts on odd sizes)
    std::map<std::string, int> results;
    for (bool mono1 : {false, true})
        for (int bits : {8, 12, 16})
            for (const char* syntax : kDicomTransferSyntaxes) {
                const SynthDicomVariant v{bits, mono1, syntax};
                const std::string name = std::string(mono1 ? "MONOCHROME1" : "MONOCHROME2") + "-" + std::to_string(bits) +
                                         "-" + syntax;
                INFO(name);
                const std::vector<std::uint16_t> stored = synth_stored_values(picture, v);
                // The same pixels as a 16-bit PNG: the stored values through the identity window,
                // inverted for MONOCHROME1.
                const double max = std::ldexp(1.0, bits) - 1;
                std::vector<std::uint16_t> expected;
                for (std::uint16_t s : stored) {
                    const double value = mono1 ? 1 - s / max : s / max;
                    expected.push_back(std::uint16_t(std::lround(value * 65535)));
                }
                write_png(dir.file(name + ".png"), gray_image_from_u16(expected.data(), 46, 30, 16));
                write_text(dir.file(name + ".dcm"), synth_dicom(picture, v, 42));
                const GrayImage png = read_image(dir.file(name + ".png"));
                const GrayImage dcm = read_image(dir.file(name + ".dcm"));
                REQUIRE(dcm.is_deep());
                CHECK(dcm.width == 46);
                CHECK(dcm.height == 30);
                CHECK(dcm.deep == png.deep);
                const ImageInfo info = read_image_info(dir.file(name + ".dcm"));
                CHECK(info.width == 46);
                REQUIRE(info.spacing);
                CHECK(info.spacing->source == "ImagerPixelSpacing");
                CHECK(info.spacing->row_mm == 0.143);
                results[name] = dcm.deep == png.deep;
            }
    CHECK(results.size() == 30);
    for (const auto& [name, ok] : results) MESSAGE(name << ": " << std::string(ok ? "same pixels as PNG" : "DIFFERENT"));
}

TEST_CASE("DICOM: rescale, windows, spacing sources and refusals, each naming the file") {
    if (!kDicomBuilt) return;
    TempDir dir("dicom-attributes");
    const std::uint16_t stored[6] = {0, 1000, 2000, 3000, 4000, 4095};
    DicomWriteSpec spec;
    spec.bits_stored = 12;
    spec.slope = 2;
    spec.intercept = -1000;
    spec.window = DicomWindow{3000, 4001, "LINEAR"};
    spec.spacing = PixelSpacing{0.2, 0.1, "PixelSpacing"};
    write_text(dir.file("a.dcm"), encode_dicom(stored, 3, 2, spec));
    const GrayImage image = read_image(dir.file("a.dcm"));
    DicomGrayModule m;
    m.rows = 2, m.columns = 3, m.bits_stored = 12, m.high_bit = 11, m.slope = 2, m.intercept = -1000;
    m.window = spec.window;
    CHECK(image.deep == dicom_gray_image(m, stored, sizeof stored, VoiMode::file, "a.dcm").deep);
    CHECK(image.deep[0] == 0);
    CHECK(image.deep[5] == 65535);
    const ImageInfo info = read_image_info(dir.file("a.dcm"));
    REQUIRE(info.spacing);
    CHECK(info.spacing->source == "PixelSpacing");
    CHECK(info.spacing->row_mm == 0.2);
    CHECK(info.spacing->column_mm == 0.1);
    ImageReadOptions none;
    none.dicom.voi = VoiMode::none;
    const GrayImage unwindowed = read_image(dir.file("a.dcm"), none);
    CHECK(unwindowed.deep[1] == std::lround((2.0 * 1000) / (2.0 * 4095) * 65535));
    // An all-zero spacing is absent.
    spec.spacing = PixelSpacing{0, 0, "ImagerPixelSpacing"};
    write_text(dir.file("zero-spacing.dcm"), encode_dicom(stored, 3, 2, spec));
    CHECK_FALSE(read_image_info(dir.file("zero-spacing.dcm")).spacing.has_value());
    // Truncated, garbage, empty: one line naming the file.
    const std::string good = io::read_file(dir.file("a.dcm"));
    for (std::size_t cut : {good.size() - 3, good.size() / 2, std::size_t(140), std::size_t(10), std::size_t(0)}) {
        write_text(dir.file("cut.dcm"), good.substr(0, cut));
        const std::string error = error_of([&] { read_image(dir.file("cut.dcm")); });
        INFO(cut << ": " << error);
        CHECK(error.rfind(dir.file("cut.dcm") + ": ", 0) == 0);
        CHECK(error.find('\n') == std::string::npos);
    }
    write_text(dir.file("garbage.dcm"), std::string(128, '\0') + "DICM" + std::string(300, '\x7f'));
    CHECK(error_of([&] { read_image(dir.file("garbage.dcm")); }).rfind(dir.file("garbage.dcm") + ": ", 0) == 0);
    // A header claiming 16384 x 16384 x 16 bits (512 MiB) is refused before any decoding.
    spec.text = {{0x0028, 0x0010, "US", std::string("\x00\x40", 2)}, {0x0028, 0x0011, "US", std::string("\x00\x40", 2)}};
    write_text(dir.file("bomb.dcm"), encode_dicom(stored, 3, 2, spec));
    CHECK(error_of([&] { read_image(dir.file("bomb.dcm")); }).find("bomb.dcm: refused to decode 1 frame(s) of 16384x16384 at 16 bits: it needs 512 MiB") != std::string::npos);
}

// Real DICOM files as python3-pydicom installs them, read-only; skipped when absent.
TEST_CASE("DICOM: pydicom's test files (MR in four transfer syntaxes, CT signed, refusals)") {
    const fs::path folder = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
    if (!kDicomBuilt || !fs::exists(folder / "MR_small.dcm")) {
        MESSAGE("SKIPPED: no GDCM or no python3-pydicom test files");
        return;
    }
    auto path = [&](const char* name) { return (folder / name).string(); };
    const GrayImage mr = read_image(path("MR_small.dcm"));
    CHECK(mr.width == 64);
    CHECK(mr.height == 64);
    for (const char* same : {"MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                             "MR_small_implicit.dcm"}) {
        if (!fs::exists(path(same))) continue;
        INFO(std::string(same));
        CHECK(read_image(path(same)).deep == mr.deep);
    }
    if (fs::exists(path("CT_small.dcm"))) {
        const GrayImage ct = read_image(path("CT_small.dcm"));  // signed, rescale intercept, a window
        CHECK(ct.width == 128);
        CHECK(ct.is_deep());
    }
    const std::map<std::string, std::string> refused = {
        {"rtplan.dcm", "not a DICOM image"},           {"test-SR.dcm", "not a DICOM image"},
        {"MR_truncated.dcm", ""},                      {"SC_rgb.dcm", "colour DICOM image (3 samples per pixel)"},
        {"SC_rgb_rle_2frame.dcm", "colour DICOM image"}, {"rtdose.dcm", "32 bits allocated per pixel (8 or 16 are read)"},
        {"MR_small_bigendian.dcm", "transfer syntax 1.2.840.10008.1.2.2 (big endian or deflated) is not read"},
        {"no_meta.dcm", "not a DICOM Part 10 file"},
        {"JPEG2000.dcm", ""}};
    for (const auto& [name, reason] : refused) {
        if (!fs::exists(path(name.c_str()))) continue;
        const std::string error = error_of([&] { read_image(path(name.c_str())); });
        INFO(name << ": " << error);
        if (name == "JPEG2000.dcm") {  // a real lossy J2K image decodes (or is refused with a reason)
            CHECK((error.empty() || error.rfind(path(name.c_str()) + ": ", 0) == 0));
            continue;
        }
        CHECK(error.rfind(path(name.c_str()) + ": ", 0) == 0);
        CHECK(error.find(reason) != std::string::npos);
    }
}

TEST_CASE("isolated decoding: a crash in the child is an error naming the file; answers and errors come back") {
    CHECK(isolated_call("a.dcm", "the test decoder", 100, [] { return std::string("answer"); }) == "answer");
    CHECK(error_of([] { isolated_call("a.dcm", "the test decoder", 100, []() -> std::string { throw Error("a.dcm: bad"); }); }) ==
          "a.dcm: bad");
    CHECK(error_of([] {
              isolated_call("a.dcm", "the test decoder", 100, []() -> std::string {
                  ::signal(SIGABRT, SIG_DFL);
                  std::abort();  // as GDCM's assert() does
              });
          }) == "a.dcm: the test decoder crashed on this file (signal 6); it is not a readable image");
    CHECK(error_of([] { isolated_call("a.dcm", "the test decoder", 3, [] { return std::string(100, 'x'); }); }) ==
          "a.dcm: the test decoder answered more than 3 bytes");
}
