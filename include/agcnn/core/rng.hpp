// agcnn/core/rng.hpp — the engine's random number generator, with a state a checkpoint can hold.
//
// xoshiro256** (Blackman and Vigna), seeded through splitmix64. Its whole state is four 64-bit
// words, so a training checkpoint stores it and a resumed run draws the same numbers. Normal
// draws use Box-Muller without caching the second value, so the state alone fixes the stream.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "agcnn/core/error.hpp"

namespace agcnn {

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

    void reseed(std::uint64_t seed) {
        for (auto& word : state_) {
            seed += 0x9E3779B97F4A7C15ull;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            word = z ^ (z >> 31);
        }
    }

    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform in [0, 1), 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    double uniform(double low, double high) { return low + (high - low) * uniform(); }
    // Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) {
        AGCNN_CHECK(n > 0, "Rng::below(0)");
        return next_u64() % n;  // bias below 2^-40 for the sizes used here
    }
    double normal(double mean = 0.0, double stddev = 1.0) {
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

    // "w0 w1 w2 w3" in hex, for checkpoints.
    std::string state_string() const {
        std::string out;
        char buffer[20];
        for (std::size_t i = 0; i < 4; ++i) {
            std::snprintf(buffer, sizeof buffer, "%016llx",
                          static_cast<unsigned long long>(state_[i]));
            if (i) out += ' ';
            out += buffer;
        }
        return out;
    }
    void set_state_string(const std::string& text) {
        unsigned long long w[4];
        AGCNN_CHECK(std::sscanf(text.c_str(), "%llx %llx %llx %llx", &w[0], &w[1], &w[2], &w[3]) == 4,
                    "bad RNG state '", text, "'");
        for (std::size_t i = 0; i < 4; ++i) state_[i] = w[i];
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::array<std::uint64_t, 4> state_{};
};

}  // namespace agcnn
