// tests/hostile_input.hpp — tools for the tests of hostile and careless input that would hang or
// exhaust memory if the code under test regressed. Each bounds itself by construction, not by a
// timer: a FIFO that always has a writer, and a child process under kernel resource limits.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

namespace agcnn::testing {

// In a forked child: the default action for the signals doctest reports as crashes, so a child
// killed by one dies quietly instead of printing a second test report.
inline void default_signal_handlers() {
    for (int signal : {SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGINT, SIGSEGV, SIGTERM}) std::signal(signal, SIG_DFL);
}

// A FIFO at `path` with a child process that opens it for writing, writes `text` and exits. A
// reader that wrongly accepts the FIFO therefore gets the text and end-of-file (its test fails)
// instead of blocking for ever. The destructor kills a writer still waiting for a reader (the
// code under test may have replaced the FIFO), reaps it and removes the path.
class FifoWithWriter {
public:
    FifoWithWriter(std::string path, const std::string& text) : path_(std::move(path)) {
        ::unlink(path_.c_str());
        if (::mkfifo(path_.c_str(), 0600) != 0) return;
        writer_ = ::fork();
        if (writer_ == 0) {  // the child: async-signal-safe calls only
            default_signal_handlers();
            const int fd = ::open(path_.c_str(), O_WRONLY);
            if (fd >= 0 && ::write(fd, text.data(), text.size()) >= 0) ::close(fd);
            ::_exit(0);
        }
    }
    FifoWithWriter(const FifoWithWriter&) = delete;
    FifoWithWriter& operator=(const FifoWithWriter&) = delete;
    ~FifoWithWriter() {
        if (writer_ > 0) {
            ::kill(writer_, SIGKILL);
            ::waitpid(writer_, nullptr, 0);
        }
        ::unlink(path_.c_str());
    }
    // True when the FIFO and its writer exist (a test REQUIREs it).
    bool ready() const { return writer_ > 0; }

private:
    std::string path_;
    pid_t writer_ = -1;
};

// Runs `check` in a child process allowed `cpu_seconds` of CPU time and `memory_bytes` of
// address space beyond what it starts with; the kernel kills it past either, so a loop or a
// runaway allocation ends. Returns true when `check` returned true; false when it returned
// false, threw, or was killed. The child shares nothing back but its exit status: `check`
// does its own comparisons (and may print why it failed to stderr).
inline bool in_bounded_child(const std::function<bool()>& check, int cpu_seconds,
                             std::uint64_t memory_bytes = 1ull << 30) {
    const pid_t child = ::fork();
    if (child == 0) {
        default_signal_handlers();
        std::uint64_t pages = 0;
        std::ifstream("/proc/self/statm") >> pages;  // current address space, in pages
        const rlimit memory{pages * ::sysconf(_SC_PAGESIZE) + memory_bytes,
                            pages * ::sysconf(_SC_PAGESIZE) + memory_bytes};
        const rlimit cpu{rlim_t(cpu_seconds), rlim_t(cpu_seconds)};
        ::setrlimit(RLIMIT_AS, &memory);
        ::setrlimit(RLIMIT_CPU, &cpu);
        bool passed = false;
        try {
            passed = check();
        } catch (...) {
        }
        ::_exit(passed ? 0 : 1);
    }
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace agcnn::testing
