// tests/gradcheck.hpp — finite-difference gradient checks in double precision, and comparison
// helpers with stated tolerances.
//
// An op under test is given as two lambdas over std::vector<double> buffers:
//   forward(inputs) -> output
//   backward(inputs, dy) -> one gradient per input (empty vector: not differentiable)
// check_gradients() forms L = dot(forward(inputs), r) for a random r, and compares every
// analytic dL/dx_i with the central difference (L(x + h e_i) - L(x - h e_i)) / 2h.
// In double with h = 1e-6 the central difference is accurate to about 1e-9 relative for smooth
// functions, so the tolerance 1e-6 below catches any real error (a wrong index, a missing term)
// while leaving room for the kinks of relu and max, which the inputs keep away from.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "agcnn/core/rng.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn::test {

using Vec = std::vector<double>;
using Forward = std::function<Vec(const std::vector<Vec>&)>;
using Backward = std::function<std::vector<Vec>(const std::vector<Vec>&, const Vec&)>;

inline Vec random_vec(std::size_t n, Rng& rng, double scale = 1.0) {
    Vec v(n);
    for (auto& x : v) x = rng.normal(0.0, scale);
    return v;
}

inline double dot(const Vec& a, const Vec& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// ||a - b|| / max(||b||, tiny): the relative error of a whole tensor.
inline double relative_error(const Vec& a, const Vec& b) {
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-300);
}

inline Vec to_double(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }
inline Vec to_double(const Tensor& t) { return to_double(t.to_vector()); }
inline std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

// Checks every element of every differentiable input. Returns the worst relative error.
inline double check_gradients(const std::string& what, const std::vector<Vec>& inputs,
                              const Forward& forward, const Backward& backward,
                              double tolerance = 1e-6, double h = 1e-6) {
    Rng rng(1234);
    const Vec out = forward(inputs);
    const Vec r = random_vec(out.size(), rng);
    const std::vector<Vec> analytic = backward(inputs, r);
    REQUIRE(analytic.size() == inputs.size());
    double worst = 0;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        if (analytic[k].empty()) continue;
        REQUIRE(analytic[k].size() == inputs[k].size());
        Vec numeric(inputs[k].size());
        std::vector<Vec> probe = inputs;
        for (std::size_t i = 0; i < inputs[k].size(); ++i) {
            probe[k][i] = inputs[k][i] + h;
            const double plus = dot(forward(probe), r);
            probe[k][i] = inputs[k][i] - h;
            const double minus = dot(forward(probe), r);
            probe[k][i] = inputs[k][i];
            numeric[i] = (plus - minus) / (2 * h);
        }
        const double err = relative_error(analytic[k], numeric);
        INFO(what << ": input " << k << " gradient relative error " << err << " (tolerance "
                  << tolerance << ")");
        CHECK(err < tolerance);
        worst = std::max(worst, err);
    }
    return worst;
}

// Compares a float32 result with a double reference: relative error of the whole tensor.
inline void check_close(const std::string& what, const Vec& actual, const Vec& expected,
                        double tolerance) {
    REQUIRE(actual.size() == expected.size());
    const double err = relative_error(actual, expected);
    INFO(what << ": relative error " << err << " (tolerance " << tolerance << ")");
    CHECK(err < tolerance);
}

inline Tensor tensor_from(const Shape& shape, const Vec& values) {
    return Tensor::from_vector(shape, to_float(values));
}

}  // namespace agcnn::test
