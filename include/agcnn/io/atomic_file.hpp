// agcnn/io/atomic_file.hpp — write a whole file so that a crash leaves the old or the new one.
//
// The bytes go to "<path>.tmp-<pid>" in the same folder, which is fsynced, renamed over <path>,
// and the folder is fsynced so the rename itself survives a power cut. On any error the
// temporary file is removed and the old <path> is untouched.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/core/error.hpp"

namespace agcnn::io {

namespace detail {
inline std::string errno_text() { return std::strerror(errno); }

inline void write_all(int fd, const void* data, std::size_t size, const std::string& path) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t written = ::write(fd, p, size);
        if (written < 0) {
            if (errno == EINTR) continue;
            throw Error(path + ": write failed: " + errno_text());
        }
        p += written;
        size -= static_cast<std::size_t>(written);
    }
}
}  // namespace detail

// Writes the concatenation of `parts` to `path` atomically.
inline void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::string temp = path + ".tmp-" + std::to_string(::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    AGCNN_CHECK(fd >= 0, path, ": cannot create ", temp, ": ", detail::errno_text());
    try {
        for (std::string_view part : parts) detail::write_all(fd, part.data(), part.size(), path);
        AGCNN_CHECK(::fsync(fd) == 0, path, ": fsync failed: ", detail::errno_text());
        AGCNN_CHECK(::close(fd) == 0, path, ": close failed: ", detail::errno_text());
    } catch (...) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string why = detail::errno_text();
        ::unlink(temp.c_str());
        throw Error(path + ": cannot rename the temporary file into place: " + why);
    }
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
}

inline void write_file_atomic(const std::string& path, std::string_view content) {
    write_file_atomic(path, std::vector<std::string_view>{content});
}

// Reads a whole file; the error names the file.
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    AGCNN_CHECK(in.good(), path, ": cannot open: ", std::strerror(errno));
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    AGCNN_CHECK(!in.bad(), path, ": read error");
    return content;
}

}  // namespace agcnn::io
