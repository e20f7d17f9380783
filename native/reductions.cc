// Reductions: column sums (bias gradients), sums over trailing axes, Max over adjacent axes and its
// gradient.
#include "common.h"
#include "ops.h"
#include "kernels.h"

#include <vector>

namespace advtrain {

// ---------------------------------------------------------------------------------------------
// Column sums: out[c] = sum over rows r of x[r, c] — the bias gradient (tfjs's Sum over every axis
// but the last). Threads sum row ranges into double partials, then the partials are added.

// Adds rows [r0, r1) of x into acc: float sums over blocks of 64 rows, 64 columns at a time, kept in
// registers (the portable loop below adds every row into acc in memory, 6 GB/s on the 6.4 MB bias
// gradient of madry-cnn's first layer), then added to the double partials.
__attribute__((target("avx512f"))) void sumRowsAvx512(const float* x, int64_t r0, int64_t r1, int64_t cols, double* acc) {
  for (int64_t c0 = 0; c0 < cols; c0 += 64) {
    const int64_t n = std::min<int64_t>(64, cols - c0);
    const int nq = static_cast<int>((n + 15) / 16);
    __mmask16 m[4];
    for (int q = 0; q < 4; ++q) {
      const int64_t left = n - 16 * q;
      m[q] = left >= 16 ? 0xffff : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
    }
    for (int64_t b = r0; b < r1; b += 64) {
      __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      const int64_t e = std::min(b + 64, r1);
      for (int64_t r = b; r < e; ++r) {
        const float* row = x + r * cols + c0;
        for (int q = 0; q < nq; ++q) s[q] = _mm512_add_ps(s[q], _mm512_maskz_loadu_ps(m[q], row + 16 * q));
      }
      alignas(64) float f[64];
      for (int q = 0; q < 4; ++q) _mm512_store_ps(f + 16 * q, s[q]);
      for (int64_t c = 0; c < n; ++c) acc[c0 + c] += f[c];
    }
  }
}

void sumRowsPortable(const float* x, int64_t r0, int64_t r1, int64_t cols, double* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) acc[c] += row[c];
  }
}

// One thread below threadsFor's size (a bias gradient of a small layer: waking the pool took longer
// than the sum), else up to one per 64 rows.
void sumRowsRun(const float* x, int64_t rows, int64_t cols, float* out) {
  const int nt = std::max(1, std::min<int>(threadsFor(rows * cols), static_cast<int>(rows / 64) + 1));
  std::vector<double> part(static_cast<size_t>(nt) * cols, 0.0);
  const bool avx512 = hasAvx512();
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t r0 = rows * t / T, r1 = rows * (t + 1) / T;
    double* acc = part.data() + static_cast<size_t>(t) * cols;
    (avx512 ? sumRowsAvx512 : sumRowsPortable)(x, r0, r1, cols, acc);
  }
  for (int64_t c = 0; c < cols; ++c) {
    double s = 0;
    for (int t = 0; t < nt; ++t) s += part[static_cast<size_t>(t) * cols + c];
    out[c] = static_cast<float>(s);
  }
}

// sumRows(heap, x, out, rows, cols)
napi_value SumRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    const int64_t rows = a.i(3), cols = a.i(4);
    if (rows <= 0 || cols <= 0) throw JsError("advtrain native: bad sumRows shape");
    const float* x = a.f32(1, rows * cols);
    float* out = a.f32(2, cols);
    sumRowsRun(x, rows, cols, out);
    return undefinedValue(env);
  });
}

// Sums over the trailing axes: out[o] = sum of x[o, 0 .. r) — a whole tensor's sum (outer = 1, an
// attack bench's gradient read back: tfjs's wasm Sum took 12% of an MLP's input-gradient step) or
// per-example sums over every axis but the batch (the squared norms of L2 attacks). Float partials
// over blocks of 1024 (vectorized), added in double. Threads over rows when large.
double sumSegment(const float* x, int64_t n) {
  double total = 0;
  for (int64_t b = 0; b < n; b += 1024) {
    const int64_t e = std::min<int64_t>(n, b + 1024);
    float part = 0;
#pragma omp simd reduction(+ : part)
    for (int64_t k = b; k < e; ++k) part += x[k];
    total += part;
  }
  return total;
}

// sumTrailing(heap, x, out, outer, r)
napi_value SumTrailing(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    const int64_t outer = a.i(3), r = a.i(4);
    if (outer <= 0 || r <= 0) throw JsError("advtrain native: bad sumTrailing shape");
    const float* x = a.f32(1, outer * r);
    float* out = a.f32(2, outer);
    const int nt = static_cast<int>(std::min<int64_t>(threadsFor(outer * r), outer));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; ++o) out[o] = static_cast<float>(sumSegment(x + o * r, r));
    return undefinedValue(env);
  });
}

// Max over one run of adjacent axes, x viewed as [outer, r, inner] (tfjs's Max; the global max
// pooling of text models reduces the middle axis, which tfjs's wasm kernel first transposes):
// y[o, i] = max over k of x[o, k, i], NaN if any element is NaN (as tfjs's cpu kernel).

// Threads for `rows` rows of `perRow` floats each: threadsFor's measured threshold, at most one per row.
int rowThreads(int64_t rows, int64_t perRow) {
  return static_cast<int>(std::min<int64_t>(threadsFor(rows * perRow), rows));
}

// reduceMax(heap, x, y, outer, r, inner)
napi_value ReduceMax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    const int64_t outer = a.i(3), r = a.i(4), inner = a.i(5);
    if (outer <= 0 || r <= 0 || inner <= 0) throw JsError("advtrain native: bad reduceMax shape");
    const float* x = a.f32(1, outer * r * inner);
    float* y = a.f32(2, outer * inner);
    const int nt = rowThreads(outer, r * inner);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* xo = x + o * r * inner;
      float* yo = y + o * inner;
      std::memcpy(yo, xo, static_cast<size_t>(inner) * 4);
      for (int64_t k = 1; k < r; ++k) {
        const float* xk = xo + k * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
          const float v = xk[i], m = yo[i];
          yo[i] = (v > m || v != v) ? v : m;
        }
      }
    }
    return undefinedValue(env);
  });
}

// maxGrad(heap, dy, x, y, dx, outer, r, inner): dx[o, k, i] = dy[o, i] * (x[o, k, i] == y[o, i]),
// tfjs's gradient of Max (every element equal to the maximum gets the gradient) in one pass.
napi_value MaxGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8);
    const int64_t outer = a.i(5), r = a.i(6), inner = a.i(7);
    if (outer <= 0 || r <= 0 || inner <= 0) throw JsError("advtrain native: bad maxGrad shape");
    const float* dy = a.f32(1, outer * inner);
    const float* x = a.f32(2, outer * r * inner);
    const float* y = a.f32(3, outer * inner);
    float* dx = a.f32(4, outer * r * inner);
    const int nt = rowThreads(outer, r * inner);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* yo = y + o * inner;
      const float* go = dy + o * inner;
      for (int64_t k = 0; k < r; ++k) {
        const float* xk = x + (o * r + k) * inner;
        float* dk = dx + (o * r + k) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) dk[i] = go[i] * (xk[i] == yo[i] ? 1.0f : 0.0f);
      }
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
