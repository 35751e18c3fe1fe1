// agcnn/ops/cpu/winograd_choice.hpp — which CPU algorithm computes a convolution.
//
// set_conv_algorithm(direct | winograd | auto), process-wide (the CLI's --conv; default auto):
//   direct:   im2col + GEMM for every convolution (ops/conv2d.hpp).
//   winograd: F(2x2, 3x3) (ops/cpu/winograd.hpp) for every 3x3 stride-1 convolution.
//   auto:     Winograd where the model below predicts it faster, pass by pass; direct elsewhere.
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

// Sets the algorithm for a scope, restoring the previous one at its end (tests, benchmarks).
class ConvAlgorithmScope {
public:
    explicit ConvAlgorithmScope(ConvAlgorithm a) : saved_(conv_algorithm()) { set_conv_algorithm(a); }
    ~ConvAlgorithmScope() { set_conv_algorithm(saved_); }
    ConvAlgorithmScope(const ConvAlgorithmScope&) = delete;
    ConvAlgorithmScope& operator=(const ConvAlgorithmScope&) = delete;

private:
    ConvAlgorithm saved_;
};

inline ConvAlgorithm parse_conv_algorithm(const std::string& name) {
    if (name == "direct") return ConvAlgorithm::direct;
    if (name == "winograd") return ConvAlgorithm::winograd;
    if (name == "auto") return ConvAlgorithm::automatic;
    throw Error("--conv: expected direct, winograd or auto, got '" + name + "'");
}

// The passes of a convolution; auto decides each on its own (all are exact, so any mix gives the
// same result up to rounding). inference: the forward pass of ops::conv2d_affine (eval mode,
// autograd off), whose filters are fixed and packed once (ops/cpu/packed_filters.hpp), so the
// filter transform is not counted; its choice does not depend on whether a pack is at hand, so
// packed and unpacked inference give the same bits.
enum class ConvPass { forward, input_gradient, weight_gradient, inference };

// The model behind auto, in multiply-add equivalents. Direct: 9 x pixels x C x O. Winograd:
// 16 x tiles x C x O in the products, plus the filter transform (16 x C x O values, each about
// as costly as kFilterCost multiply-adds: it runs at memory speed) and the data transforms
// (16 x tiles x (C + O) values, kDataCost each). The constants come from timing each ResNet-50
// 3x3 layer alone at batch 1, 2 and 8 (CPU time, one thread; docs/benchmarks.md, Winograd): the
// filter transform is what makes Winograd lose on 7x7 x 512 channels, and on 14x14 x 256 at
// batch 1; the weight gradient's inverse transform (G^T dU G) is cheaper than the forward's.
// Inference, its filters transformed once, takes Winograd there too (1.10x at batch 1, 1.06x
// at batch 8: docs/benchmarks.md change 35).
constexpr double kFilterCostForward = 100, kFilterCostWeightGradient = 50, kDataCost = 20;

inline bool winograd_predicted_faster(const ConvGeometry& g, ConvPass pass) {
    const double tiles = double(g.n) * double((g.oh + 1) / 2) * double((g.ow + 1) / 2);
    const double co = double(g.c) * double(g.o);
    const double direct = 9.0 * double(g.n * g.oh * g.ow) * co;
    const double filter = pass == ConvPass::inference         ? 0.0
                          : pass == ConvPass::weight_gradient ? kFilterCostWeightGradient
                                                              : kFilterCostForward;
    const double winograd = 16.0 * tiles * co + filter * 16.0 * co +
                            kDataCost * 16.0 * tiles * double(g.c + g.o);
    return winograd < direct;
}

inline bool use_winograd(const ConvGeometry& g, ConvPass pass) {
    if (!winograd_applies(g)) return false;
    switch (conv_algorithm()) {
        case ConvAlgorithm::direct: return false;
        case ConvAlgorithm::winograd: return true;
        case ConvAlgorithm::automatic: return winograd_predicted_faster(g, pass);
    }
    return false;
}

}  // namespace agcnn::cpu
