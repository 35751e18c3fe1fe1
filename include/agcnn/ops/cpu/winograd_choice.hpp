// agcnn/ops/cpu/winograd_choice.hpp — which CPU algorithm computes a convolution.
//
// set_conv_algorithm(direct | winograd | auto), process-wide (the CLI's --conv; default auto):
//   direct:   im2col + GEMM for every convolution (ops/conv2d.hpp).
//   winograd: F(2x2, 3x3) (ops/cpu/winograd.hpp) for every 3x3 stride-1 convolution.
//   auto:     Winograd where the model below predicts it faster, direct elsewhere.
// The choice is a fixed function of the shape, never a timing taken at run time: a timed choice
// could differ between two runs and so change results that must repeat bit for bit.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "agcnn/core/error.hpp"
#include "agcnn/core/geometry.hpp"
#include "agcnn/ops/cpu/winograd.hpp"

namespace agcnn::cpu {

enum class ConvAlgorithm { direct, winograd, automatic };

inline std::atomic<ConvAlgorithm>& conv_algorithm_setting() {
    static std::atomic<ConvAlgorithm> setting{ConvAlgorithm::automatic};
    return setting;
}
inline void set_conv_algorithm(ConvAlgorithm a) { conv_algorithm_setting() = a; }
inline ConvAlgorithm conv_algorithm() { return conv_algorithm_setting(); }

inline ConvAlgorithm parse_conv_algorithm(const std::string& name) {
    if (name == "direct") return ConvAlgorithm::direct;
    if (name == "winograd") return ConvAlgorithm::winograd;
    if (name == "auto") return ConvAlgorithm::automatic;
    throw Error("--conv: expected direct, winograd or auto, got '" + name + "'");
}

// The model behind auto. Winograd does 16/36 of the multiply-adds but moves V and M (4x the
// input and output) through memory, so it wins where the products are deep enough to run near
// the kernels' peak: both channel counts at least 64 (ResNet-50's 3x3 stride-1 convolutions all
// are). Below that the transforms' memory traffic and the shallow products (k = C) eat the gain.
// Measured per layer by `agcnn bench --convs` (docs/benchmarks.md, Winograd section).
inline bool winograd_predicted_faster(const ConvGeometry& g) {
    return g.c >= 64 && g.o >= 64;
}

inline bool use_winograd(const ConvGeometry& g) {
    if (!winograd_applies(g)) return false;
    switch (conv_algorithm()) {
        case ConvAlgorithm::direct: return false;
        case ConvAlgorithm::winograd: return true;
        case ConvAlgorithm::automatic: return winograd_predicted_faster(g);
    }
    return false;
}

}  // namespace agcnn::cpu
