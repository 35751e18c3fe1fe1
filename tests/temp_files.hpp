// Helpers of the data and image tests: a fresh temporary folder, a file written as given, and the
// message of the Error a call throws.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agcnn/core/error.hpp"

namespace agcnn::testing {

// A fresh folder under the system temp dir ("agcnn-test-TAG-PID"), removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& tag) {
        path = std::filesystem::temp_directory_path() / ("agcnn-test-" + tag + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// The message of the Error thrown by f, or "" when none.
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace agcnn::testing
