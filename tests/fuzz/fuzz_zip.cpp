// libFuzzer target: the zip reader (io/zip_reader.hpp) on arbitrary bytes. Every entry it returns
// is read in full, so a view outside the buffer shows up under AddressSanitizer.
#include <cstddef>
#include <cstdint>

#include "agcnn/io/zip_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        unsigned sum = 0;
        for (const auto& entry : agcnn::io::parse_zip(
                 std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.zip"))
            for (char c : entry.data) sum += static_cast<unsigned char>(c);
        volatile unsigned sink = sum;
        (void)sink;
    } catch (const agcnn::Error&) {
    }
    return 0;
}
