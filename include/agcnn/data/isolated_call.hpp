// agcnn/data/isolated_call.hpp — run a decoder that may crash in a child process, so that a
// hostile file costs an error line instead of the whole process.
//
// GDCM 3.0.21 as Debian builds it keeps its assert()s and, on some malformed codestreams, reads
// out of bounds (tests/fuzz/fuzz_dicom.cpp finds such files; docs/dicom.md). agcnn's own checks
// (dicom_structure.hpp) stop most before GDCM sees them; this stops the rest: the work runs in a
// fork()ed child, which sends back its answer (bytes) or its error through a pipe and exits; a
// child killed by a signal becomes an Error naming the file. The child only decodes (no threads,
// no files written) and leaves with _exit, so nothing of the parent's runs twice.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

#include "agcnn/core/error.hpp"

namespace agcnn::data {

// Runs `work` (returning bytes, or throwing) in a child process and returns its bytes; rethrows
// its error as an Error with the same message; a crash is an Error "`what`: `decoder` crashed
// on this file (signal N)". An answer longer than `max_answer` bytes kills the child.
template <class Work>
std::string isolated_call(const std::string& what, const char* decoder, std::uint64_t max_answer, Work&& work) {
    int pipe_fds[2];
    AGCNN_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0, what, ": cannot create a pipe: ", std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int error = errno;
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        throw Error(what + ": cannot start a process to decode it: " + std::strerror(error));
    }
    if (pid == 0) {  // the child: answer "O" + bytes or "E" + message, then leave without cleanup
        ::close(pipe_fds[0]);
        std::string answer;
        try {
            answer = "O" + work();
        } catch (const std::exception& e) {
            answer = std::string("E") + e.what();
        } catch (...) {
            answer = "E" + what + ": unknown error while decoding";
        }
        for (std::size_t done = 0; done < answer.size();) {
            const ssize_t n = ::write(pipe_fds[1], answer.data() + done, answer.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) ::_exit(1);
            done += std::size_t(n);
        }
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string answer;
    char buffer[1 << 16];
    bool too_long = false;
    while (true) {
        const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        answer.append(buffer, std::size_t(n));
        if (answer.size() > max_answer + 1) {
            too_long = true;
            ::kill(pid, SIGKILL);
            break;
        }
    }
    ::close(pipe_fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    AGCNN_CHECK(!too_long, what, ": ", decoder, " answered more than ", max_answer, " bytes");
    AGCNN_CHECK(!WIFSIGNALED(status), what, ": ", decoder, " crashed on this file (signal ", WTERMSIG(status),
                "); it is not a readable image");
    AGCNN_CHECK(!answer.empty() && (answer[0] == 'O' || answer[0] == 'E'), what, ": ", decoder,
                " ended without an answer (exit status ", WIFEXITED(status) ? WEXITSTATUS(status) : -1, ")");
    if (answer[0] == 'E') throw Error(answer.substr(1));
    return answer.substr(1);
}

}  // namespace agcnn::data
