// agcnn/io/atomic_file.hpp — write a file so that a crash leaves the old or the new one; read one
// that is a regular file of bounded size.
//
// Writing: the bytes go to "<path>.tmp-<pid>" in the same folder, which is fsynced, renamed over
// <path>, and the folder is fsynced so the rename itself survives a power cut. On any error the
// temporary file is removed and the old <path> is untouched. A process killed mid-write (kill -9,
// power cut) leaves its "<path>.tmp-<pid>" behind; remove_stale_temporaries() clears a folder of
// those whose process is gone.
// Reading: regular files only (never a FIFO or a device), and no more bytes than the caller's
// limit for its kind of file.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <filesystem>
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

// Removes the files "<name>.tmp-<pid>" in `folder` that a killed atomic write left: those of a
// process that no longer exists, and this process's own (none can be in progress while the
// caller cleans). Files of a live process are another writer's work and stay. With `name`, only
// that file's temporaries ("<name>.tmp-<pid>"), for folders shared with other programs. Returns
// the names removed.
inline std::vector<std::string> remove_stale_temporaries(const std::string& folder, const std::string& only = "") {
    std::vector<std::string> removed;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
        const std::string name = entry.path().filename().string();
        const auto at = name.rfind(".tmp-");
        if (at == std::string::npos || at + 5 == name.size() || !entry.is_regular_file(error)) continue;
        if (!only.empty() && name.compare(0, at, only) != 0) continue;
        const std::string digits = name.substr(at + 5);
        if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = static_cast<pid_t>(std::stol(digits));
        const bool dead = pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH);
        if ((dead || pid == ::getpid()) && std::filesystem::remove(entry.path(), error)) removed.push_back(name);
    }
    return removed;
}

// "512 MiB", "1.5 GiB", "700 bytes": a byte count for a person.
inline std::string byte_size_text(std::uint64_t bytes) {
    if (bytes < 1024) return std::to_string(bytes) + " bytes";
    const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = double(bytes) / 1024;
    int unit = 0;
    for (; value >= 1024 && unit < 5; ++unit) value /= 1024;
    char text[32];
    std::snprintf(text, sizeof text, value == std::floor(value) ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

// A regular file opened for reading. Anything else at the path (a FIFO, a device such as
// /dev/zero, a socket, a folder, or a symlink to one) is refused with "PATH: not a regular file
// (...)" before a byte is read: the open does not block on a FIFO without a writer, and reading
// a device could go on forever. The descriptor is closed on destruction.
class RegularFile {
public:
    explicit RegularFile(const std::string& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        AGCNN_CHECK(fd_ >= 0, path, ": cannot open: ", detail::errno_text());
        struct stat st{};
        if (::fstat(fd_, &st) != 0) {
            const std::string error = detail::errno_text();
            ::close(fd_);
            throw Error(path + ": cannot stat: " + error);
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd_);
            const char* kind = S_ISDIR(st.st_mode)                           ? "a folder"
                               : S_ISFIFO(st.st_mode)                        ? "a FIFO"
                               : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                             : "a socket or other special file";
            throw Error(path + ": not a regular file (" + kind + ")");
        }
        size_ = static_cast<std::uint64_t>(st.st_size);
    }
    RegularFile(const RegularFile&) = delete;
    RegularFile& operator=(const RegularFile&) = delete;
    ~RegularFile() { ::close(fd_); }

    int fd() const { return fd_; }
    // The size when opened.
    std::uint64_t size() const { return size_; }

    // Up to `count` bytes from the current position; fewer only at the end of the file.
    std::string read(std::size_t count) {
        std::string bytes(count, '\0');
        std::size_t done = 0;
        while (done < count) {
            const ssize_t got = ::read(fd_, bytes.data() + done, count - done);
            if (got < 0 && errno == EINTR) continue;
            AGCNN_CHECK(got >= 0, path_, ": read error: ", detail::errno_text());
            if (got == 0) break;
            done += static_cast<std::size_t>(got);
        }
        bytes.resize(done);
        return bytes;
    }

private:
    std::string path_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

// What read_file() accepts unless its caller knows better: small metadata files.
constexpr std::uint64_t kDefaultReadLimit = 64ull << 20;

// Reads a whole regular file of at most `limit` bytes (each reader passes what fits its kind of
// file). Errors name the file: not a regular file (RegularFile), or larger than the limit. A file
// that grows while it is read is cut at the size it had when opened.
inline std::string read_file(const std::string& path, std::uint64_t limit = kDefaultReadLimit) {
    RegularFile file(path);
    AGCNN_CHECK(file.size() <= limit, path, ": ", byte_size_text(file.size()), " is larger than the ",
                byte_size_text(limit), " this kind of file may have");
    return file.read(static_cast<std::size_t>(file.size()));
}

}  // namespace agcnn::io
