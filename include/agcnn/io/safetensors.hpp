// agcnn/io/safetensors.hpp — read and write the safetensors format (huggingface/safetensors).
//
// Layout: u64 little-endian N, then N bytes of JSON header
//   {"__metadata__": {"key": "value", ...},
//    "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data block; offsets are relative to its start. Everything in a file is checked
// before use: header size within the file, valid JSON of the expected shape, known dtypes,
// byte ranges that match dtype x shape, lie inside the data block and do not overlap. A hostile
// file gets an Error naming the file, never a crash or a huge allocation.
//
// Writing pads the header with spaces to a multiple of 8 bytes (as the reference library does)
// and goes through write_file_atomic.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/core/tensor.hpp"
#include "agcnn/io/atomic_file.hpp"
#include "agcnn/io/dtype.hpp"
#include "agcnn/io/json_reader.hpp"

namespace agcnn::io {

// One tensor as stored: raw little-endian bytes of `dtype`.
struct TensorRecord {
    std::string name;
    std::string dtype;
    Shape shape;
    std::string bytes;

    std::int64_t numel() const { return shape_numel(shape); }
    // The values as float32 (F32, F16, BF16, F64, I64 accepted).
    std::vector<float> to_float32(const std::string& file) const {
        return io::to_float32(dtype, reinterpret_cast<const unsigned char*>(bytes.data()),
                              static_cast<std::size_t>(numel()), file + ": tensor '" + name + "'");
    }
    // The same, refusing NaN and infinite values: weights with one do not compute anything
    // meaningful, and every score after them would be NaN.
    std::vector<float> to_finite_float32(const std::string& file) const {
        std::vector<float> values = to_float32(file);
        const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
        AGCNN_CHECK(bad == values.end(), file, ": tensor '", name, "' holds ", std::isnan(*bad) ? "NaN" : "an infinite value",
                    " (element ", bad - values.begin(), " of ", values.size(), "); these weights are unusable");
        return values;
    }
};

struct TensorFile {
    std::map<std::string, std::string> metadata;
    std::vector<TensorRecord> tensors;  // in file order

    const TensorRecord* find(const std::string& name) const {
        for (const auto& t : tensors)
            if (t.name == name) return &t;
        return nullptr;
    }
    void add_f32(const std::string& name, const Shape& shape, const float* values) {
        TensorRecord record{name, "F32", shape, {}};
        record.bytes.assign(reinterpret_cast<const char*>(values),
                            static_cast<std::size_t>(shape_numel(shape)) * 4);
        tensors.push_back(std::move(record));
    }
    void add_i64(const std::string& name, std::int64_t value) {
        TensorRecord record{name, "I64", {}, std::string(8, '\0')};
        std::memcpy(record.bytes.data(), &value, 8);
        tensors.push_back(std::move(record));
    }
};

// Parses a safetensors file held in memory. `path` only names the file in errors.
inline TensorFile parse_safetensors(std::string_view content, const std::string& path) {
    AGCNN_CHECK(content.size() >= 8, path, ": not a safetensors file (", content.size(),
                " bytes, shorter than the 8-byte header length)");
    std::uint64_t header_size = 0;
    std::memcpy(&header_size, content.data(), 8);
    AGCNN_CHECK(header_size >= 2 && header_size <= content.size() - 8, path,
                ": not a safetensors file or truncated: header length ", header_size,
                " but the file has ", content.size(), " bytes");
    const std::string_view header = content.substr(8, header_size);
    const std::string_view data = content.substr(8 + header_size);
    JsonValue parsed;
    try {
        parsed = parse_json(header);
    } catch (const JsonError& e) {
        throw Error(path + ": safetensors header is not a JSON object (" + e.what() + ")");
    }
    AGCNN_CHECK(parsed.is_object(), path, ": safetensors header is not a JSON object");
    TensorFile file;
    struct Range {
        std::uint64_t begin, end;
        std::size_t index;
    };
    std::vector<Range> ranges;
    for (const auto& [name, entry] : parsed.members) {
        if (name == "__metadata__") {
            AGCNN_CHECK(entry.is_object(), path, ": __metadata__ is not an object");
            for (const auto& [key, value] : entry.members) {
                AGCNN_CHECK(value.is_string(), path, ": metadata value '", key, "' is not a string");
                file.metadata[key] = value.text;
            }
            continue;
        }
        const JsonValue* dtype = entry.find("dtype");
        const JsonValue* shape = entry.find("shape");
        const JsonValue* offsets = entry.find("data_offsets");
        AGCNN_CHECK(entry.is_object() && dtype && shape && offsets && dtype->is_string() && shape->is_array() &&
                        offsets->is_array() && offsets->items.size() == 2,
                    path, ": tensor '", name, "' has a malformed header entry");
        TensorRecord record;
        record.name = name;
        record.dtype = dtype->text;
        const std::size_t element = dtype_size(record.dtype);
        AGCNN_CHECK(element > 0, path, ": tensor '", name, "' has unknown dtype '", record.dtype,
                    "'");
        std::uint64_t count = 1;
        for (const JsonValue& d : shape->items) {
            AGCNN_CHECK(d.is_unsigned && d.unsigned_value <= std::uint64_t(INT64_MAX), path, ": tensor '", name,
                        "' has a bad dimension");
            const std::uint64_t dim = d.unsigned_value;
            AGCNN_CHECK(dim == 0 || count <= content.size() / dim, path, ": tensor '", name,
                        "' has a shape larger than the file");
            count *= dim;
            record.shape.push_back(static_cast<std::int64_t>(dim));
        }
        AGCNN_CHECK(offsets->items[0].is_unsigned && offsets->items[1].is_unsigned, path,
                    ": tensor '", name, "' has bad data_offsets");
        const std::uint64_t begin = offsets->items[0].unsigned_value;
        const std::uint64_t end = offsets->items[1].unsigned_value;
        AGCNN_CHECK(begin <= end && end <= data.size(), path, ": tensor '", name,
                    "' lies outside the data block (offsets ", begin, "..", end, ", data block ",
                    data.size(), " bytes): truncated file?");
        AGCNN_CHECK(end - begin == count * element, path, ": tensor '", name, "' has ",
                    end - begin, " bytes but ", record.dtype, " ", shape_str(record.shape),
                    " needs ", count * element);
        record.bytes.assign(data.substr(begin, end - begin));
        ranges.push_back({begin, end, file.tensors.size()});
        file.tensors.push_back(std::move(record));
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < ranges.size(); ++i)
        AGCNN_CHECK(ranges[i].begin >= ranges[i - 1].end, path, ": tensors '",
                    file.tensors[ranges[i - 1].index].name, "' and '",
                    file.tensors[ranges[i].index].name, "' overlap");
    // File order: by offset.
    std::vector<TensorRecord> ordered;
    ordered.reserve(file.tensors.size());
    for (const Range& r : ranges) ordered.push_back(std::move(file.tensors[r.index]));
    file.tensors = std::move(ordered);
    return file;
}

// The largest weight file read: an AG-CNN training checkpoint (three ResNet-50s with their
// optimizer moments) is about 1 GiB; torchvision's ResNet-50 .pth is 98 MiB.
constexpr std::uint64_t kMaxWeightFileBytes = 4ull << 30;

inline TensorFile read_safetensors(const std::string& path) {
    return parse_safetensors(read_file(path, kMaxWeightFileBytes), path);
}

// The header, as nlohmann/json's compact dump() writes it: metadata first (keys sorted), then
// the tensors in file order.
inline std::string serialize_safetensors_header(const TensorFile& file) {
    std::string text = "{";
    if (!file.metadata.empty()) {
        text += "\"__metadata__\":{";
        for (const auto& [key, value] : file.metadata)
            text.append(text.back() == '{' ? "" : ",").append(json_quote(key)).append(":").append(json_quote(value));
        text += "}";
    }
    std::uint64_t offset = 0;
    std::vector<std::string_view> names;
    for (const auto& t : file.tensors) {
        AGCNN_CHECK(t.bytes.size() == static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype),
                    "safetensors: tensor '", t.name, "' has ", t.bytes.size(), " bytes for ",
                    t.dtype, " ", shape_str(t.shape));
        AGCNN_CHECK(t.name != "__metadata__" && std::find(names.begin(), names.end(), t.name) == names.end(),
                    "safetensors: duplicate tensor name '", t.name, "'");
        names.push_back(t.name);
        // (appends, not "," + std::string: GCC 12 warns falsely about those once inlined)
        std::string shape;
        for (std::int64_t d : t.shape) shape.append(shape.empty() ? "" : ",").append(std::to_string(d));
        text.append(text.back() == '{' ? "" : ",").append(json_quote(t.name)).append(":{\"dtype\":");
        text.append(json_quote(t.dtype)).append(",\"shape\":[").append(shape).append("],\"data_offsets\":[");
        text.append(std::to_string(offset)).append(",").append(std::to_string(offset + t.bytes.size())).append("]}");
        offset += t.bytes.size();
    }
    text += "}";
    while ((text.size() + 8) % 8 != 0) text.push_back(' ');
    std::string out(8, '\0');
    const std::uint64_t size = text.size();
    std::memcpy(out.data(), &size, 8);
    return out + text;
}

// Writes the file atomically (temporary file, fsync, rename).
inline void write_safetensors(const std::string& path, const TensorFile& file) {
    const std::string header = serialize_safetensors_header(file);
    std::vector<std::string_view> parts{header};
    for (const auto& t : file.tensors) parts.emplace_back(t.bytes);
    write_file_atomic(path, parts);
}

}  // namespace agcnn::io
