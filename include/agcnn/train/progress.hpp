// agcnn/train/progress.hpp — the progress bar on stderr: stage, epoch, batch, loss, images/s
// and ETA of the epoch. On a terminal it redraws one line (at most 5 times a second); when
// stderr is a file it writes a line every 30 s. Quiet: nothing.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace agcnn::train {

class Progress {
public:
    explicit Progress(bool quiet) : quiet_(quiet), tty_(::isatty(2) != 0) {}

    void start(const std::string& stage, int epoch, int epochs, std::int64_t batches,
               std::int64_t first_batch) {
        stage_ = stage, epoch_ = epoch, epochs_ = epochs, batches_ = batches;
        first_batch_ = first_batch, images_ = 0;
        start_ = last_ = Clock::now();
    }

    void update(std::int64_t batch_done, std::int64_t images, double loss) {
        images_ += images;
        if (quiet_) return;
        const auto now = Clock::now();
        const double since_last = seconds(last_, now);
        if (batch_done < batches_ && since_last < (tty_ ? 0.2 : 30.0)) return;
        last_ = now;
        const double elapsed = seconds(start_, now);
        const double rate = elapsed > 0 ? images_ / elapsed : 0;
        const std::int64_t done_here = batch_done - first_batch_;
        const double eta =
            done_here > 0 ? elapsed / done_here * double(batches_ - batch_done) : 0.0;
        std::fprintf(stderr, "%s[%s] epoch %d/%d batch %lld/%lld loss %.4f %.1f img/s ETA %s%s",
                     tty_ ? "\r\033[K" : "", stage_.c_str(), epoch_ + 1, epochs_,
                     static_cast<long long>(batch_done), static_cast<long long>(batches_), loss,
                     rate, clock_text(eta).c_str(), tty_ ? "" : "\n");
        std::fflush(stderr);
    }

    // Ends the bar's line; prints `text` on its own line.
    void line(const std::string& text) {
        if (quiet_) return;
        std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", text.c_str());
    }

    static std::string clock_text(double s) {
        const long total = static_cast<long>(s + 0.5);
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%02ld:%02ld:%02ld", total / 3600, total / 60 % 60,
                      total % 60);
        return buffer;
    }

private:
    using Clock = std::chrono::steady_clock;
    static double seconds(Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    }
    bool quiet_, tty_;
    std::string stage_;
    int epoch_ = 0, epochs_ = 0;
    std::int64_t batches_ = 0, first_batch_ = 0, images_ = 0;
    Clock::time_point start_, last_;
};

}  // namespace agcnn::train
