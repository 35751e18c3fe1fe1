// agcnn/core/error.hpp — the one exception type of the engine, and the check macro.
//
// Every failure a person can cause (bad file, wrong shape, bad flag) is an agcnn::Error with a
// message written for that person. The command line turns it into one line on stderr and a
// non-zero exit code. Internal contract violations use the same type, so nothing aborts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace agcnn {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
// Builds a message from any streamable pieces: concat("shape ", a, " vs ", b).
template <class... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}
}  // namespace detail

// Throws agcnn::Error with the message when the condition is false.
#define AGCNN_CHECK(condition, ...)                                              \
    do {                                                                         \
        if (!(condition)) throw ::agcnn::Error(::agcnn::detail::concat(__VA_ARGS__)); \
    } while (0)

}  // namespace agcnn
