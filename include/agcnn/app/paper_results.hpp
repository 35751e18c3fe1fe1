// agcnn/app/paper_results.hpp — the paper's own figures, shown beside a run's in the report.
//
// Guan et al., "Diagnose like a Radiologist: Attention Guided Convolutional Neural Network for
// Thorax Disease Classification", arXiv 1801.09927 (v1, 2018), Table I: test AUROC per disease of
// AG-CNN with a ResNet-50 backbone, per branch, on the paper's random patient-wise 70/10/20 split
// of ChestX-ray14 (not the official split, and not our synthetic data). KNOWN ANOMALY: the
// per-disease values were transcribed without the PDF at hand and have not yet been compared with
// it entry by entry; the only check is that each branch's 14 values average to the paper's stated
// means 0.841 / 0.817 / 0.868 within 0.001 (tests/test_clinical.cpp), which catches a badly
// mistyped entry but not two swapped diseases. Compare with the PDF before quoting them.
#pragma once

#include <array>

#include "agcnn/model/agcnn_model.hpp"
#include "agcnn/model/labels.hpp"

namespace agcnn::app {

inline constexpr const char* kPaperSplit = "random patient-wise 70/10/20 split of ChestX-ray14";
inline constexpr const char* kPaperSource = "Guan et al. 2018, arXiv 1801.09927, Table I (ResNet-50)";

// [branch][disease], branches in model::kBranches order (global, local, fusion).
inline constexpr std::array<std::array<double, model::kDiseaseCount>, 3> kPaperAuroc = {{
    {0.818, 0.904, 0.881, 0.728, 0.863, 0.780, 0.783, 0.897, 0.807, 0.892, 0.918, 0.815, 0.765, 0.914},
    {0.798, 0.881, 0.862, 0.707, 0.854, 0.802, 0.715, 0.871, 0.791, 0.866, 0.910, 0.796, 0.745, 0.843},
    {0.844, 0.937, 0.904, 0.753, 0.893, 0.827, 0.776, 0.919, 0.842, 0.919, 0.941, 0.857, 0.836, 0.903},
}};
// The means the paper states (abstract and Table I).
inline constexpr std::array<double, 3> kPaperMeanAuroc = {0.841, 0.817, 0.868};

}  // namespace agcnn::app
