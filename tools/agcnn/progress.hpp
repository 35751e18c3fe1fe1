// The command line's Reporter (core/reporter.hpp): a progress bar on stderr with the task, units
// done, the last loss, images/s and the task's ETA. On a terminal it redraws one line (at most 5
// times a second); when stderr is a file it writes a line every 30 s. Notes get a line of their
// own, warnings a "WARNING:" line. Quiet: warnings only. progress_line_open() says when stderr
// holds a progress line without its newline (here, or synth's and pack's counters), so that an
// error ends it first (end_progress_line()) instead of running into it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "agcnn/core/reporter.hpp"

namespace agcnn::cli {

inline bool& progress_line_open() {
    static bool open = false;
    return open;
}

inline void end_progress_line() {
    if (progress_line_open()) std::fputc('\n', stderr);
    progress_line_open() = false;
}

// "\rLABEL: done/total images", its newline at the end.
inline void count_progress(const char* label, std::size_t done, std::size_t total) {
    std::fprintf(stderr, "\r%s: %zu/%zu images", label, done, total);
    progress_line_open() = true;
    if (done == total) end_progress_line();
}

class ProgressBar final : public Reporter {
public:
    explicit ProgressBar(bool quiet) : quiet_(quiet), tty_(::isatty(2) != 0) {}

    void step(const Step& s) override {
        if (quiet_) return;
        const auto now = Clock::now();
        if (s.task != task_) task_ = s.task, start_ = last_ = now;  // first line after a rate exists
        if (s.done < s.total && seconds(last_, now) < (tty_ ? 0.2 : 30.0)) return;
        last_ = now;
        const double elapsed = seconds(start_, now);
        const double rate = elapsed > 0 ? double(s.items) / elapsed : 0;
        const std::int64_t done_here = s.done - s.first;
        const double eta = done_here > 0 ? elapsed / double(done_here) * double(s.total - s.done) : 0.0;
        std::string loss;
        if (!std::isnan(s.loss)) {
            char text[32];
            std::snprintf(text, sizeof text, " loss %.4f", s.loss);
            loss = text;
        }
        std::fprintf(stderr, "%s%s: %lld/%lld%s %.1f img/s ETA %s%s", tty_ ? "\r\033[K" : "", s.task.c_str(),
                     static_cast<long long>(s.done), static_cast<long long>(s.total), loss.c_str(), rate,
                     clock_text(eta).c_str(), tty_ && s.done < s.total ? "" : "\n");
        progress_line_open() = tty_ && s.done < s.total;
        std::fflush(stderr);
    }

    void note(const std::string& text) override {
        if (quiet_) return;
        std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", text.c_str());
        progress_line_open() = false;
    }

    void warning(const std::string& text) override {
        end_progress_line();
        std::fprintf(stderr, "%sagcnn: WARNING: %s\n", tty_ ? "\r\033[K" : "", text.c_str());
    }

    static std::string clock_text(double s) {
        const long total = static_cast<long>(s + 0.5);
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%02ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
        return buffer;
    }

private:
    using Clock = std::chrono::steady_clock;
    static double seconds(Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    }
    bool quiet_, tty_;
    std::string task_;
    Clock::time_point start_, last_;
};

}  // namespace agcnn::cli
