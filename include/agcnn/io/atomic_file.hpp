// agcnn/io/atomic_file.hpp — write a file so that a crash leaves the old or the new one.
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
#include <utility>
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

// A file written piece by piece that appears at its path only on commit():
//   AtomicFileWriter out(path); out.write(...); ...; out.commit();
// Until commit the bytes are in "<path>.tmp-<pid>"; commit fsyncs, renames over <path> and
// fsyncs the folder. Destroyed without commit (an error on the way), it removes the temporary
// file and leaves <path> as it was.
class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::string path)
        : path_(std::move(path)), temp_(path_ + ".tmp-" + std::to_string(::getpid())) {
        fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        AGCNN_CHECK(fd_ >= 0, path_, ": cannot create ", temp_, ": ", detail::errno_text());
    }
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
    ~AtomicFileWriter() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(temp_.c_str());
    }

    void write(const void* data, std::size_t size) { detail::write_all(fd_, data, size, path_); }

    void commit() {
        AGCNN_CHECK(::fsync(fd_) == 0, path_, ": fsync failed: ", detail::errno_text());
        const int fd = fd_;
        fd_ = -1;
        AGCNN_CHECK(::close(fd) == 0, path_, ": close failed: ", detail::errno_text());
        if (::rename(temp_.c_str(), path_.c_str()) != 0)
            throw Error(path_ + ": cannot rename the temporary file into place: " +
                        detail::errno_text());
        committed_ = true;
        namespace fs = std::filesystem;
        const fs::path target(path_);
        const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
        const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            ::fsync(dir);
            ::close(dir);
        }
    }

private:
    std::string path_, temp_;
    int fd_ = -1;
    bool committed_ = false;
};

// Writes the concatenation of `parts` to `path` atomically.
inline void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts) {
    AtomicFileWriter out(path);
    for (std::string_view part : parts) out.write(part.data(), part.size());
    out.commit();
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
