// agcnn/io/npy.hpp — NumPy .npy files (format versions 1, 2 and 3), C order.
//
// read_npy returns float32 values and the shape; '<f4' is read as is, and '<f8', '<f2', '<i8',
// '<i4', '|u1', '|i1' and '|b1' are converted. Fortran order, big-endian data, object arrays and
// truncated files are refused with an error naming the file. write_npy writes '<f4', version 1,
// atomically.
#pragma once

#include <cstdint>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "agcnn/core/tensor.hpp"
#include "agcnn/io/atomic_file.hpp"
#include "agcnn/io/dtype.hpp"

namespace agcnn::io {

struct NpyArray {
    Shape shape;
    std::vector<float> values;
    std::string descr;  // NumPy's dtype string as stored, e.g. '<f4'
};

inline NpyArray parse_npy(std::string_view content, const std::string& path) {
    AGCNN_CHECK(content.size() >= 10 && content.substr(0, 6) == "\x93NUMPY", path,
                ": not a .npy file (bad magic)");
    const int major = static_cast<unsigned char>(content[6]);
    AGCNN_CHECK(major >= 1 && major <= 3, path, ": unsupported .npy version ", major);
    std::size_t header_len = 0, header_start = 0;
    if (major == 1) {
        header_len = static_cast<unsigned char>(content[8]) |
                     (std::size_t(static_cast<unsigned char>(content[9])) << 8);
        header_start = 10;
    } else {
        AGCNN_CHECK(content.size() >= 12, path, ": truncated .npy header");
        std::uint32_t len;
        std::memcpy(&len, content.data() + 8, 4);
        header_len = len;
        header_start = 12;
    }
    AGCNN_CHECK(header_start + header_len <= content.size(), path, ": truncated .npy header");
    const std::string header(content.substr(header_start, header_len));
    std::smatch m;
    AGCNN_CHECK(std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")), path,
                ": .npy header has no descr");
    const std::string descr = m[1];
    AGCNN_CHECK(std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")),
                path, ": .npy header has no fortran_order");
    AGCNN_CHECK(m[1] == "False", path, ": Fortran-order arrays are not supported; save with "
                                       "numpy.ascontiguousarray");
    AGCNN_CHECK(std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")), path,
                ": .npy header has no shape");
    NpyArray array;
    array.descr = descr;
    const std::string dims = m[1];
    const std::regex number(R"(\d+)");
    std::sregex_iterator it(dims.begin(), dims.end(), number), end;
    for (; it != end; ++it) {
        const std::string digits = it->str();
        AGCNN_CHECK(digits.size() < 12, path, ": .npy dimension too large");
        array.shape.push_back(std::stoll(digits));
    }
    std::string dtype;
    if (descr == "<f4") dtype = "F32";
    else if (descr == "<f8") dtype = "F64";
    else if (descr == "<f2") dtype = "F16";
    else if (descr == "<i8") dtype = "I64";
    else if (descr == "<i4" || descr == "|u1" || descr == "|i1" || descr == "|b1") dtype = descr;
    else throw Error(path + ": unsupported .npy dtype '" + descr + "' (expected float32)");
    const std::size_t data_start = header_start + header_len;
    const std::size_t element = descr == "<i4" ? 4 : (descr[0] == '|' ? 1 : dtype_size(dtype));
    std::uint64_t count = 1;
    for (std::int64_t d : array.shape) {
        AGCNN_CHECK(d == 0 || count <= content.size() / static_cast<std::uint64_t>(d), path,
                    ": .npy shape larger than the file");
        count *= static_cast<std::uint64_t>(d);
    }
    AGCNN_CHECK(content.size() - data_start == count * element, path, ": .npy data has ",
                content.size() - data_start, " bytes, shape ", shape_str(array.shape), " of ",
                descr, " needs ", count * element, " (truncated file?)");
    const auto* bytes = reinterpret_cast<const unsigned char*>(content.data() + data_start);
    if (element == 1 || descr == "<i4") {
        array.values.resize(count);
        for (std::size_t i = 0; i < count; ++i) {
            if (descr == "<i4") {
                std::int32_t v;
                std::memcpy(&v, bytes + 4 * i, 4);
                array.values[i] = static_cast<float>(v);
            } else if (descr == "|i1") {
                array.values[i] = static_cast<float>(static_cast<std::int8_t>(bytes[i]));
            } else {
                array.values[i] = static_cast<float>(bytes[i]);
            }
        }
    } else {
        array.values = to_float32(dtype, bytes, count, path);
    }
    return array;
}

// The largest .npy read: an input batch of 64 float32 images at 1024 x 1024 x 3 is 768 MiB.
constexpr std::uint64_t kMaxNpyFileBytes = 4ull << 30;

inline NpyArray read_npy(const std::string& path) { return parse_npy(read_file(path, kMaxNpyFileBytes), path); }

// Reads a .npy file that must hold float32 ('<f4'); any other dtype is an error naming it.
inline NpyArray read_npy_float32(const std::string& path) {
    NpyArray array = read_npy(path);
    AGCNN_CHECK(array.descr == "<f4", path, ": expected float32 ('<f4') data, got '", array.descr,
                "'");
    return array;
}

inline void write_npy(const std::string& path, const Shape& shape, const float* values) {
    std::string dims;
    for (std::size_t i = 0; i < shape.size(); ++i)
        dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
    header.push_back('\n');
    std::string preamble = "\x93NUMPY";
    preamble.push_back('\x01');
    preamble.push_back('\x00');
    preamble.push_back(static_cast<char>(header.size() & 0xFF));
    preamble.push_back(static_cast<char>(header.size() >> 8));
    const std::string_view data(reinterpret_cast<const char*>(values),
                                static_cast<std::size_t>(shape_numel(shape)) * 4);
    write_file_atomic(path, {preamble, header, data});
}

}  // namespace agcnn::io
