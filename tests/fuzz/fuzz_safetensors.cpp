// libFuzzer target: the safetensors reader (io/safetensors.hpp) on arbitrary bytes, and every
// tensor it returns widened to float32.
#include <cstddef>
#include <cstdint>

#include "agcnn/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto file = agcnn::io::parse_safetensors(
            std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
        for (const auto& t : file.tensors) t.to_float32("fuzz.safetensors");
    } catch (const agcnn::Error&) {
    }
    return 0;
}
