// libFuzzer target: the pickle machine (io/pickle_reader.hpp) as torch_file.hpp drives it for a
// zip-format data.pkl, then the state_dict extraction and the materialisation of every tensor
// view, against storages of the size each persistent id claims (up to 4096 elements).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "agcnn/io/torch_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace agcnn::io;
    const std::string path = "fuzz.pkl";
    std::map<std::string, std::string> storages;
    try {
        const auto load = [&](const pickle::Arena& arena, const pickle::Value& pid) {
            pickle::StorageRef s = torch_detail::storage_from_pid(arena, pid, 5, path);
            if (s.numel <= 4096)
                storages[s.key] =
                    std::string(static_cast<std::size_t>(s.numel) * dtype_size(s.dtype), '\x3c');
            return s;
        };
        const pickle::Result result = pickle::unpickle(
            std::string_view(reinterpret_cast<const char*>(data), size), load, path);
        const auto bytes = [&](const pickle::StorageRef& s) -> std::string_view {
            const auto it = storages.find(s.key);
            return it == storages.end() ? std::string_view() : std::string_view(it->second);
        };
        torch_detail::state_dict_records(result, bytes, size % 2 == 1,
                                         torch_detail::materialise_budget(size), path);
    } catch (const agcnn::Error&) {
    }
    return 0;
}
