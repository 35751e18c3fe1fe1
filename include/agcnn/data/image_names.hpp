// agcnn/data/image_names.hpp — which file names are images agcnn reads (data/image_file.hpp):
// .png, .jpg, .jpeg and .dcm, in any case. Label CSVs, list files and image folders use it.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace agcnn::data {

namespace detail {
inline bool ends_with_nocase(const std::string& name, std::string_view lower_suffix) {
    if (name.size() <= lower_suffix.size()) return false;
    return std::equal(lower_suffix.begin(), lower_suffix.end(), name.end() - std::ptrdiff_t(lower_suffix.size()),
                      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}
}  // namespace detail

// Whether a file name (no folder part) names an image agcnn reads.
inline bool is_image_name(const std::string& name) {
    return name.find('/') == std::string::npos &&
           (detail::ends_with_nocase(name, ".png") || detail::ends_with_nocase(name, ".jpg") ||
            detail::ends_with_nocase(name, ".jpeg") || detail::ends_with_nocase(name, ".dcm"));
}

}  // namespace agcnn::data
