// agcnn/ops/eigen_maps.hpp — row-major Eigen views over raw buffers, for the GEMMs of the CPU ops.
#pragma once

#include <cstdint>

#include "agcnn/core/threads.hpp"  // before Eigen: it keeps Eigen's products single-threaded

#include <Eigen/Core>

namespace agcnn::cpu {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MatrixMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned>;

template <class T>
MatrixMap<T> matrix(T* data, std::int64_t rows, std::int64_t cols) {
    return MatrixMap<T>(data, rows, cols);
}
template <class T>
ConstMatrixMap<T> matrix(const T* data, std::int64_t rows, std::int64_t cols) {
    return ConstMatrixMap<T>(data, rows, cols);
}

}  // namespace agcnn::cpu
