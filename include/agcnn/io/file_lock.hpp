// agcnn/io/file_lock.hpp — an exclusive lock on a folder's work, held through a lock file, that a
// crash cannot leave stuck.
//
// FileLock(path, holder) opens (creating) `path` and takes flock(LOCK_EX | LOCK_NB) on it. The
// kernel drops the lock when the process ends in any way (kill -9 and power cuts included), so a
// stale lock file blocks nothing: the next FileLock simply takes it. The holder's description
// (PID and command) is written into the file, so a process that finds the lock taken can say who
// holds it. The file is left in place on release (removing it would race with a second process
// that opened it already).
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "agcnn/io/atomic_file.hpp"

namespace agcnn::io {

class FileLock {
public:
    // Throws "<what>: <path> is locked by <holder text>" when another process holds the lock.
    FileLock(const std::string& path, const std::string& holder, const std::string& what) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        AGCNN_CHECK(fd_ >= 0, path, ": cannot open the lock file: ", detail::errno_text());
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int error = errno;
            std::string other = "another process";
            char text[512];
            const ssize_t got = ::pread(fd_, text, sizeof text - 1, 0);
            if (got > 0) other.assign(text, static_cast<std::size_t>(got));
            while (!other.empty() && (other.back() == '\n' || other.back() == '\0')) other.pop_back();
            ::close(fd_);
            fd_ = -1;
            if (error == EWOULDBLOCK)
                throw Error(what + " is in use: " + path + " is locked by " + other +
                            " (wait for it to finish or stop it; a crashed process holds no lock)");
            throw Error(path + ": cannot lock: " + std::strerror(error));
        }
        const std::string text = holder + "\n";
        if (::ftruncate(fd_, 0) == 0) detail::write_all(fd_, text.data(), text.size(), path);
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    ~FileLock() {
        if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
    }

private:
    std::string path_;
    int fd_ = -1;
};

}  // namespace agcnn::io
