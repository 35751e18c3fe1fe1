// libFuzzer target: the whole reader of agcnn-convert (io/torch_file.hpp): format detection, then
// zip + pickle + storages, the legacy stream, or safetensors, then float32 conversion.
#include <cstddef>
#include <cstdint>

#include "agcnn/io/torch_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto file = agcnn::io::parse_weights(
            std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.pth");
        for (const auto& t : file.tensors) t.to_float32("fuzz.pth");
    } catch (const agcnn::Error&) {
    }
    return 0;
}
