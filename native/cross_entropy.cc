// Softmax cross-entropy of logits [rows, classes] against labels, forward and gradient, each in one
// call. tfjs composes it from ~17 kernels forward (max, subtract, exp, sum, log, add, subtract,
// multiply, negate, sum, the reduction) and as many backward; after the dense stack made an MLP's
// step 2 native calls, those ~34 crossings from JS were the bulk of the step.
//
// labels: int32 class indices [rows] (sparse = 1; one outside [0, classes) gives loss 0 and
// gradient 0, as the one-hot composition does) or float32 distributions [rows, classes] (sparse = 0:
// loss -Σ y·log softmax, gradient softmax − y, as tfjs's softmaxCrossEntropy). Each row's
// log-sum-exp is taken around its largest logit, in double. reduction: 0 a loss per row, 1 their
// sum, 2 their mean (a scalar).
#include "common.h"
#include "ops.h"

namespace advtrain {
namespace {

struct Problem {
  const float* z;
  const int32_t* sparse;  // class indices, or null
  const float* dense;     // label distributions, or null
  int64_t rows, classes;
};

Problem problemOf(const Args& a, size_t logits, size_t labels, size_t rowsArg, size_t classesArg, size_t sparseArg) {
  Problem p{};
  p.rows = a.i(rowsArg);
  p.classes = a.i(classesArg);
  if (p.rows <= 0 || p.classes <= 0) throw JsError("advtrain native: bad softmax cross-entropy shape");
  p.z = a.f32(logits, p.rows * p.classes);
  if (a.i(sparseArg) != 0) p.sparse = reinterpret_cast<const int32_t*>(a.f32(labels, p.rows));
  else p.dense = a.f32(labels, p.rows * p.classes);
  return p;
}

// Row r's largest logit and log Σ exp(z - max) (NaN anywhere in the row makes both sums NaN).
inline void logSumExp(const float* z, int64_t k, double* m, double* lse) {
  float mx = z[0];
  for (int64_t j = 1; j < k; ++j) mx = z[j] > mx ? z[j] : mx;
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += std::exp(static_cast<double>(z[j]) - mx);
  *m = mx;
  *lse = mx + std::log(s);
}

double rowLoss(const Problem& p, int64_t r) {
  const float* z = p.z + r * p.classes;
  double m, lse;
  logSumExp(z, p.classes, &m, &lse);
  if (p.sparse) {
    const int32_t c = p.sparse[r];
    return c >= 0 && c < p.classes ? lse - z[c] : 0.0;
  }
  const float* y = p.dense + r * p.classes;
  double l = 0;
  for (int64_t j = 0; j < p.classes; ++j) l -= y[j] * (z[j] - lse);
  return l;
}

// dz[r, :] = g · (softmax(z[r, :]) − y[r, :]).
void rowGrad(const Problem& p, int64_t r, double g, float* dz) {
  const float* z = p.z + r * p.classes;
  float* d = dz + r * p.classes;
  if (p.sparse && !(p.sparse[r] >= 0 && p.sparse[r] < p.classes)) {
    std::fill(d, d + p.classes, 0.0f);
    return;
  }
  double m, lse;
  logSumExp(z, p.classes, &m, &lse);
  for (int64_t j = 0; j < p.classes; ++j) {
    const double y = p.sparse ? (j == p.sparse[r] ? 1.0 : 0.0) : p.dense[r * p.classes + j];
    d[j] = static_cast<float>(g * (std::exp(z[j] - lse) - y));
  }
}

// Threads over rows only for large problems (an MLP's 64 × 10 logits take well under a microsecond).
int rowThreads(const Problem& p) { return threadsFor(p.rows * p.classes); }

}  // namespace

// softmaxCrossEntropy(heap, logits, labels, out, rows, classes, sparse, reduction)
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8);
    const Problem p = problemOf(a, 1, 2, 4, 5, 6);
    const int64_t reduction = a.i(7);
    if (reduction < 0 || reduction > 2) throw JsError("advtrain native: softmax cross-entropy reduction must be 0, 1 or 2");
    float* out = a.f32(3, reduction == 0 ? p.rows : 1);
    if (reduction == 0) {
#pragma omp parallel for num_threads(rowThreads(p)) if (rowThreads(p) > 1)
      for (int64_t r = 0; r < p.rows; ++r) out[r] = static_cast<float>(rowLoss(p, r));
    } else {
      double s = 0;
      for (int64_t r = 0; r < p.rows; ++r) s += rowLoss(p, r);
      out[0] = static_cast<float>(reduction == 2 ? s / static_cast<double>(p.rows) : s);
    }
    return undefinedValue(env);
  });
}

// softmaxCrossEntropyGrad(heap, logits, labels, dy, dz, rows, classes, sparse, reduction): the
// logits' gradient dz = dy · (softmax − y) per row; dy is [rows] (reduction 0) or a scalar (1: sum,
// 2: mean, which also divides by rows).
napi_value SoftmaxCrossEntropyGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9);
    const Problem p = problemOf(a, 1, 2, 5, 6, 7);
    const int64_t reduction = a.i(8);
    if (reduction < 0 || reduction > 2) throw JsError("advtrain native: softmax cross-entropy reduction must be 0, 1 or 2");
    const float* dy = a.f32(3, reduction == 0 ? p.rows : 1);
    float* dz = a.f32(4, p.rows * p.classes);
    const double scale = reduction == 2 ? 1.0 / static_cast<double>(p.rows) : 1.0;
#pragma omp parallel for num_threads(rowThreads(p)) if (rowThreads(p) > 1)
    for (int64_t r = 0; r < p.rows; ++r) rowGrad(p, r, (reduction == 0 ? dy[r] : dy[0]) * scale, dz);
    return undefinedValue(env);
  });
}

}  // namespace advtrain
