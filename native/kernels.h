// Kernels one op family calls from another (no N-API around them): the dense stack runs the same
// matmul primitives and bias-gradient sums as the single kernels, so its results match theirs.
#pragma once

#include <cstdint>

namespace advtrain {

// matmul.cc: C[b] = op(A[b]) · op(B[b]) (+ bias[N]) (relu), as matMul (same primitives, same threads).
void matMulRun(const float* A, const float* B, const float* bias, float* C, int64_t Ba, int64_t Bb, int64_t M, int64_t K, int64_t N, bool tA, bool tB, bool relu);

// matmul.cc: a serial matmul primitive for one thread's rows of a product that the caller splits
// over its own parallel region (the dense stack): looked up (created at the first call) before the
// region, one per slot (each holds its data handles and its own scratchpad), then run from inside
// it on the calling thread's own stream. A is [M, K] (or [K, M] with tA), B [K, N] (or [N, K]).
struct MatMulEntry;
MatMulEntry* serialMatMul(int64_t M, int64_t K, int64_t N, bool tA, bool tB, bool hasBias, bool relu, int slot);
void serialMatMulRun(MatMulEntry* e, const float* A, const float* B, const float* bias, float* C);

// elementwise.cc: dx = dy * step(x), tfjs's ReLU gradient, as reluGrad (dx may be dy).
void reluGradRun(const float* dy, const float* x, float* dx, int64_t n);

// cross_entropy.cc: per row, the softmax cross-entropy of z [rows, classes] against class
// indices (loss [rows]) and the gradient of their sum, softmax − one-hot (dz), as the kernels
// softmaxCrossEntropy (reduction 0) and its gradient with dy = 1 compute them.
void crossEntropyRowsRun(const float* z, const int32_t* labels, int64_t rows, int64_t classes, float* loss, float* dz);

// reductions.cc: out[c] = sum over rows of x[r, c], as sumRows.
void sumRowsRun(const float* x, int64_t rows, int64_t cols, float* out);

}  // namespace advtrain
