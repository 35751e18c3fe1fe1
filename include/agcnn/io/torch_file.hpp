// agcnn/io/torch_file.hpp — read the weight files users download (PyTorch .pth in either format,
// safetensors) into one io::TensorFile, with no Python.
//
// Contract: read_weights(path) / parse_weights(content, path) detect the format by content, not
// by file name, and return every tensor of the state_dict, in file order, under its PyTorch
// name, as a contiguous row-major little-endian record of the dtype it was stored in (F32, F16,
// BF16, F64, I64; TensorRecord::to_float32 widens or rounds to float32). Or they throw
// agcnn::Error naming the file and the problem.
//   pytorch-zip     torch.save since 1.6: a zip with <top>/data.pkl (the top folder has any
//                   name), storages in <top>/data/<key>, and <top>/byteorder ("little" when
//                   absent; "big" is byte-swapped here).
//   pytorch-legacy  torch.save(..., _use_new_zipfile_serialization=False) and PyTorch < 1.6:
//                   pickled magic number, protocol 1001, sys_info, the state_dict, the list of
//                   storage keys, then each storage as int64 element count + raw bytes.
//   safetensors     read by io/safetensors.hpp.
// Like torch.load(weights_only=True) plus the usual checkpoint habits: a dict wrapped as
// {'state_dict': ...} or {'model': ...} is unwrapped (up to 4 levels), and the `module.` prefix
// that DataParallel adds is stripped; a repeated name keeps its last tensor, as a Python dict does.
// Tensors saved as views (storage offset, strides) are materialised, bounds-checked against
// their storage. Views may overlap or repeat elements (stride 0, one tensor under many names),
// so all the tensors of a file together may take at most 4 x its size + 64 MiB.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/io/pickle_reader.hpp"
#include "agcnn/io/safetensors.hpp"
#include "agcnn/io/zip_reader.hpp"

namespace agcnn::io {

enum class WeightFormat { pytorch_zip, pytorch_legacy, safetensors };

inline const char* format_name(WeightFormat format) {
    switch (format) {
        case WeightFormat::pytorch_zip: return "pytorch-zip";
        case WeightFormat::pytorch_legacy: return "pytorch-legacy";
        case WeightFormat::safetensors: return "safetensors";
    }
    return "";
}

namespace torch_detail {

// pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) after its PROTO opcode: LONG1, 10 bytes.
constexpr std::string_view legacy_magic("\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 12);
constexpr std::int64_t legacy_protocol = 1001;
// The bytes all materialised tensors of a file may take, against memory blow-up by views.
inline std::uint64_t materialise_budget(std::size_t file_size) {
    return 4 * static_cast<std::uint64_t>(file_size) + (std::uint64_t(1) << 26);
}

using pickle::Arena;
using pickle::ObjectKind;
using pickle::Value;

// The storage named by a persistent id ('storage', <type>, key, location, numel[, view]).
inline pickle::StorageRef storage_from_pid(const Arena& arena, const Value& pid, std::size_t fields,
                                           const std::string& path) {
    const auto& items = arena.at(pid).items;
    AGCNN_CHECK(items.size() == fields, path, ": bad pickle: storage id has ", items.size(),
                " fields, expected ", fields);
    AGCNN_CHECK(arena.is(items[1], ObjectKind::global), path, ": bad pickle: storage type is a ",
                arena.describe(items[1]));
    const char* dtype = pickle::storage_dtype(arena.at(items[1]).text);
    AGCNN_CHECK(dtype, path, ": unsupported storage type ", arena.at(items[1]).text);
    AGCNN_CHECK(arena.is(items[2], ObjectKind::string), path, ": bad pickle: storage key is a ",
                arena.describe(items[2]));
    AGCNN_CHECK(items[4].kind == pickle::Kind::integer && items[4].integer >= 0, path,
                ": bad pickle: storage size is not a non-negative int");
    if (fields == 6)
        AGCNN_CHECK(items[5].kind == pickle::Kind::none, path,
                    ": storage views (PyTorch < 1.0 files) are not supported");
    return {dtype, arena.at(items[2]).text, items[4].integer};
}

// Copies the view's elements in row-major order; `storage` holds the storage's bytes. The
// result's size is taken from `budget`.
inline std::string materialise(const pickle::TensorView& view, const pickle::StorageRef& storage,
                               std::string_view bytes, std::uint64_t& budget,
                               const std::string& name, const std::string& path) {
    const std::size_t element = dtype_size(storage.dtype);
    AGCNN_CHECK(static_cast<std::uint64_t>(storage.numel) <= bytes.size() / element &&
                    bytes.size() == static_cast<std::uint64_t>(storage.numel) * element,
                path, ": storage '", storage.key, "' has ", bytes.size(), " bytes, expected ",
                storage.numel, " x ", element);
    // A dimension of size 1 never steps, whatever its stride says.
    std::vector<std::int64_t> stride = view.stride;
    for (std::size_t d = 0; d < stride.size(); ++d)
        if (view.size[d] <= 1) stride[d] = 0;
    AGCNN_CHECK(view.offset >= 0, path, ": tensor '", name, "' has a negative storage offset");
    std::int64_t numel = 1;
    unsigned __int128 last = static_cast<std::uint64_t>(view.offset);  // highest index read
    const std::uint64_t limit = budget / element;
    for (std::size_t d = 0; d < view.size.size(); ++d) {
        AGCNN_CHECK(view.size[d] >= 0 && stride[d] >= 0, path, ": tensor '", name,
                    "' has a negative size or stride");
        AGCNN_CHECK(view.size[d] == 0 || static_cast<std::uint64_t>(numel) <= limit / view.size[d],
                    path, ": tensor '", name, "' would take the file's tensors past ",
                    "4 x its size + 64 MiB (overlapping or repeated views)");
        numel *= view.size[d];
        if (view.size[d] > 0)
            last += static_cast<unsigned __int128>(view.size[d] - 1) *
                    static_cast<std::uint64_t>(stride[d]);
    }
    if (numel == 0) return {};
    AGCNN_CHECK(last < static_cast<std::uint64_t>(storage.numel), path, ": tensor '", name,
                "' reads past the end of its storage (", storage.numel, " elements)");
    budget -= static_cast<std::uint64_t>(numel) * element;
    std::string out(static_cast<std::size_t>(numel) * element, '\0');
    const std::size_t rank = view.size.size();
    std::vector<std::int64_t> index(rank, 0);
    std::int64_t source = view.offset;
    for (std::int64_t i = 0; i < numel; ++i) {
        std::memcpy(out.data() + i * element, bytes.data() + source * element, element);
        for (std::size_t d = rank; d-- > 0;) {  // odometer step, last dimension fastest
            source += stride[d];
            if (++index[d] < view.size[d]) break;
            source -= stride[d] * view.size[d];
            index[d] = 0;
        }
    }
    return out;
}

inline void swap_elements(std::string& bytes, std::size_t element) {
    for (std::size_t i = 0; i + element <= bytes.size(); i += element)
        std::reverse(bytes.begin() + i, bytes.begin() + i + element);
}

inline const Value* dict_get(const Arena& arena, const Value& dict, std::string_view key) {
    const Value* found = nullptr;
    const auto& items = arena.at(dict).items;
    for (std::size_t i = 0; i < items.size(); i += 2)
        if (arena.is(items[i], ObjectKind::string) && arena.at(items[i]).text == key)
            found = &items[i + 1];
    return found;
}

// The state_dict inside the pickled root, as TensorFile records; `storage_bytes` gives a
// storage's bytes (little-endian or not, as `big_endian` says). Repeated names are all kept
// here; normalise_names() lets the last one win.
template <class StorageBytes>
TensorFile state_dict_records(const pickle::Result& result, const StorageBytes& storage_bytes,
                              bool big_endian, std::uint64_t budget, const std::string& path) {
    const Arena& arena = result.arena;
    Value dict = result.root;
    AGCNN_CHECK(arena.is(dict, ObjectKind::dict), path, ": the pickle holds a ",
                arena.describe(dict), ", not a state_dict (a dict of tensors)");
    // At most a few levels, so a dict that wraps itself (memo cycle) cannot loop.
    for (int depth = 0; depth < 4; ++depth) {
        const Value* inner = nullptr;
        for (const char* wrapper : {"state_dict", "model"}) {
            inner = dict_get(arena, dict, wrapper);
            if (inner && arena.is(*inner, ObjectKind::dict)) break;
            inner = nullptr;
        }
        if (!inner) break;
        dict = *inner;
    }
    TensorFile file;
    const auto& items = arena.at(dict).items;
    for (std::size_t i = 0; i < items.size(); i += 2) {
        AGCNN_CHECK(arena.is(items[i], ObjectKind::string), path, ": state_dict key is a ",
                    arena.describe(items[i]), ", not a str");
        const std::string& name = arena.at(items[i]).text;
        AGCNN_CHECK(arena.is(items[i + 1], ObjectKind::tensor), path, ": state_dict entry '", name,
                    "' is a ", arena.describe(items[i + 1]), ", not a tensor");
        const pickle::TensorView& view = arena.at(items[i + 1]).tensor;
        const pickle::StorageRef& storage = arena.objects.at(view.storage).storage;
        TensorRecord record{name, storage.dtype, Shape(view.size.begin(), view.size.end()),
                            materialise(view, storage, storage_bytes(storage), budget, name, path)};
        if (big_endian) swap_elements(record.bytes, dtype_size(record.dtype));
        file.tensors.push_back(std::move(record));
    }
    return file;
}

}  // namespace torch_detail

// torch.save's zip format.
inline TensorFile parse_torch_zip(std::string_view content, const std::string& path) {
    std::map<std::string, std::string_view> entries;
    std::string top;
    for (ZipEntry& e : parse_zip(content, path)) {
        const std::size_t slash = e.name.find('/');
        if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
            AGCNN_CHECK(top.empty(), path, ": the archive holds two data.pkl files");
            top = e.name.substr(0, slash + 1);
        }
        entries.emplace(std::move(e.name), e.data);
    }
    AGCNN_CHECK(!top.empty(), path, ": a zip archive, but not a PyTorch file (no */data.pkl)");
    bool big_endian = false;
    if (const auto order = entries.find(top + "byteorder"); order != entries.end()) {
        AGCNN_CHECK(order->second == "little" || order->second == "big", path,
                    ": byteorder is neither 'little' nor 'big'");
        big_endian = order->second == "big";
    }
    const auto load = [&](const pickle::Arena& arena, const pickle::Value& pid) {
        return torch_detail::storage_from_pid(arena, pid, 5, path);
    };
    const pickle::Result result = pickle::unpickle(entries.at(top + "data.pkl"), load, path);
    const auto storage_bytes = [&](const pickle::StorageRef& storage) {
        const auto it = entries.find(top + "data/" + storage.key);
        AGCNN_CHECK(it != entries.end(), path, ": storage '", storage.key,
                    "' is missing from the archive (", top, "data/", storage.key, ")");
        return it->second;
    };
    return torch_detail::state_dict_records(result, storage_bytes, big_endian,
                                            torch_detail::materialise_budget(content.size()), path);
}

// torch.save's legacy format: several pickles, then the storages' bytes.
inline TensorFile parse_torch_legacy(std::string_view content, const std::string& path) {
    using namespace torch_detail;
    const auto refuse = [&](const pickle::Arena&, const Value&) -> pickle::StorageRef {
        throw Error(path + ": bad legacy file: a storage outside the state_dict pickle");
    };
    std::size_t pos = 0;
    const auto next = [&](const pickle::PersistentLoad& load) {
        pickle::Result r = pickle::unpickle(content.substr(pos), load, path);
        pos += r.end;
        return r;
    };
    const pickle::Result magic = next(refuse);
    AGCNN_CHECK(magic.arena.is(magic.root, ObjectKind::big_integer) &&
                    magic.arena.at(magic.root).text == legacy_magic.substr(2),
                path, ": not a PyTorch legacy file (bad magic number)");
    const pickle::Result protocol = next(refuse);
    AGCNN_CHECK(
        protocol.root.kind == pickle::Kind::integer && protocol.root.integer == legacy_protocol,
        path, ": unsupported legacy protocol version (expected 1001)");
    next(refuse);  // sys_info: sizes of C types, not needed (storages are little-endian)
    std::map<std::string, pickle::StorageRef> storages;
    const auto load = [&](const pickle::Arena& arena, const Value& pid) {
        pickle::StorageRef s = storage_from_pid(arena, pid, 6, path);
        storages[s.key] = s;
        return s;
    };
    const pickle::Result state = next(load);
    const pickle::Result keys = next(refuse);
    AGCNN_CHECK(keys.arena.is(keys.root, ObjectKind::list), path,
                ": bad legacy file: storage key list is a ", keys.arena.describe(keys.root));
    std::map<std::string, std::string_view> data;
    for (const Value& key : keys.arena.at(keys.root).items) {
        AGCNN_CHECK(keys.arena.is(key, ObjectKind::string), path,
                    ": bad legacy file: a storage key is a ", keys.arena.describe(key));
        const std::string& name = keys.arena.at(key).text;
        const auto it = storages.find(name);
        AGCNN_CHECK(it != storages.end(), path, ": bad legacy file: unknown storage '", name, "'");
        AGCNN_CHECK(content.size() - pos >= 8, path, ": truncated: storage '", name,
                    "' is missing");
        std::int64_t numel;
        std::memcpy(&numel, content.data() + pos, 8);
        pos += 8;
        const std::uint64_t element = dtype_size(it->second.dtype);
        AGCNN_CHECK(numel == it->second.numel, path, ": storage '", name, "' holds ", numel,
                    " elements, the pickle says ", it->second.numel);
        AGCNN_CHECK(static_cast<std::uint64_t>(numel) <= (content.size() - pos) / element, path,
                    ": truncated: storage '", name, "' needs ", numel, " elements of ", element,
                    " bytes, ", content.size() - pos, " bytes left");
        data[name] = content.substr(pos, static_cast<std::size_t>(numel) * element);
        pos += static_cast<std::size_t>(numel) * element;
    }
    const auto storage_bytes = [&](const pickle::StorageRef& storage) {
        const auto it = data.find(storage.key);
        AGCNN_CHECK(it != data.end(), path, ": storage '", storage.key, "' has no data");
        return it->second;
    };
    return state_dict_records(state, storage_bytes, false, materialise_budget(content.size()),
                              path);
}

// Detects the format from the first bytes.
inline WeightFormat detect_format(std::string_view content, const std::string& path) {
    if (content.substr(0, 4) == std::string_view("PK\x03\x04", 4)) return WeightFormat::pytorch_zip;
    if (content.size() >= 2 + torch_detail::legacy_magic.size() &&
        static_cast<unsigned char>(content[0]) == 0x80 &&
        content.substr(2, torch_detail::legacy_magic.size()) == torch_detail::legacy_magic)
        return WeightFormat::pytorch_legacy;
    if (content.size() >= 9) {
        std::uint64_t header = 0;
        std::memcpy(&header, content.data(), 8);
        if (header <= content.size() - 8 && content[8] == '{') return WeightFormat::safetensors;
    }
    throw Error(path +
                ": not a supported weights file (expected a PyTorch .pth, zip or legacy "
                "format, or a safetensors file)");
}

// Strips DataParallel's `module.` prefix; a name that repeats keeps its last tensor.
inline void normalise_names(TensorFile& file) {
    std::vector<TensorRecord> kept;
    std::map<std::string, std::size_t> position;
    for (TensorRecord& record : file.tensors) {
        if (record.name.rfind("module.", 0) == 0) record.name.erase(0, 7);
        const auto [it, fresh] = position.emplace(record.name, kept.size());
        if (fresh)
            kept.push_back(std::move(record));
        else
            kept[it->second] = std::move(record);
    }
    file.tensors = std::move(kept);
}

inline TensorFile parse_weights(std::string_view content, const std::string& path,
                                WeightFormat format) {
    TensorFile file;
    switch (format) {
        case WeightFormat::pytorch_zip: file = parse_torch_zip(content, path); break;
        case WeightFormat::pytorch_legacy: file = parse_torch_legacy(content, path); break;
        case WeightFormat::safetensors: file = parse_safetensors(content, path); break;
    }
    normalise_names(file);
    return file;
}

inline TensorFile parse_weights(std::string_view content, const std::string& path) {
    return parse_weights(content, path, detect_format(content, path));
}

inline TensorFile read_weights(const std::string& path) {
    return parse_weights(read_file(path, kMaxWeightFileBytes), path);
}

}  // namespace agcnn::io
