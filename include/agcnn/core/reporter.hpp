// agcnn/core/reporter.hpp — how the library tells a person what it is doing. The library never
// prints: long work reports its steps, and notable events their one-line text, to a Reporter the
// caller supplies. The command line draws a progress bar from it (tools/agcnn/progress.hpp); an
// embedding program can log it or, with the default Reporter, ignore it.
//
// Contract: calls come from the thread that runs the work, in order; step() may come many times
// a second (a reporter throttles its own drawing); no call may throw.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace agcnn {

// Where long work stands: `done` of `total` units (batches, images) of `task`. A task that
// resumes half-way starts with done == first; `items` counts the images handled since this
// task started here (for a rate); `loss` is the last training loss, NaN when not training.
struct Step {
    std::string task;  // e.g. "[global] epoch 3/24", "packing images into DIR/pack-512"
    std::int64_t done = 0, total = 0, first = 0, items = 0;
    double loss = std::numeric_limits<double>::quiet_NaN();
};

class Reporter {
public:
    virtual ~Reporter() = default;
    // Progress of long work.
    virtual void step(const Step&) {}
    // An event worth a line of its own: a stage starts or resumes, an epoch's result.
    virtual void note(const std::string&) {}
    // Something the person should know before trusting the result.
    virtual void warning(const std::string&) {}
};

// The reporter of callers that gave none: it drops everything.
inline Reporter& silent_reporter() {
    static Reporter reporter;
    return reporter;
}

}  // namespace agcnn
