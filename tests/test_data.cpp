// Tests of the data pipeline (agcnn/data): readers, splits, PNG decoding, transforms and the
// local crop's geometry, the pack, the loader, and the synthetic generator.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "agcnn/data/loader.hpp"
#include "agcnn/data/local_crop.hpp"
#include "agcnn/data/pack.hpp"
#include "agcnn/data/summary.hpp"
#include "agcnn/data/synth_dataset.hpp"
#include "hostile_input.hpp"
#include "temp_files.hpp"

namespace fs = std::filesystem;
using namespace agcnn;
using namespace agcnn::data;

namespace {

using testing::error_of;
using testing::TempDir;
using testing::write_text;

// A synthetic data set shared by several tests (written once).
const std::string& synthetic_dir() {
    static TempDir dir("synth");
    static bool written = false;
    if (!written) {
        synth::write_dataset(dir.path.string(), {60, 128, 7, 0.25});
        written = true;
    }
    static const std::string path = dir.path.string();
    return path;
}

bool disjoint_patients(const Dataset& d) {
    return error_of([&] { check_patient_disjoint(d.records, d.split); }).empty();
}

// A 16-bit grayscale PNG written by hand (stb_image_write has no 16-bit output).
std::string png16(int width, int height, const std::vector<std::uint16_t>& values) {
    auto crc = [](const std::string& bytes) {
        std::uint32_t c = 0xFFFFFFFFu;
        for (unsigned char b : bytes) {
            c ^= b;
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
        return c ^ 0xFFFFFFFFu;
    };
    auto be32 = [](std::uint32_t v) {
        return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    };
    auto chunk = [&](const std::string& type, const std::string& data) {
        return be32(static_cast<std::uint32_t>(data.size())) + type + data + be32(crc(type + data));
    };
    std::string raw;
    for (int y = 0; y < height; ++y) {
        raw += '\0';
        for (int x = 0; x < width; ++x) {
            const std::uint16_t v = values[static_cast<std::size_t>(y * width + x)];
            raw += char(v >> 8);
            raw += char(v & 0xFF);
        }
    }
    int zlen = 0;
    unsigned char* z = stbi_zlib_compress(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()), &zlen, 8);
    const std::string compressed(reinterpret_cast<char*>(z), static_cast<std::size_t>(zlen));
    STBIW_FREE(z);
    const std::string header = be32(static_cast<std::uint32_t>(width)) + be32(static_cast<std::uint32_t>(height)) +
                               std::string{16, 0, 0, 0, 0};
    return "\x89PNG\r\n\x1a\n" + chunk("IHDR", header) + chunk("IDAT", compressed) + chunk("IEND", "");
}

}  // namespace

TEST_CASE("shared real sample: CheXNet lists, patient-wise, every PNG decodes") {
    const fs::path sample = fs::path(AGCNN_SHARED_DIR) / "data" / "nih-sample";
    if (!fs::exists(sample / "images-64-train_list.txt")) {
        MESSAGE("skipped: the shared sample " << sample << " is not on this machine");
        return;
    }
    DataSpec spec;
    spec.images_dir = (sample / "images-64").string();
    spec.train_list = (sample / "images-64-train_list.txt").string();
    spec.val_list = (sample / "images-64-val_list.txt").string();
    spec.test_list = (sample / "images-64-test_list.txt").string();
    const Dataset d = open_dataset(spec);
    CHECK(d.split.train.size() == 725);
    CHECK(d.split.val.size() == 94);
    CHECK(d.split.test.size() == 181);
    CHECK(d.problems.empty());
    CHECK(disjoint_patients(d));
    const std::vector<SplitSummary> s = summarize(d);
    CHECK(s[0].positives[model::kNoFindingIndex] == 380);  // all-zero rows
    CHECK(s[0].positives[static_cast<std::size_t>(model::label_index("Effusion"))] == 99);
    // The sample is RGB (some RGBA): every image decodes to one gray channel.
    int decoded = 0;
    for (const ImageRecord& r : d.records) {
        const GrayImage g = read_png(r.path);
        CHECK(g.pixels.size() == static_cast<std::size_t>(g.width) * g.height);
        decoded += g.width == 64 || g.width == 128;
    }
    CHECK(decoded == 1000);
}

TEST_CASE("PNG: gray, RGBA and 16-bit become one gray channel; bad files name themselves") {
    TempDir dir("png");
    const std::uint8_t rgba[] = {255, 0, 0, 10, 0, 255, 0, 255, 0, 0, 255, 128, 200, 200, 200, 0};
    const GrayImage g = decode_png(encode_png(rgba, 2, 2, 4), "rgba.png");
    REQUIRE(g.width == 2);
    // stb's luma: (77 r + 150 g + 29 b) >> 8; alpha is dropped.
    CHECK(g.pixels == std::vector<std::uint8_t>{76, 149, 28, 200});
    const GrayImage g16 = decode_png(png16(2, 1, {0x1234, 0xFF00}), "sixteen.png");  // 16 bits kept (issue 12)
    CHECK(g16.deep == std::vector<std::uint16_t>{0x1234, 0xFF00});
    const std::string good = encode_png(rgba, 2, 2, 4);
    write_text(dir.file("truncated.png"), good.substr(0, good.size() / 2));
    write_text(dir.file("text.png"), "not a png at all");
    CHECK(error_of([&] { read_png(dir.file("truncated.png")); }).find("truncated.png") != std::string::npos);
    CHECK(error_of([&] { read_png(dir.file("text.png")); }).find("text.png: not a readable PNG") != std::string::npos);
    CHECK(error_of([&] { read_png(dir.file("missing.png")); }).find("missing.png: cannot open") != std::string::npos);
}

TEST_CASE("PNG: stored (uncompressed) deflate round-trips 8- and 16-bit images of several blocks") {
    TempDir dir("png-stored");
    // Adler-32 of "Wikipedia" is 0x11E60398 (the worked example of the checksum); one stored block.
    const std::string wiki = data::detail::zlib_stored("Wikipedia");
    CHECK(wiki.substr(wiki.size() - 4) == std::string("\x11\xE6\x03\x98", 4));
    CHECK(wiki.substr(0, 7) == std::string("\x78\x01\x01\x09\x00\xF6\xFF", 7));
    // CRC-32 of "IEND" with no data: the constant every PNG ends with.
    CHECK(data::detail::png_crc32("IEND", "") == 0xAE426082u);
    for (int width : {1, 255, 300}) {  // 300 x 300 8-bit: 90,300 bytes, two stored blocks
        GrayImage eight{width, 300, std::vector<std::uint8_t>(std::size_t(width) * 300)};
        GrayImage deep{width, 300, {}, std::vector<std::uint16_t>(std::size_t(width) * 300)};
        for (std::size_t i = 0; i < eight.pixels.size(); ++i) {
            eight.pixels[i] = static_cast<std::uint8_t>(i * 7 + i / 300);
            deep.deep[i] = static_cast<std::uint16_t>(i * 4099 + 1);
        }
        write_png(dir.file("eight.png"), eight, PngDeflate::stored);
        write_png(dir.file("deep.png"), deep, PngDeflate::stored);
        CHECK(read_png(dir.file("eight.png")).pixels == eight.pixels);
        CHECK(read_png(dir.file("deep.png")).deep == deep.deep);
        CHECK(std::filesystem::file_size(dir.file("eight.png")) > eight.pixels.size());  // not compressed
    }
}

// The first 33 bytes of a PNG (signature and IHDR; CRC not filled in) claiming `width` x `height`
// at `depth` bits in `color_type` (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA), and an IEND.
std::string png_header_bytes(std::uint32_t width, std::uint32_t height, int depth, int color_type) {
    std::string bytes("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
    for (std::uint32_t v : {width, height})
        for (int shift = 24; shift >= 0; shift -= 8) bytes += char((v >> shift) & 0xFF);
    bytes += {char(depth), char(color_type), 0, 0, 0, 0, 0, 0, 0};
    return bytes + std::string("\0\0\0\0IEND\xae\x42\x60\x82", 12);
}

TEST_CASE("PNG: a header claiming more than the decode limit is refused before decoding, saying what") {
    TempDir dir("bomb");
    // 16384 x 16384 RGBA at 16 bits: 2 GiB (stb's own size arithmetic overflows on it, and its
    // failure reason is then null).
    write_text(dir.file("bomb.png"), png_header_bytes(16384, 16384, 16, 6));
    const std::string refusal = "bomb.png: refused to decode a 16384x16384 image of 4 channel(s) at 16 bits: it "
                                "needs 2 GiB, more than the 256 MiB limit";
    CHECK(error_of([&] { read_png(dir.file("bomb.png")); }).find(refusal) != std::string::npos);
    CHECK(error_of([&] { read_png_size(dir.file("bomb.png")); }).find(refusal) != std::string::npos);
    // Within the side limit but over the byte limit: 16384 x 16384 RGB, 768 MiB.
    CHECK(error_of([&] { decode_png(png_header_bytes(16384, 16384, 8, 2), "rgb.png"); })
              .find("needs 768 MiB, more than the 256 MiB limit") != std::string::npos);
    CHECK(error_of([&] { decode_png(png_header_bytes(16385, 4, 8, 0), "wide.png"); })
              .find("wide.png: image size 16385x4 outside 1..16384") != std::string::npos);
    // At the limit the header passes, and the decoder's own failure (no image data) is named.
    const std::string at_limit = error_of([&] { decode_png(png_header_bytes(16384, 16384, 8, 0), "gray.png"); });
    CHECK(at_limit.find("gray.png: cannot decode PNG (") != std::string::npos);
    CHECK(at_limit.back() == ')');
    write_text(dir.file("small.png"), png_header_bytes(100, 50, 16, 4));  // gray + alpha, 16 bits
    CHECK(read_png_header(dir.file("small.png")).decoded_bytes() == 100 * 50 * 2 * 2);
}

TEST_CASE("hostile files: a FIFO or a /dev/zero link as the label CSV, an image or the pack is refused") {
    TempDir dir("hostile");
    {  // the label CSV as a FIFO (a reader that accepted it would read one row and go on)
        testing::FifoWithWriter csv(dir.file("Data_Entry_2017.csv"), "Image Index,Finding Labels,Follow-up #,Patient ID\n");
        REQUIRE(csv.ready());
        ProblemLog strict(false);
        CHECK(error_of([&] { read_data_entry(dir.file("Data_Entry_2017.csv"), strict); })
                  .find("Data_Entry_2017.csv: not a regular file (a FIFO)") != std::string::npos);
    }
    {  // the pack as a FIFO: an error, not a pack rebuilt over it
        testing::FifoWithWriter pack(dir.file("pack.bin"), "AGCNNPK1");
        REQUIRE(pack.ready());
        CHECK(error_of([&] { ensure_pack({}, dir.file("pack.bin"), 64, false); })
                  .find("pack.bin: not a regular file (a FIFO)") != std::string::npos);
    }
    // /dev/zero as the CSV and as an image, each in a child limited to 1 GiB more memory and
    // 10 s of CPU (a reader that accepted it would be stopped there and fail).
    fs::create_symlink("/dev/zero", dir.file("zero.csv"));
    fs::create_symlink("/dev/zero", dir.file("zero.png"));
    auto refused = [](const std::function<void()>& read, const std::string& message) {
        return testing::in_bounded_child(
            [&] { return error_of(read).find(message) != std::string::npos; }, 10);
    };
    ProblemLog strict(false);
    CHECK(refused([&] { read_data_entry(dir.file("zero.csv"), strict); }, "zero.csv: not a regular file (a device)"));
    CHECK(refused([&] { read_png(dir.file("zero.png")); }, "zero.png: not a regular file (a device)"));
    CHECK(refused([&] { read_png_size(dir.file("zero.png")); }, "zero.png: not a regular file (a device)"));
}

TEST_CASE("pack: parallel decoding waits for memory; a job larger than the budget runs alone") {
    MemoryBudget budget(100);
    { const MemoryBudget::Hold alone(budget, 500); }  // nothing in flight: it does not wait
    std::atomic<bool> first_released{false}, second_saw_release{false};
    auto first = std::make_unique<MemoryBudget::Hold>(budget, 60);
    std::thread second([&] {
        const MemoryBudget::Hold hold(budget, 60);  // 60 + 60 > 100: waits for the first
        second_saw_release = first_released.load();
    });
    // Give the second thread time to reach its wait: if it did not wait, it has seen false by now.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    first_released = true;
    first.reset();
    second.join();
    CHECK(second_saw_release);
}

TEST_CASE("synth: a count above the maximum is refused before anything is planned") {
    TempDir dir("synth-max");
    // Size 63 is refused too, so a check that forgot the maximum fails here quickly instead of
    // planning 250,001 images.
    CHECK(error_of([&] { synth::write_dataset(dir.path.string(), {synth::kMaxSynthImages + 1, 63, 1, 0.2}); })
              .find("need 1..250000 images") != std::string::npos);
    CHECK(testing::in_bounded_child(  // a valid size: bounded by 1 GiB more memory and 10 s of CPU
        [&] {
            return error_of([&] { synth::write_dataset(dir.path.string(), {2000000000, 64, 1, 0.2}); })
                       .find("got 2000000000 images") != std::string::npos;
        },
        10));
}

TEST_CASE("synth: a curve has the profile of its nearest segment, though each segment visits only its own box") {
    // The specification: every pixel gets density * sqrt(1 - (d / half)^2) for d its distance to
    // the nearest segment (nothing beyond half the width), exactly as paint_curve computes it.
    const std::vector<double> points = {0.1, 0.2, 0.5, 0.25, 0.45, 0.7, 0.8, 0.9, 0.82, 0.3};
    for (const double density : {0.3, -0.12}) {
        synth::Canvas canvas(97);
        synth::paint_curve(canvas, points, 0.05, density);
        const double half = 0.025;
        int painted = 0;
        for (int y = 0; y < 97; ++y)
            for (int x = 0; x < 97; ++x) {
                double d = 1e9;
                for (std::size_t i = 2; i < points.size(); i += 2)
                    d = std::min(d, synth::segment_distance((x + 0.5) / 97, (y + 0.5) / 97, points[i - 2],
                                                            points[i - 1], points[i], points[i + 1]));
                const double r = d / half;
                const float expected = r < 1 ? static_cast<float>(density * std::sqrt(1 - r * r)) : 0.0f;
                painted += expected != 0;
                if (canvas.at(x, y) != expected) FAIL_CHECK("pixel ", x, ",", y, ": ", canvas.at(x, y), " != ", expected);
            }
        CHECK(painted > 500);  // the curve was drawn at all
    }
}

TEST_CASE("malformed CSV and list files: errors name file and line; --skip-bad counts") {
    TempDir dir("bad");
    const std::string header = "Image Index,Finding Labels,Follow-up #,Patient ID\n";
    write_text(dir.file("entry.csv"), header + "00000001_000.png,Effusion|Mass,0,1\n00000002_000.png,Flu,0,2\n");
    ProblemLog strict(false);
    CHECK(error_of([&] { read_data_entry(dir.file("entry.csv"), strict); }) ==
          dir.file("entry.csv") + ":3: unknown finding label 'Flu'");
    write_text(dir.file("short.csv"), header + "00000001_000.png,Effusion\n");
    CHECK(error_of([&] { read_data_entry(dir.file("short.csv"), strict); }).find(":2: expected at least 4 fields") !=
          std::string::npos);
    write_text(dir.file("dup.csv"), header + "00000001_000.png,Mass,0,1\n\"00000001_000.png\",Mass,0,1\n");
    CHECK(error_of([&] { read_data_entry(dir.file("dup.csv"), strict); }).find(":3: duplicate image") != std::string::npos);
    write_text(dir.file("noheader.csv"), "name,labels\n");
    CHECK(error_of([&] { read_data_entry(dir.file("noheader.csv"), strict); }).find(":1: header has no column 'Image Index'") !=
          std::string::npos);
    write_text(dir.file("list.txt"), "00000001_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 0\n00000002_000.png 0 2 0 0 0 0 0 0 0 0 0 0 0 0\n"
                                     "00000003_000.png 0 1\n");
    CHECK(error_of([&] { read_chexnet_list(dir.file("list.txt"), strict); }) ==
          dir.file("list.txt") + ":2: label 2 (Cardiomegaly) is '2', expected 0 or 1");
    ProblemLog lenient(true);
    const std::vector<ImageRecord> kept = read_chexnet_list(dir.file("list.txt"), lenient);
    CHECK(kept.size() == 1);
    CHECK(kept[0].labels[1] == 1.0f);
    CHECK(kept[0].labels[model::kNoFindingIndex] == 0.0f);
    CHECK(lenient.problems().size() == 2);
    write_text(dir.file("bbox.csv"), "Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Infiltrate,1,2,3,4\n"
                                     "00000001_000.png,Mass,1,2,x,4\n");
    CHECK(error_of([&] { read_bbox_list(dir.file("bbox.csv"), strict); }).find(":3: box '1,2,x,4'") != std::string::npos);
    ProblemLog boxes_log(true);
    const std::vector<BoundingBox> boxes = read_bbox_list(dir.file("bbox.csv"), boxes_log);
    REQUIRE(boxes.size() == 1);
    CHECK(boxes[0].label == model::label_index("Infiltration"));
}

TEST_CASE("synthetic set: official layout, deterministic, patient-wise splits, missing images reported") {
    const std::string dir = synthetic_dir();
    DataSpec spec;
    spec.data_dir = dir;
    const Dataset official = open_dataset(spec);
    CHECK(official.records.size() == 60);
    CHECK(official.split.train.size() + official.split.val.size() + official.split.test.size() == 60);
    CHECK(!official.split.val.empty());
    CHECK(!official.boxes.empty());
    CHECK(disjoint_patients(official));
    spec.split = "random";
    const Dataset random = open_dataset(spec);
    CHECK(disjoint_patients(random));
    CHECK(random.split.train.size() > random.split.test.size());
    // Patients have follow-ups; a patient's images stay together.
    std::set<std::string> patients;
    for (const ImageRecord& r : official.records) patients.insert(r.patient);
    CHECK(patients.size() < 50);
    // The same seed gives the same bytes; another seed does not.
    TempDir again("synth-again");
    synth::write_dataset(again.path.string(), {60, 128, 7, 0.25});
    CHECK(io::read_file(again.file("Data_Entry_2017.csv")) == io::read_file(dir + "/Data_Entry_2017.csv"));
    CHECK(io::read_file(again.file("images/00000002_000.png")) == io::read_file(dir + "/images/00000002_000.png"));
    synth::write_dataset(again.path.string(), {60, 128, 8, 0.25});
    CHECK(io::read_file(again.file("images/00000002_000.png")) != io::read_file(dir + "/images/00000002_000.png"));
    // A deleted image is an error naming the CSV line, or with skip_bad one problem.
    fs::remove(again.file("images/00000002_000.png"));
    DataSpec broken;
    broken.data_dir = again.path.string();
    CHECK(error_of([&] { open_dataset(broken); }).find("Data_Entry_2017.csv:") != std::string::npos);
    broken.skip_bad = true;
    const Dataset skipped = open_dataset(broken);
    CHECK(skipped.records.size() == 59);
    REQUIRE(skipped.problems.size() == 1);
    CHECK(skipped.problems[0].name == "00000002_000.png");
    // A row with an unknown label: one problem, not a second one for the list naming the image.
    std::string entries = io::read_file(again.file("Data_Entry_2017.csv"));
    const auto row = entries.find("00000003_000.png,") + 17;
    entries.replace(row, entries.find(',', row) - row, "Flu");
    write_text(again.file("Data_Entry_2017.csv"), entries);
    const Dataset flu = open_dataset(broken);
    CHECK(flu.records.size() == 58);
    REQUIRE(flu.problems.size() == 2);
    CHECK(flu.problems[0].message == "unknown finding label 'Flu'");
    CHECK(flu.problems[0].name == "00000003_000.png");
}

TEST_CASE("a split with a patient in two parts is refused") {
    std::vector<ImageRecord> records(3);
    records[0].patient = "1", records[1].patient = "2", records[2].patient = "1";
    records[0].name = "a.png", records[1].name = "b.png", records[2].name = "c.png";
    CHECK(error_of([&] { check_patient_disjoint(records, Split{{0, 1}, {}, {2}}); }).find("patient 1 is in train") !=
          std::string::npos);
    const Split official = split_official(records, {0, 1, 2}, {}, 3, 0.5);
    CHECK(error_of([&] { check_patient_disjoint(records, official); }).empty());
}

TEST_CASE("resampling: area average when shrinking, exact when the grid matches") {
    GrayImage checker{4, 4, {}};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) checker.pixels.push_back((x + y) % 2 ? 255 : 0);
    std::vector<std::uint8_t> out(4);
    resample(checker, {0, 0, 4, 4, false}, 2, 2, out.data());
    CHECK(out == std::vector<std::uint8_t>{128, 128, 128, 128});  // 127.5 rounded
    std::vector<std::uint8_t> same(16);
    resample(checker, {0, 0, 4, 4, false}, 4, 4, same.data());
    CHECK(same == checker.pixels);
    resample(checker, {0, 0, 4, 4, true}, 4, 4, same.data());
    CHECK(same[0] == checker.pixels[3]);  // mirrored
}

TEST_CASE("crop geometry round trip: an attention box maps back to the right source pixels, with flip") {
    // A 512x512 source, dark, with one bright square at x 300..339, y 100..139.
    GrayImage source{512, 512, std::vector<std::uint8_t>(512 * 512, 20)};
    for (int y = 100; y < 140; ++y)
        for (int x = 300; x < 340; ++x) source.pixels[static_cast<std::size_t>(y) * 512 + x] = 240;
    TransformConfig t = train_transform(224);
    t.contrast = 0;
    t.contrast_jitter = 0;
    int flipped = 0;
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
        Rng rng(seed);
        const CropGeometry g = sample_geometry(t, 512, 512, rng);
        std::vector<float> input(224 * 224 * 3);
        render_input(source, g, t, nullptr, input.data());
        // The square's box in the input, found like the attention box would be.
        Box box{224, 224, 0, 0};
        for (int v = 0; v < 224; ++v)
            for (int u = 0; u < 224; ++u)
                if (input[static_cast<std::size_t>(v * 224 + u) * 3] > 1.0f) {
                    box.x0 = std::min(box.x0, double(u)), box.y0 = std::min(box.y0, double(v));
                    box.x1 = std::max(box.x1, u + 1.0), box.y1 = std::max(box.y1, v + 1.0);
                }
        REQUIRE(box.x1 > box.x0);
        const CropGeometry local = map_box_to_source(g, box, 64);
        const double tolerance = g.width / 224 + 1;  // one input pixel in source pixels
        CHECK(std::abs(local.x0 - 300) <= tolerance);
        CHECK(std::abs(local.x0 + local.width - 340) <= tolerance);
        CHECK(std::abs(local.y0 - 100) <= tolerance);
        CHECK(std::abs(local.y0 + local.height - 140) <= tolerance);
        std::vector<float> crop(64 * 64 * 3);
        crop_local(source, g, box, 64, t, crop.data());
        CHECK(crop[(32 * 64 + 32) * 3] > 1.0f);  // the centre of the crop is the bright square
        flipped += g.hflip;
    }
    CHECK(flipped > 0);  // both orientations were exercised
    CHECK(flipped < 6);
}

TEST_CASE("contrast enhancement and jitter change the values, never the geometry") {
    GrayImage source{64, 64, {}};
    for (int i = 0; i < 64 * 64; ++i) source.pixels.push_back(static_cast<std::uint8_t>(100 + (i % 64) / 4));
    TransformConfig t = eval_transform(32);
    Rng rng(0);
    const CropGeometry g = sample_geometry(t, 64, 64, rng);
    std::vector<float> plain(32 * 32 * 3), enhanced(32 * 32 * 3);
    t.contrast = 0;
    render_input(source, g, t, nullptr, plain.data());
    t.contrast = 1;
    render_input(source, g, t, nullptr, enhanced.data());
    const auto range = [](const std::vector<float>& v) {
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        return *hi - *lo;
    };
    CHECK(range(enhanced) > 3 * range(plain));  // a narrow grey range is stretched
    CHECK(plain[0] == doctest::Approx((100 / 255.0 - 0.485) / 0.229).epsilon(0.02));
}

TEST_CASE("pack: round trip, stale source rebuilds, corruption and truncation are detected") {
    TempDir dir("pack");
    synth::write_dataset(dir.path.string(), {12, 96, 3, 0.25});
    DataSpec spec;
    spec.data_dir = dir.path.string();
    const Dataset d = open_dataset(spec);
    const std::string path = dir.file("cache.bin");
    auto [reader, built] = ensure_pack(d.records, path, 64, false);
    CHECK(built);
    CHECK(reader->image(d.records[0].name)->pixels == fit_within(read_png(d.records[0].path), 64).pixels);
    CHECK_FALSE(ensure_pack(d.records, path, 64, false).second);  // up to date: not rebuilt
    reader.reset();
    // A changed source makes the pack stale.
    write_png(d.records[1].path, GrayImage{96, 96, std::vector<std::uint8_t>(96 * 96, 7)});
    auto [rebuilt, again] = ensure_pack(d.records, path, 64, false);
    CHECK(again);
    CHECK(rebuilt->image(d.records[1].name)->pixels[0] == 7);
    rebuilt.reset();
    // One flipped pixel byte: that image fails its checksum.
    std::string bytes = io::read_file(path);
    bytes[8 + 100] = static_cast<char>(bytes[8 + 100] ^ 0x40);
    write_text(path, bytes);
    const PackReader corrupt(path);
    CHECK(error_of([&] { corrupt.image(d.records[0].name); }).find("fails its checksum") != std::string::npos);
    // A torn file (cut short) is refused when opened, and ensure_pack rebuilds it.
    write_text(path, bytes.substr(0, bytes.size() - 100));
    CHECK(error_of([&] { PackReader torn(path); }).find("corrupt or torn pack") != std::string::npos);
    CHECK(ensure_pack(d.records, path, 64, false).second);
}

TEST_CASE("loader: batches depend on (seed, epoch) only, not on workers; resume mid-epoch") {
    DataSpec spec;
    spec.data_dir = synthetic_dir();
    const Dataset d = open_dataset(spec);
    auto source = std::make_shared<ImageFileSource>(96);
    LoaderConfig config;
    config.batch_size = 8;
    config.seed = 11;
    config.transform = train_transform(32);
    config.workers = 1;
    Loader one(select(d.records, d.split.train), source, config);
    config.workers = 3;
    config.prefetch = 2;
    Loader three(select(d.records, d.split.train), source, config);
    auto epoch_batches = [](Loader& loader, int epoch, std::int64_t first = 0) {
        std::vector<Batch> out;
        loader.start_epoch(epoch, first);
        while (auto b = loader.next()) out.push_back(std::move(*b));
        return out;
    };
    const auto a = epoch_batches(one, 2), b = epoch_batches(three, 2), c = epoch_batches(three, 3);
    REQUIRE(a.size() == static_cast<std::size_t>(one.batches_per_epoch()));
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].names == b[i].names);
        CHECK(a[i].images.to_vector() == b[i].images.to_vector());
        CHECK(a[i].labels.shape() == Shape{static_cast<std::int64_t>(a[i].names.size()), model::kLabelCount});
        CHECK(a[i].geometry.size() == a[i].names.size());
    }
    CHECK(a[0].names != c[0].names);  // another epoch, another order
    // An input cache leaves every batch as it was, in this epoch and the next (read from it).
    LoaderConfig cached_config = config;
    cached_config.transform = eval_transform(32);
    cached_config.cache = std::make_shared<InputCache>(std::size_t(1) << 24);
    LoaderConfig plain_config = cached_config;
    plain_config.cache = nullptr;
    Loader cached_loader(select(d.records, d.split.train), source, cached_config);
    Loader plain_loader(select(d.records, d.split.train), source, plain_config);
    for (int epoch : {0, 1}) {
        const auto with = epoch_batches(cached_loader, epoch), without = epoch_batches(plain_loader, epoch);
        REQUIRE(with.size() == without.size());
        for (std::size_t i = 0; i < with.size(); ++i) {
            CHECK(with[i].names == without[i].names);
            CHECK(with[i].images.to_vector() == without[i].images.to_vector());
        }
    }
    CHECK(cached_config.cache->bytes() >= std::size_t(one.size()) * 32 * 32);
    const auto resumed = epoch_batches(one, 2, 2);
    REQUIRE(resumed.size() == a.size() - 2);
    CHECK(resumed[0].images.to_vector() == a[2].images.to_vector());
    // Data-parallel shards (2 ranks, runs of 2 micro-batches): each rank gets batches 4j + 2r and
    // 4j + 2r + 1 of the same epoch, disjoint and together the whole epoch; a shard resumes too.
    std::vector<int> taken(a.size(), 0);
    for (int rank = 0; rank < 2; ++rank) {
        const Shard shard{rank, 2, 2};
        std::vector<Batch> mine;
        one.start_epoch(2, 0, shard);
        while (auto batch = one.next()) mine.push_back(std::move(*batch));
        REQUIRE(std::int64_t(mine.size()) == shard.count(std::int64_t(a.size())));
        for (std::size_t j = 0; j < mine.size(); ++j) {
            const std::int64_t index = shard.batch(std::int64_t(j));
            CHECK(index == std::int64_t(j / 2 * 4 + std::size_t(rank) * 2 + j % 2));
            ++taken[static_cast<std::size_t>(index)];
            CHECK(mine[j].images.to_vector() == a[static_cast<std::size_t>(index)].images.to_vector());
        }
        one.start_epoch(2, 1, shard);
        CHECK(one.next()->names == mine[1].names);
    }
    CHECK(std::count(taken.begin(), taken.end(), 1) == std::int64_t(a.size()));
    // An image that cannot be read is an error from next(), naming it.
    std::vector<ImageRecord> bad = select(d.records, d.split.train);
    bad[0].path = "/nonexistent/x.png";
    config.shuffle = false;
    Loader broken(bad, source, config);
    broken.start_epoch(0);
    CHECK(error_of([&] { broken.next(); }).find("/nonexistent/x.png") != std::string::npos);
}

TEST_CASE("input cache: the bits of render_input for 8-bit and deep sources, jitter included; bounded") {
    // A non-square 8-bit source and a deep one with fine structure (area averages and bilinear
    // weights both matter).
    GrayImage eight{300, 220, {}};
    for (int i = 0; i < 300 * 220; ++i) eight.pixels.push_back(static_cast<std::uint8_t>((i * 37) % 251));
    GrayImage deep{300, 220, {}};
    deep.deep.resize(300 * 220);
    for (std::size_t i = 0; i < deep.deep.size(); ++i) deep.deep[i] = static_cast<std::uint16_t>((i * 7919) % 65536);
    deep.pixels.resize(deep.deep.size());
    TransformConfig t = train_transform(48);
    t.contrast_jitter = 0.1;
    InputCache cache(std::size_t(1) << 20);
    for (const GrayImage* source : {&eight, &deep}) {
        const std::string name = source == &eight ? "eight.png" : "deep.png";
        for (std::uint64_t seed = 0; seed < 4; ++seed) {
            Rng geometry_rng(seed);
            const CropGeometry g = sample_geometry(t, source->width, source->height, geometry_rng);
            for (int visit = 0; visit < 2; ++visit) {  // the first computes, the second reads the cache
                std::vector<float> plain(48 * 48 * 3), cached(48 * 48 * 3);
                Rng a(100 + seed), b(100 + seed);
                render_input(*source, g, t, &a, plain.data());
                render_input_cached(&cache, name, *source, g, t, &b, cached.data());
                CHECK(std::memcmp(plain.data(), cached.data(), plain.size() * sizeof(float)) == 0);
                CHECK(a.next_u64() == b.next_u64());  // the jitter drew the same numbers
            }
        }
    }
    // 8 regions (4 of 48 x 48 bytes, 4 of 48 x 48 x 2) and their keys.
    CHECK(cache.bytes() > 4 * 48 * 48 * 3);
    CHECK(cache.bytes() < 4 * 48 * 48 * 3 + 8 * 200);
    // Past the budget nothing is kept, and the output is still right.
    InputCache small(48 * 48 + 300);  // one region and its key
    Rng rng(0);
    const CropGeometry g = sample_geometry(eval_transform(48), 300, 220, rng);
    std::vector<float> plain(48 * 48 * 3), cached(48 * 48 * 3);
    for (const char* name : {"a.png", "b.png", "c.png"}) {
        render_input(eight, g, eval_transform(48), nullptr, plain.data());
        render_input_cached(&small, name, eight, g, eval_transform(48), nullptr, cached.data());
        CHECK(plain == cached);
    }
    CHECK(small.bytes() <= 48 * 48 + 300);
    CHECK(small.bytes() > 0);
    // A local crop through the cache: the same bits, and the crop's own entry.
    const std::size_t before = small.bytes();
    InputCache crops(std::size_t(1) << 20);
    std::vector<float> crop_plain(32 * 32 * 3), crop_cached(32 * 32 * 3);
    const Box box{10, 12, 30, 40};
    crop_local(eight, g, box, 32, eval_transform(48), crop_plain.data());
    crop_local(eight, g, box, 32, eval_transform(48), crop_cached.data(), &crops, "a.png");
    CHECK(crop_plain == crop_cached);
    CHECK(crops.bytes() >= 32 * 32);
    CHECK(small.bytes() == before);
}

TEST_CASE("transforms: the shorter side is resized and the aspect ratio kept; squares as before") {
    TransformConfig t = eval_transform(224);  // resize 256, centre crop 224
    Rng rng(0);
    // A square source: resize 256, margin 32, centre offset 16 resized pixels = 32 source pixels.
    const CropGeometry square = sample_geometry(t, 512, 512, rng);
    CHECK(square.x0 == 32.0);
    CHECK(square.y0 == 32.0);
    CHECK(square.width == 448.0);
    CHECK(square.height == 448.0);
    // A hospital-shaped source, 2500 x 2048: resized to 312 x 256, the 224 square from its centre.
    CHECK(resized_size(2500, 2048, 256) == std::pair<int, int>{312, 256});
    CHECK(resized_size(2048, 2500, 256) == std::pair<int, int>{256, 312});
    const CropGeometry wide = sample_geometry(t, 2500, 2048, rng);
    CHECK(wide.width / wide.height == doctest::Approx(1.0).epsilon(0.005));  // not squashed
    CHECK(wide.height == doctest::Approx(224.0 * 2048 / 256));
    CHECK(wide.x0 == doctest::Approx((2500 - wide.width) / 2).epsilon(0.01));
    CHECK(wide.y0 == doctest::Approx(16.0 * 2048 / 256));
    // Random crops stay inside the resized image on both axes.
    t.crop = CropMode::resize_random_crop;
    for (int i = 0; i < 50; ++i) {
        const CropGeometry g = sample_geometry(t, 2048, 2500, rng);
        CHECK(g.x0 >= 0);
        CHECK(g.y0 >= 0);
        CHECK(g.x0 + g.width <= 2048 + 1e-9);
        CHECK(g.y0 + g.height <= 2500 + 1e-9);
        CHECK(g.width / g.height == doctest::Approx(1.0).epsilon(0.005));
    }
}


TEST_CASE("splits: the random split's fractions and the official validation share are settable") {
    DataSpec spec;
    spec.data_dir = synthetic_dir();
    spec.split = "random";
    spec.random_fractions = {0.5, 0.25, 0.25};
    const Dataset half = open_dataset(spec);
    CHECK(half.description.rfind("random patient-wise 50/25/25 split", 0) == 0);
    std::set<std::string> train, val, test;
    for (int i : half.split.train) train.insert(half.records[std::size_t(i)].patient);
    for (int i : half.split.val) val.insert(half.records[std::size_t(i)].patient);
    for (int i : half.split.test) test.insert(half.records[std::size_t(i)].patient);
    const double patients = double(train.size() + val.size() + test.size());
    CHECK(train.size() / patients == doctest::Approx(0.5).epsilon(0.05));
    CHECK(test.size() / patients == doctest::Approx(0.25).epsilon(0.1));
    spec.random_fractions = {0.5, 0.25, 0.3};
    CHECK(error_of([&] { open_dataset(spec); }).find("summing to 1") != std::string::npos);

    spec.split = "official";
    spec.val_fraction = 0.25;
    const Dataset quarter = open_dataset(spec);
    spec.val_fraction = 1.0 / 8;
    const Dataset eighth = open_dataset(spec);
    CHECK(quarter.split.val.size() > eighth.split.val.size());
    CHECK(quarter.split.test == eighth.split.test);  // the test list is the test list
}
