// Element-wise kernels of a training step: ReLU, its gradient, bias addition.
#include "common.h"
#include "ops.h"
#include "kernels.h"

namespace advtrain {

// ---------------------------------------------------------------------------------------------
// Element-wise kernels of a training step that tfjs runs single-threaded in wasm: ReLU, its
// gradient, and bias (broadcast) addition. Each gives exactly what tfjs's cpu kernels give (same
// float32 operation; NaN and -0 pass through ReLU as in tfjs). Small tensors run on one thread:
// waking the others costs more than they save.
// relu: tfjs's cpu kernel is Math.max(0, x): +0 for -0 and for negatives, NaN stays NaN.
inline float reluOf(float x) { return x > 0.f || std::isnan(x) ? x : 0.f; }
__attribute__((target("avx"))) void reluAvx(const float* x, float* y, int64_t i0, int64_t i1) {
  const __m256 z = _mm256_setzero_ps();
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 keep = _mm256_or_ps(_mm256_cmp_ps(xv, z, _CMP_GT_OQ), _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
    _mm256_storeu_ps(y + i, _mm256_and_ps(xv, keep));
  }
  for (; i < i1; ++i) y[i] = reluOf(x[i]);
}
void reluPortable(const float* x, float* y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) y[i] = reluOf(x[i]);
}

// reluGrad: dx = dy * step(x), step(x) = x > 0 ? 1 : 0 (NaN for NaN) — tfjs's mul(dy, cast(step(x))).
inline float stepOf(float x) { return std::isnan(x) ? x : x > 0.f ? 1.f : 0.f; }
__attribute__((target("avx"))) void reluGradAvx(const float* dy, const float* x, float* dx, int64_t i0, int64_t i1) {
  const __m256 z = _mm256_setzero_ps(), one = _mm256_set1_ps(1.f);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    __m256 st = _mm256_and_ps(_mm256_cmp_ps(xv, z, _CMP_GT_OQ), one);
    st = _mm256_blendv_ps(st, xv, _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), st));
  }
  for (; i < i1; ++i) dx[i] = dy[i] * stepOf(x[i]);
}
void reluGradPortable(const float* dy, const float* x, float* dx, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * stepOf(x[i]);
}

void reluGradRun(const float* dy, const float* x, float* dx, int64_t n) {
  parallelRanges(n, [&](int64_t i0, int64_t i1) { haveAvx ? reluGradAvx(dy, x, dx, i0, i1) : reluGradPortable(dy, x, dx, i0, i1); });
}

// relu(heap, x, y, n)
napi_value Relu(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4);
    const int64_t n = a.i(3);
    if (n <= 0) throw JsError("advtrain native: bad relu size");
    const float* x = a.f32(1, n);
    float* y = a.f32(2, n);
    parallelRanges(n, [&](int64_t i0, int64_t i1) { haveAvx ? reluAvx(x, y, i0, i1) : reluPortable(x, y, i0, i1); });
    return undefinedValue(env);
  });
}

// reluGrad(heap, dy, x, dx, n)
napi_value ReluGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    const int64_t n = a.i(4);
    if (n <= 0) throw JsError("advtrain native: bad reluGrad size");
    const float* dy = a.f32(1, n);
    const float* x = a.f32(2, n);
    float* dx = a.f32(3, n);
    reluGradRun(dy, x, dx, n);
    return undefinedValue(env);
  });
}

// addBias(heap, x, b, y, rows, cols): y[r, c] = x[r, c] + b[c] (b has cols elements; rows = 1 is a
// plain element-wise sum of equal shapes).
__attribute__((target("avx"))) void addRowAvx(const float* x, const float* b, float* y, int64_t c0, int64_t c1) {
  int64_t c = c0;
  for (; c + 8 <= c1; c += 8) _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(b + c)));
  for (; c < c1; ++c) y[c] = x[c] + b[c];
}
void addRowPortable(const float* x, const float* b, float* y, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) y[c] = x[c] + b[c];
}

napi_value AddBias(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    const int64_t rows = a.i(4), cols = a.i(5);
    if (rows <= 0 || cols <= 0) throw JsError("advtrain native: bad addBias shape");
    const float* x = a.f32(1, rows * cols);
    const float* b = a.f32(2, cols);
    float* y = a.f32(3, rows * cols);
    const auto row = haveAvx ? addRowAvx : addRowPortable;
    if (rows == 1) {
      parallelRanges(cols, [&](int64_t c0, int64_t c1) { row(x, b, y, c0, c1); });
    } else {
      const int nt = threadsFor(rows * cols);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
      for (int64_t r = 0; r < rows; ++r) row(x + r * cols, b, y + r * cols, 0, cols);
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
