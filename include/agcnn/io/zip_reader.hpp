// agcnn/io/zip_reader.hpp — list and read the entries of a zip archive held in memory, as far as
// PyTorch's serialization needs (torch.save since 1.6 writes a zip of uncompressed entries).
//
// Contract: parse_zip(content, path) returns every entry named in the central directory, each a
// std::string_view into `content` (no copy), or throws agcnn::Error naming `path` and what is
// wrong. Only what PyTorch writes is accepted: stored (method 0) entries, no encryption, one
// disk. Sizes and offsets come from the central directory, never from local headers (PyTorch's
// writer sets bit 3, so its local headers carry zero sizes and a data descriptor follows the
// data); ZIP64 end records and ZIP64 extra fields are honoured. Every offset and length is
// checked against the buffer before use, so truncated or hostile input cannot read out of range;
// work and memory are linear in the input size.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::io {

struct ZipEntry {
    std::string name;
    std::string_view data;  // the stored bytes, inside the archive buffer
};

namespace zip_detail {

constexpr std::uint32_t local_header_signature = 0x04034b50;
constexpr std::uint32_t central_header_signature = 0x02014b50;
constexpr std::uint32_t end_signature = 0x06054b50;
constexpr std::uint32_t end64_locator_signature = 0x07064b50;
constexpr std::uint32_t end64_signature = 0x06064b50;
constexpr std::uint16_t zip64_extra_id = 0x0001;

// Bounds-checked little-endian reads from the archive.
class Cursor {
public:
    Cursor(std::string_view bytes, const std::string& path) : bytes_(bytes), path_(path) {}

    void need(std::uint64_t offset, std::uint64_t length, const char* what) const {
        AGCNN_CHECK(offset <= bytes_.size() && length <= bytes_.size() - offset, path_,
                    ": truncated or corrupt zip: ", what, " at offset ", offset, " (", length,
                    " bytes) lies outside the ", bytes_.size(), "-byte file");
    }
    template <class T>
    T read(std::uint64_t offset, const char* what) const {
        need(offset, sizeof(T), what);
        T value;
        std::memcpy(&value, bytes_.data() + offset, sizeof(T));
        return value;
    }
    std::string_view slice(std::uint64_t offset, std::uint64_t length, const char* what) const {
        need(offset, length, what);
        return bytes_.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
    }
    std::uint64_t size() const { return bytes_.size(); }

private:
    std::string_view bytes_;
    const std::string& path_;
};

struct Directory {
    std::uint64_t entries = 0, offset = 0, size = 0;
};

// Finds the end of central directory record (and its ZIP64 form when present).
inline Directory find_directory(const Cursor& in, const std::string& path) {
    constexpr std::uint64_t fixed = 22, max_comment = 0xFFFF;
    AGCNN_CHECK(in.size() >= fixed, path, ": not a zip archive (", in.size(), " bytes)");
    const std::uint64_t lowest =
        in.size() - fixed > max_comment ? in.size() - fixed - max_comment : 0;
    std::uint64_t end = in.size() - fixed;
    while (in.read<std::uint32_t>(end, "end record") != end_signature) {
        AGCNN_CHECK(end > lowest, path,
                    ": truncated or not a zip archive (no end of central directory record)");
        --end;
    }
    Directory dir;
    AGCNN_CHECK(in.read<std::uint16_t>(end + 4, "end record") == 0 &&
                    in.read<std::uint16_t>(end + 6, "end record") == 0,
                path, ": multi-disk zip archives are not supported");
    dir.entries = in.read<std::uint16_t>(end + 10, "end record");
    dir.size = in.read<std::uint32_t>(end + 12, "end record");
    dir.offset = in.read<std::uint32_t>(end + 16, "end record");
    const bool needs64 =
        dir.entries == 0xFFFF || dir.size == 0xFFFFFFFF || dir.offset == 0xFFFFFFFF;
    if (end >= 20 && in.read<std::uint32_t>(end - 20, "zip64 locator") == end64_locator_signature) {
        const auto record = in.read<std::uint64_t>(end - 20 + 8, "zip64 locator");
        AGCNN_CHECK(in.read<std::uint32_t>(record, "zip64 end record") == end64_signature, path,
                    ": corrupt zip: the zip64 locator does not point at a zip64 end record");
        dir.entries = in.read<std::uint64_t>(record + 32, "zip64 end record");
        dir.size = in.read<std::uint64_t>(record + 40, "zip64 end record");
        dir.offset = in.read<std::uint64_t>(record + 48, "zip64 end record");
    } else {
        AGCNN_CHECK(!needs64, path, ": corrupt zip: zip64 sizes without a zip64 end record");
    }
    in.need(dir.offset, dir.size, "central directory");
    // Each central header takes at least 46 bytes: a bound on the entry count.
    AGCNN_CHECK(dir.entries <= dir.size / 46, path, ": corrupt zip: ", dir.entries,
                " entries cannot fit a ", dir.size, "-byte central directory");
    return dir;
}

// Replaces 0xFFFFFFFF fields with their values from the ZIP64 extra field, in the order the
// specification gives: uncompressed size, compressed size, local header offset.
inline void apply_zip64_extra(std::string_view extra, std::uint64_t& uncompressed,
                              std::uint64_t& compressed, std::uint64_t& local_offset,
                              const std::string& path, const std::string& name) {
    std::uint64_t* wanted[3] = {&uncompressed, &compressed, &local_offset};
    std::size_t pos = 0;
    while (pos + 4 <= extra.size()) {
        std::uint16_t id, length;
        std::memcpy(&id, extra.data() + pos, 2);
        std::memcpy(&length, extra.data() + pos + 2, 2);
        pos += 4;
        AGCNN_CHECK(length <= extra.size() - pos, path, ": corrupt zip: entry '", name,
                    "' has an extra field longer than its header");
        if (id == zip64_extra_id) {
            std::size_t field = pos;
            for (std::uint64_t* value : wanted) {
                if (*value != 0xFFFFFFFF) continue;
                AGCNN_CHECK(field + 8 <= pos + length, path, ": corrupt zip: entry '", name,
                            "' has a short zip64 extra field");
                std::memcpy(value, extra.data() + field, 8);
                field += 8;
            }
            return;
        }
        pos += length;
    }
    AGCNN_CHECK(
        uncompressed != 0xFFFFFFFF && compressed != 0xFFFFFFFF && local_offset != 0xFFFFFFFF, path,
        ": corrupt zip: entry '", name, "' needs a zip64 extra field it lacks");
}

}  // namespace zip_detail

// Lists the archive's entries with their bytes. `path` only names the file in errors.
inline std::vector<ZipEntry> parse_zip(std::string_view content, const std::string& path) {
    using namespace zip_detail;
    const Cursor in(content, path);
    const Directory dir = find_directory(in, path);
    std::vector<ZipEntry> entries;
    entries.reserve(static_cast<std::size_t>(dir.entries));
    std::uint64_t pos = dir.offset;
    const std::uint64_t dir_end = dir.offset + dir.size;
    for (std::uint64_t i = 0; i < dir.entries; ++i) {
        in.need(pos, 46, "central directory entry");
        AGCNN_CHECK(pos + 46 <= dir_end, path,
                    ": corrupt zip: central directory overruns its size");
        AGCNN_CHECK(
            in.read<std::uint32_t>(pos, "central directory entry") == central_header_signature,
            path, ": corrupt zip: bad central directory entry ", i);
        const auto flags = in.read<std::uint16_t>(pos + 8, "central directory entry");
        const auto method = in.read<std::uint16_t>(pos + 10, "central directory entry");
        std::uint64_t compressed = in.read<std::uint32_t>(pos + 20, "central directory entry");
        std::uint64_t uncompressed = in.read<std::uint32_t>(pos + 24, "central directory entry");
        const auto name_length = in.read<std::uint16_t>(pos + 28, "central directory entry");
        const auto extra_length = in.read<std::uint16_t>(pos + 30, "central directory entry");
        const auto comment_length = in.read<std::uint16_t>(pos + 32, "central directory entry");
        std::uint64_t local = in.read<std::uint32_t>(pos + 42, "central directory entry");
        const std::uint64_t record_size = 46ull + name_length + extra_length + comment_length;
        AGCNN_CHECK(pos + record_size <= dir_end, path,
                    ": corrupt zip: central directory overruns its size");
        std::string name(in.slice(pos + 46, name_length, "entry name"));
        apply_zip64_extra(in.slice(pos + 46 + name_length, extra_length, "extra field"),
                          uncompressed, compressed, local, path, name);
        AGCNN_CHECK((flags & 1) == 0, path, ": entry '", name, "' is encrypted");
        AGCNN_CHECK(method == 0, path, ": entry '", name, "' is compressed (method ", method,
                    "); PyTorch archives store entries uncompressed");
        AGCNN_CHECK(compressed == uncompressed, path, ": corrupt zip: stored entry '", name,
                    "' has different compressed and uncompressed sizes");
        AGCNN_CHECK(in.read<std::uint32_t>(local, "local header") == local_header_signature, path,
                    ": corrupt zip: entry '", name, "' has no local header at offset ", local);
        const std::uint64_t data = local + 30 + in.read<std::uint16_t>(local + 26, "local header") +
                                   in.read<std::uint16_t>(local + 28, "local header");
        entries.push_back({std::move(name), in.slice(data, compressed, "entry data")});
        pos += record_size;
    }
    return entries;
}

}  // namespace agcnn::io
