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
#include "kernels.h"

#include <vector>

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

// A row's exp(z − max) into e (float) and their sum (double) into *sum; returns the row's
// log-sum-exp, max + log Σ (a NaN anywhere in the row makes it NaN). expf, not exp: double exp
// made the 64 × 10 logits of an MLP step take 13 µs each way, longer than the rest of the call.
inline double expRow(const float* z, int64_t k, float* e, double* sum) {
  float mx = z[0];
  for (int64_t j = 1; j < k; ++j) mx = z[j] > mx ? z[j] : mx;
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += (e[j] = std::exp(z[j] - mx));
  *sum = s;
  return mx + std::log(s);
}

// Scratch for one row's exps: on the stack up to 1024 classes.
struct RowBuf {
  float small[1024];
  std::vector<float> big;
  explicit RowBuf(int64_t k) {
    if (k > 1024) big.resize(static_cast<size_t>(k));
  }
  float* data() { return big.empty() ? small : big.data(); }
};

double rowLoss(const Problem& p, int64_t r, float* e) {
  const float* z = p.z + r * p.classes;
  double s;
  const double lse = expRow(z, p.classes, e, &s);
  if (p.sparse) {
    const int32_t c = p.sparse[r];
    return c >= 0 && c < p.classes ? lse - z[c] : 0.0;
  }
  const float* y = p.dense + r * p.classes;
  double l = 0;
  for (int64_t j = 0; j < p.classes; ++j) l -= y[j] * (z[j] - lse);
  return l;
}

// dz[r, :] = g · (softmax(z[r, :]) − y[r, :]), the softmax as exp(z − max) / Σ.
void rowGrad(const Problem& p, int64_t r, double g, float* dz, float* e) {
  const float* z = p.z + r * p.classes;
  float* d = dz + r * p.classes;
  if (p.sparse && !(p.sparse[r] >= 0 && p.sparse[r] < p.classes)) {
    std::fill(d, d + p.classes, 0.0f);
    return;
  }
  double s;
  expRow(z, p.classes, e, &s);
  const double gs = g / s;
  if (p.sparse) {
    for (int64_t j = 0; j < p.classes; ++j) d[j] = static_cast<float>(gs * e[j]);
    d[p.sparse[r]] = static_cast<float>(gs * e[p.sparse[r]] - g);
  } else {
    const float* y = p.dense + r * p.classes;
    for (int64_t j = 0; j < p.classes; ++j) d[j] = static_cast<float>(gs * e[j] - g * y[j]);
  }
}

// body(r, e) for every row, e a row of scratch; threads over rows only for large problems (an MLP
// step's 64 × 10 logits take a few microseconds; even a serial OpenMP region costs as much).
template <typename F>
void overRows(const Problem& p, F&& body) {
  const int nt = threadsFor(p.rows * p.classes);
  if (nt == 1) {
    RowBuf e(p.classes);
    for (int64_t r = 0; r < p.rows; ++r) body(r, e.data());
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    RowBuf e(p.classes);
#pragma omp for
    for (int64_t r = 0; r < p.rows; ++r) body(r, e.data());
  }
}

}  // namespace

void crossEntropyRowsRun(const float* z, const int32_t* labels, int64_t rows, int64_t classes, float* loss, float* dz) {
  Problem p{};
  p.z = z;
  p.sparse = labels;
  p.rows = rows;
  p.classes = classes;
  overRows(p, [&](int64_t r, float* e) {
    loss[r] = static_cast<float>(rowLoss(p, r, e));
    rowGrad(p, r, 1.0, dz, e);
  });
}

// softmaxCrossEntropy(heap, logits, labels, out, rows, classes, sparse, reduction)
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8);
    const Problem p = problemOf(a, 1, 2, 4, 5, 6);
    const int64_t reduction = a.i(7);
    if (reduction < 0 || reduction > 2) throw JsError("advtrain native: softmax cross-entropy reduction must be 0, 1 or 2");
    float* out = a.f32(3, reduction == 0 ? p.rows : 1);
    if (reduction == 0) {
      overRows(p, [&](int64_t r, float* e) { out[r] = static_cast<float>(rowLoss(p, r, e)); });
    } else {
      RowBuf e(p.classes);
      double s = 0;
      for (int64_t r = 0; r < p.rows; ++r) s += rowLoss(p, r, e.data());
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
    overRows(p, [&](int64_t r, float* e) { rowGrad(p, r, (reduction == 0 ? dy[r] : dy[0]) * scale, dz, e); });
    return undefinedValue(env);
  });
}

}  // namespace advtrain
