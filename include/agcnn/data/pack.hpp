// agcnn/data/pack.hpp — the packed cache: every image of a data set decoded once into one file.
//
// Decoding 1024x1024 PNGs each epoch cannot feed a GPU, so `agcnn pack` stores each image as
// gray samples, scaled so its longer side is at most `max_side` (512 by default), in one file:
//
//   "AGCNNPK1" | pixels of image 0 | pixels of image 1 | ... | index JSON
//   | u64 index length | u64 index checksum | "AGCNNEND"          (integers little-endian)
//
// The index lists, per image: name, offset, width, height, bytes per sample (1 for 8-bit images,
// 2 for deep ones: 16-bit PNGs and DICOM keep their precision, little-endian uint16), a 64-bit
// checksum of its pixels, and the source file's size and modification time; and for the whole
// pack the side and the DICOM VOI mode it was decoded with. A pack is trusted only if the trailer,
// file size and index checksum agree (a torn or truncated file fails here), and each image's
// checksum is checked when it is read (a flipped bit is an error naming the pack). A pack is stale
// when a record is missing, its source's size or mtime changed, or it was decoded another way;
// ensure_pack() then rebuilds it. The file is written through io::AtomicFileWriter
// (temporary name, fsync, rename, folder fsync), so a crash leaves the old pack or the new one.
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/data/image_source.hpp"
#include "agcnn/io/atomic_file.hpp"

namespace agcnn::data {

constexpr char kPackMagic[] = "AGCNNPK1";
constexpr int kPackVersion = 2;  // 2: 16-bit samples for deep images, the DICOM VOI mode
constexpr char kPackEnd[] = "AGCNNEND";

// A fast 64-bit checksum (8 bytes per step, multiply-rotate mixing); catches corruption, not
// tampering.
inline std::uint64_t checksum64(const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ size;
    auto mix = [&h](std::uint64_t word) {
        h ^= word * 0xBF58476D1CE4E5B9ull;
        h = ((h << 31) | (h >> 33)) * 0x94D049BB133111EBull;
    };
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, p + i, 8);
        mix(word);
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, p + i, size - i);
    mix(tail);
    return h ^ (h >> 29);
}

// What identifies the version of a source image file without reading it.
struct SourceStamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const SourceStamp&) const = default;
};

inline SourceStamp stamp_of(const std::string& path) {
    struct stat st{};
    AGCNN_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot stat: ", std::strerror(errno));
    return {static_cast<std::uint64_t>(st.st_size),
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

struct PackEntry {
    std::string name;
    std::uint64_t offset = 0;
    int width = 0, height = 0;  // 0 x 0: the source could not be decoded (see `error`)
    int bytes_per_sample = 1;   // 1: 8-bit image; 2: deep (16-bit scale), little-endian
    std::uint64_t checksum = 0;
    std::uint64_t bytes() const { return std::uint64_t(width) * std::uint64_t(height) * std::uint64_t(bytes_per_sample); }
    SourceStamp stamp;
    std::string error;
};

// A pack opened read-only through mmap; also the loader's image source.
class PackReader final : public ImageSource {
public:
    explicit PackReader(const std::string& path) : path_(path), file_(path), size_(file_.size()) {
        AGCNN_CHECK(size_ >= 32, path, ": pack too short (", size_, " bytes): torn or not a pack");
        void* map = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, file_.fd(), 0);
        AGCNN_CHECK(map != MAP_FAILED, path, ": cannot map pack: ", std::strerror(errno));
        data_ = static_cast<const unsigned char*>(map);
        try {
            parse_index();
        } catch (...) {
            unmap();
            throw;
        }
    }
    ~PackReader() override { unmap(); }
    PackReader(const PackReader&) = delete;
    PackReader& operator=(const PackReader&) = delete;

    const std::string& path() const { return path_; }
    int max_side() const { return max_side_; }
    const std::string& dicom_voi() const { return dicom_voi_; }
    const std::vector<PackEntry>& entries() const { return entries_; }
    const PackEntry* find(const std::string& name) const {
        const auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : &entries_[it->second];
    }

    // True when every record is in the pack with an unchanged source.
    bool is_current_for(const std::vector<ImageRecord>& records) const {
        for (const ImageRecord& r : records) {
            const PackEntry* e = find(r.name);
            if (e == nullptr || !(e->stamp == stamp_of(r.path))) return false;
        }
        return true;
    }

    std::shared_ptr<const GrayImage> load(const ImageRecord& record) const override { return image(record.name); }

    std::shared_ptr<const GrayImage> image(const std::string& name) const {
        const PackEntry* e = find(name);
        AGCNN_CHECK(e != nullptr, path_, ": image '", name, "' is not in the pack (rebuild it with agcnn pack)");
        AGCNN_CHECK(e->error.empty(), path_, ": image '", name, "' could not be decoded when packed: ", e->error);
        AGCNN_CHECK(checksum64(data_ + e->offset, e->bytes()) == e->checksum, path_, ": image '", name,
                    "' fails its checksum: the pack is corrupt (delete it, or run agcnn pack again)");
        auto out = std::make_shared<GrayImage>();
        out->width = e->width;
        out->height = e->height;
        if (e->bytes_per_sample == 2) {
            out->deep.resize(std::size_t(e->width) * e->height);
            std::memcpy(out->deep.data(), data_ + e->offset, e->bytes());  // little-endian host
        } else {
            out->pixels.assign(data_ + e->offset, data_ + e->offset + e->bytes());
        }
        return out;
    }

private:
    void unmap() {
        if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
        data_ = nullptr;
    }

    void parse_index() {
        const std::string corrupt = path_ + ": corrupt or torn pack (delete it, or run agcnn pack again): ";
        AGCNN_CHECK(std::memcmp(data_, kPackMagic, 8) == 0, path_, ": not an agcnn pack (bad magic)");
        AGCNN_CHECK(std::memcmp(data_ + size_ - 8, kPackEnd, 8) == 0, corrupt, "no end marker");
        std::uint64_t index_length = 0, index_checksum = 0;
        std::memcpy(&index_length, data_ + size_ - 24, 8);
        std::memcpy(&index_checksum, data_ + size_ - 16, 8);
        AGCNN_CHECK(index_length <= size_ - 32, corrupt, "index length ", index_length, " exceeds the file");
        const std::uint64_t index_start = size_ - 24 - index_length;
        const char* index_text = reinterpret_cast<const char*>(data_ + index_start);
        AGCNN_CHECK(checksum64(index_text, index_length) == index_checksum, corrupt, "index checksum mismatch");
        nlohmann::json index;
        try {
            index = nlohmann::json::parse(index_text, index_text + index_length);
            AGCNN_CHECK(index.at("version").get<int>() == kPackVersion, path_, ": pack version ",
                        index.at("version").get<int>(), ", this agcnn reads version ", kPackVersion,
                        " (run agcnn pack again)");
            max_side_ = index.at("max_side").get<int>();
            dicom_voi_ = index.at("dicom_voi").get<std::string>();
            for (const auto& item : index.at("images")) {
                PackEntry e;
                e.name = item.at("name").get<std::string>();
                e.offset = item.at("offset").get<std::uint64_t>();
                e.width = item.at("width").get<int>();
                e.height = item.at("height").get<int>();
                e.bytes_per_sample = item.at("bytes_per_sample").get<int>();
                e.checksum = item.at("checksum").get<std::uint64_t>();
                e.stamp = {item.at("source_size").get<std::uint64_t>(), item.at("source_mtime_ns").get<std::int64_t>()};
                e.error = item.value("error", "");
                AGCNN_CHECK(e.bytes_per_sample == 1 || e.bytes_per_sample == 2, corrupt, "image '", e.name,
                            "' has ", e.bytes_per_sample, " bytes per sample");
                AGCNN_CHECK(e.width >= 0 && e.height >= 0 && e.width <= kMaxImageSide && e.height <= kMaxImageSide &&
                                e.offset >= 8 && e.offset <= index_start && e.bytes() <= index_start - e.offset,
                            corrupt, "image '", e.name, "' lies outside the pixel block");
                AGCNN_CHECK(by_name_.emplace(e.name, entries_.size()).second, corrupt, "image '", e.name,
                            "' twice");
                entries_.push_back(std::move(e));
            }
        } catch (const nlohmann::json::exception& e) {
            throw Error(corrupt + "bad index: " + e.what());
        }
    }

    std::string path_;
    io::RegularFile file_;  // a FIFO or device at the pack's path is refused, not waited on
    std::size_t size_ = 0;
    const unsigned char* data_ = nullptr;
    int max_side_ = 0;
    std::string dicom_voi_;
    std::vector<PackEntry> entries_;
    std::unordered_map<std::string, std::size_t> by_name_;
};

// Bytes that parallel jobs may hold at once. A Hold of n bytes waits until the jobs in flight
// hold at most limit - n, or until none is in flight (so a job larger than the budget still
// runs, alone), and gives the bytes back when destroyed.
class MemoryBudget {
public:
    explicit MemoryBudget(std::uint64_t limit) : limit_(limit) {}

    class Hold {
    public:
        Hold(MemoryBudget& budget, std::uint64_t bytes) : budget_(budget), bytes_(bytes) {
            std::unique_lock lock(budget_.mutex_);
            budget_.freed_.wait(lock, [&] { return budget_.used_ == 0 || budget_.used_ + bytes_ <= budget_.limit_; });
            budget_.used_ += bytes_;
        }
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;
        ~Hold() {
            {
                std::lock_guard lock(budget_.mutex_);
                budget_.used_ -= bytes_;
            }
            budget_.freed_.notify_all();
        }

    private:
        MemoryBudget& budget_;
        std::uint64_t bytes_;
    };

private:
    std::uint64_t limit_, used_ = 0;
    std::mutex mutex_;
    std::condition_variable freed_;
};

// The memory that build_pack's parallel decoding may hold at once: one decode of the largest
// accepted PNG (png_decode_peak_bytes of a kMaxDecodedBytes image in a kMaxPngFileBytes file).
// A larger single decode (a big DICOM) still runs, alone.
constexpr std::uint64_t kPackDecodeBudget = kMaxPngFileBytes + 3 * kMaxDecodedBytes;

// The name of a VOI mode as the pack's index records it.
inline const char* voi_mode_name(VoiMode mode) {
    return mode == VoiMode::file ? "file" : mode == VoiMode::minmax ? "minmax" : "none";
}

// Decodes every record's image (in parallel, in chunks, the decodes in flight within
// kPackDecodeBudget) and writes the pack at `path` atomically. An image that cannot be decoded is
// an error naming it, or with skip_bad is kept in the index with its error.
// `progress(done, total)` is called after each chunk.
inline void build_pack(const std::vector<ImageRecord>& records, const std::string& path, int max_side,
                       bool skip_bad, const std::function<void(std::size_t, std::size_t)>& progress = {},
                       const ImageReadOptions& options = {}) {
    AGCNN_CHECK(max_side >= 16 && max_side <= kMaxImageSide, "pack: image side ", max_side, " outside 16..",
                kMaxImageSide);
    io::AtomicFileWriter out(path);
    out.write(kPackMagic, 8);
    std::uint64_t offset = 8;
    nlohmann::json images = nlohmann::json::array();
    constexpr std::size_t kChunk = 64;
    MemoryBudget budget(kPackDecodeBudget);
    for (std::size_t begin = 0; begin < records.size(); begin += kChunk) {
        const std::size_t end = std::min(records.size(), begin + kChunk);
        std::vector<GrayImage> decoded(end - begin);
        std::vector<std::string> errors(end - begin);
        std::vector<SourceStamp> stamps(end - begin);
#pragma omp parallel for schedule(dynamic)
        for (std::size_t i = begin; i < end; ++i) {
            try {
                stamps[i - begin] = stamp_of(records[i].path);
                const MemoryBudget::Hold hold(budget, read_image_info(records[i].path).decode_peak_bytes);
                decoded[i - begin] = fit_within(read_image(records[i].path, options), max_side);
            } catch (const Error& e) {
                errors[i - begin] = e.what();
            }
        }
        for (std::size_t i = begin; i < end; ++i) {
            const GrayImage& image = decoded[i - begin];
            const std::string& error = errors[i - begin];
            AGCNN_CHECK(skip_bad || error.empty(), error);
            const void* samples = image.is_deep() ? static_cast<const void*>(image.deep.data()) : image.pixels.data();
            const std::size_t bytes = image.sample_count() * std::size_t(image.bytes_per_sample());
            nlohmann::json item = {{"name", records[i].name},
                                   {"offset", offset},
                                   {"width", image.width},
                                   {"height", image.height},
                                   {"bytes_per_sample", image.bytes_per_sample()},
                                   {"checksum", checksum64(samples, bytes)},
                                   {"source_size", stamps[i - begin].size},
                                   {"source_mtime_ns", stamps[i - begin].mtime_ns}};
            if (!error.empty()) item["error"] = error;
            images.push_back(std::move(item));
            out.write(samples, bytes);  // deep samples little-endian (the host's order; x86-64, aarch64)
            offset += bytes;
        }
        if (progress) progress(end, records.size());
    }
    const std::string index = nlohmann::json{{"version", kPackVersion},
                                             {"max_side", max_side},
                                             {"dicom_voi", voi_mode_name(options.dicom.voi)},
                                             {"images", images}}
                                  .dump();
    const std::uint64_t trailer[2] = {index.size(), checksum64(index.data(), index.size())};
    out.write(index.data(), index.size());
    out.write(trailer, sizeof trailer);
    out.write(kPackEnd, 8);
    out.commit();
}

// Where a data set's pack goes unless told otherwise: beside its images.
inline std::string default_pack_path(const std::string& folder, int max_side) {
    return (std::filesystem::path(folder) / ("agcnn-pack-" + std::to_string(max_side) + ".bin")).string();
}

// The pack at `path` if it is sound, built at `max_side` with `options` and current for
// `records`; else null (missing, torn, corrupt, another version, side or VOI mode, or stale). Something at `path` that is not a regular
// file (a FIFO, a device, a folder) is an error, not a pack to rebuild over.
inline std::shared_ptr<PackReader> open_current_pack(const std::vector<ImageRecord>& records,
                                                     const std::string& path, int max_side,
                                                     const ImageReadOptions& options = {}) {
    if (!std::filesystem::exists(path)) return nullptr;
    io::RegularFile{path};  // throws "PATH: not a regular file (...)"
    try {
        auto reader = std::make_shared<PackReader>(path);
        if (reader->max_side() == max_side && reader->dicom_voi() == voi_mode_name(options.dicom.voi) &&
            reader->is_current_for(records))
            return reader;
    } catch (const Error&) {
        // a torn or corrupt pack is not trusted
    }
    return nullptr;
}

// Opens the pack at `path` if it is sound, built at `max_side` and current for `records`;
// otherwise (re)builds it first. Returns the reader and whether it was (re)built.
inline std::pair<std::shared_ptr<PackReader>, bool> ensure_pack(
    const std::vector<ImageRecord>& records, const std::string& path, int max_side, bool skip_bad,
    const std::function<void(std::size_t, std::size_t)>& progress = {}, const ImageReadOptions& options = {}) {
    if (auto reader = open_current_pack(records, path, max_side, options)) return {reader, false};
    build_pack(records, path, max_side, skip_bad, progress, options);
    return {std::make_shared<PackReader>(path), true};
}

}  // namespace agcnn::data
