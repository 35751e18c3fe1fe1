// kernels/math/gemm_math.hpp — ops::linear as column-major GEMMs for cuBLAS.
//
// cuBLAS is column-major; the engine's matrices are row-major. A row-major [r, s] matrix is the
// column-major [s, r] matrix with leading dimension s, i.e. its transpose. With x [N, In],
// w [Out, In], y [N, Out] (row-major):
//   y  = x w^T   is  y^T  = w x^T        -> C = y,  A = w  (op T), B = x  (op N)
//   dx = dy w    is  dx^T = w^T dy^T     -> C = dx, A = w  (op N), B = dy (op N)
//   dw = dy^T x  is  dw^T = x^T dy       -> C = dw, A = x  (op N), B = dy (op T)
// C = op(A) op(B), C is m x n, op(A) m x k, op(B) k x n (column-major).
#pragma once

#include <cstdint>

#include "kernels/math/hd.hpp"

namespace agcnn::cuda::math {

struct GemmCall {
    bool transpose_a, transpose_b;
    std::int64_t m, n, k, lda, ldb, ldc;
};

inline GemmCall linear_forward_gemm(std::int64_t n, std::int64_t in, std::int64_t out) {
    return {true, false, out, n, in, in, in, out};
}

inline GemmCall linear_dx_gemm(std::int64_t n, std::int64_t in, std::int64_t out) {
    return {false, false, in, n, out, in, out, in};
}

inline GemmCall linear_dw_gemm(std::int64_t n, std::int64_t in, std::int64_t out) {
    return {false, true, in, out, n, in, out, in};
}

}  // namespace agcnn::cuda::math

namespace agcnn::cuda::math {

// Column o of the bias gradient: db[o] = sum over rows of dy[r, o], in row order (as the CPU).
AGCNN_HD float column_sum(const float* dy, std::int64_t rows, std::int64_t cols, std::int64_t o) {
    float total = 0.0f;
    for (std::int64_t r = 0; r < rows; ++r) total += dy[r * cols + o];
    return total;
}

}  // namespace agcnn::cuda::math
