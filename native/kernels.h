// Kernels one op family calls from another (no N-API around them): the dense stack runs the same
// matmul primitives and bias-gradient sums as the single kernels, so its results match theirs.
#pragma once

#include <cstdint>

namespace advtrain {

// matmul.cc: C[b] = op(A[b]) · op(B[b]) (+ bias[N]) (relu), as matMul (same primitives, same threads).
void matMulRun(const float* A, const float* B, const float* bias, float* C, int64_t Ba, int64_t Bb, int64_t M, int64_t K, int64_t N, bool tA, bool tB, bool relu);

// reductions.cc: out[c] = sum over rows of x[r, c], as sumRows.
void sumRowsRun(const float* x, int64_t rows, int64_t cols, float* out);

}  // namespace advtrain
