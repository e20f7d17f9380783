// Optimizer updates in place: Adam, SGD and momentum, with tfjs's float32 steps.
#include "common.h"
#include "ops.h"

namespace advtrain {

// ---------------------------------------------------------------------------------------------
// Adam: one fused, in-place update per variable, with tfjs's AdamOptimizer's exact float32 steps
//   m = m*b1 + g*(1-b1);  v = v*b2 + (g*g)*(1-b2);
//   w = ((m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)) * (-lr) + w
// (same operations in the same order, no FMA contraction, true divisions), so the result equals
// tfjs's to the last bit. The caller guarantees that w, m and v are buffers no other tensor uses.

struct AdamConsts {
  float b1, omb1, b2, omb2, c1, c2, eps, nlr;
};

inline void adamScalar(float* w, const float* g, float* m, float* v, int64_t i0, int64_t i1, const AdamConsts& k) {
  for (int64_t i = i0; i < i1; ++i) {
    const float gi = g[i];
    const float mi = m[i] * k.b1 + gi * k.omb1;
    const float vi = v[i] * k.b2 + (gi * gi) * k.omb2;
    m[i] = mi;
    v[i] = vi;
    w[i] = ((mi / k.c1) / (std::sqrt(vi / k.c2) + k.eps)) * k.nlr + w[i];
  }
}

using AdamFn = void (*)(float*, const float*, float*, float*, int64_t, int64_t, const AdamConsts&);

// AVX without FMA on purpose: fused multiply-adds would round differently from tfjs.
__attribute__((target("avx"))) void adamAvx(float* w, const float* g, float* m, float* v, int64_t i0, int64_t i1, const AdamConsts& k) {
  const __m256 b1 = _mm256_set1_ps(k.b1), omb1 = _mm256_set1_ps(k.omb1), b2 = _mm256_set1_ps(k.b2), omb2 = _mm256_set1_ps(k.omb2);
  const __m256 c1 = _mm256_set1_ps(k.c1), c2 = _mm256_set1_ps(k.c2), eps = _mm256_set1_ps(k.eps), nlr = _mm256_set1_ps(k.nlr);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 gi = _mm256_loadu_ps(g + i);
    const __m256 mi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(m + i), b1), _mm256_mul_ps(gi, omb1));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(gi, gi), omb2));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vi, c2)), eps);
    const __m256 step = _mm256_mul_ps(_mm256_div_ps(_mm256_div_ps(mi, c1), den), nlr);
    _mm256_storeu_ps(w + i, _mm256_add_ps(step, _mm256_loadu_ps(w + i)));
  }
  adamScalar(w, g, m, v, i, i1, k);
}

void adamSse(float* w, const float* g, float* m, float* v, int64_t i0, int64_t i1, const AdamConsts& k) {
  const __m128 b1 = _mm_set1_ps(k.b1), omb1 = _mm_set1_ps(k.omb1), b2 = _mm_set1_ps(k.b2), omb2 = _mm_set1_ps(k.omb2);
  const __m128 c1 = _mm_set1_ps(k.c1), c2 = _mm_set1_ps(k.c2), eps = _mm_set1_ps(k.eps), nlr = _mm_set1_ps(k.nlr);
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) {
    const __m128 gi = _mm_loadu_ps(g + i);
    const __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), b1), _mm_mul_ps(gi, omb1));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), b2), _mm_mul_ps(_mm_mul_ps(gi, gi), omb2));
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    const __m128 den = _mm_add_ps(_mm_sqrt_ps(_mm_div_ps(vi, c2)), eps);
    const __m128 step = _mm_mul_ps(_mm_div_ps(_mm_div_ps(mi, c1), den), nlr);
    _mm_storeu_ps(w + i, _mm_add_ps(step, _mm_loadu_ps(w + i)));
  }
  adamScalar(w, g, m, v, i, i1, k);
}

AdamFn pickAdam() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx") ? adamAvx : adamSse;
}
const AdamFn adamRange = pickAdam();

// A Float64Array argument (its elements and count).
const double* f64Array(const Args& a, size_t k, size_t* count) {
  bool isTa = false;
  napi_is_typedarray(a.env, a.argv[k], &isTa);
  napi_typedarray_type type;
  void* data;
  napi_value ab;
  size_t byteOffset;
  if (!isTa || napi_get_typedarray_info(a.env, a.argv[k], &type, count, &data, &ab, &byteOffset) != napi_ok || type != napi_float64_array)
    throw JsError("advtrain native: argument " + std::to_string(k) + " must be a Float64Array");
  return static_cast<const double*>(data);
}

// adamUpdate(heap, desc, b1, 1-b1, b2, 1-b2, 1-b1^t, 1-b2^t, eps, -lr), desc: Float64Array of
// [w, g, m, v byte offsets, element count] per variable. Big variables are split over the threads;
// small ones go whole to one thread each.
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 10);
    size_t len = 0;
    const double* desc = f64Array(a, 1, &len);
    if (len % 5 != 0) throw JsError("advtrain native: adamUpdate's desc must hold 5 numbers per variable");
    const AdamConsts k{static_cast<float>(a.d(2)), static_cast<float>(a.d(3)), static_cast<float>(a.d(4)), static_cast<float>(a.d(5)),
                       static_cast<float>(a.d(6)), static_cast<float>(a.d(7)), static_cast<float>(a.d(8)), static_cast<float>(a.d(9))};
    struct Var {
      float *w, *m, *v;
      const float* g;
      int64_t n;
    };
    std::vector<Var> vars;
    int64_t total = 0;
    for (size_t j = 0; j < len; j += 5) {
      const int64_t n = static_cast<int64_t>(desc[j + 4]);
      Var x{a.at(desc[j], n), a.at(desc[j + 2], n), a.at(desc[j + 3], n), a.at(desc[j + 1], n), n};
      vars.push_back(x);
      total += n;
    }
    const int64_t SMALL = 16384;
    const int nt = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(total / SMALL) + 1));
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      int small = 0;
      for (const Var& x : vars) {
        if (x.n < SMALL) {
          if (small++ % T == t) adamRange(x.w, x.g, x.m, x.v, 0, x.n, k);
        } else {
          // 16-element-aligned ranges: whole vectors and cache lines per thread
          const int64_t i0 = (x.n * t / T) & ~int64_t(15), i1 = t + 1 == T ? x.n : (x.n * (t + 1) / T) & ~int64_t(15);
          adamRange(x.w, x.g, x.m, x.v, i0, i1, k);
        }
      }
    }
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// SGD and momentum, in place, with tfjs's float32 steps (c = -lr, mu = momentum):
//   SGD:       w = c*g + w
//   momentum:  a = mu*a + g;  w = c*a + w   (Nesterov: w = c*(g + a*mu) + w)

struct SgdConsts {
  float c, mu;
  bool momentum, nesterov;
};

inline void sgdScalar(float* w, const float* g, float* acc, int64_t i0, int64_t i1, const SgdConsts& k) {
  for (int64_t i = i0; i < i1; ++i) {
    if (!k.momentum) {
      w[i] = k.c * g[i] + w[i];
      continue;
    }
    const float a = k.mu * acc[i] + g[i];
    acc[i] = a;
    w[i] = (k.nesterov ? k.c * (g[i] + a * k.mu) : k.c * a) + w[i];
  }
}

__attribute__((target("avx"))) void sgdAvx(float* w, const float* g, float* acc, int64_t i0, int64_t i1, const SgdConsts& k) {
  const __m256 c = _mm256_set1_ps(k.c), mu = _mm256_set1_ps(k.mu);
  int64_t i = i0;
  if (!k.momentum) {
    for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(w + i, _mm256_add_ps(_mm256_mul_ps(c, _mm256_loadu_ps(g + i)), _mm256_loadu_ps(w + i)));
  } else {
    for (; i + 8 <= i1; i += 8) {
      const __m256 gi = _mm256_loadu_ps(g + i);
      const __m256 a = _mm256_add_ps(_mm256_mul_ps(mu, _mm256_loadu_ps(acc + i)), gi);
      _mm256_storeu_ps(acc + i, a);
      const __m256 step = k.nesterov ? _mm256_mul_ps(c, _mm256_add_ps(gi, _mm256_mul_ps(a, mu))) : _mm256_mul_ps(c, a);
      _mm256_storeu_ps(w + i, _mm256_add_ps(step, _mm256_loadu_ps(w + i)));
    }
  }
  sgdScalar(w, g, acc, i, i1, k);
}

// sgdUpdate(heap, desc, -lr, momentum, nesterov): desc holds [w, g, acc byte offsets, count] per
// variable; acc < 0 (plain SGD, then momentum is ignored) or the accumulation to update.
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    size_t len = 0;
    const double* desc = f64Array(a, 1, &len);
    if (len % 4 != 0) throw JsError("advtrain native: sgdUpdate's desc must hold 4 numbers per variable");
    const float c = static_cast<float>(a.d(2)), mu = static_cast<float>(a.d(3));
    const bool nesterov = a.d(4) != 0;
    struct Var {
      float *w, *acc;
      const float* g;
      int64_t n;
      SgdConsts k;
    };
    std::vector<Var> vars;
    int64_t total = 0;
    for (size_t j = 0; j < len; j += 4) {
      const int64_t n = static_cast<int64_t>(desc[j + 3]);
      const bool mom = desc[j + 2] >= 0;
      vars.push_back(Var{a.at(desc[j], n), mom ? a.at(desc[j + 2], n) : nullptr, a.at(desc[j + 1], n), n, SgdConsts{c, mu, mom, mom && nesterov}});
      total += n;
    }
    const auto run = haveAvx ? sgdAvx : [](float* w, const float* g, float* acc, int64_t i0, int64_t i1, const SgdConsts& k) { sgdScalar(w, g, acc, i0, i1, k); };
    const int64_t SMALL = 16384;
    const int nt = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(total / SMALL) + 1));
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      int small = 0;
      for (const Var& x : vars) {
        if (x.n < SMALL) {
          if (small++ % T == t) run(x.w, x.g, x.acc, 0, x.n, x.k);
        } else {
          const int64_t i0 = (x.n * t / T) & ~int64_t(15), i1 = t + 1 == T ? x.n : (x.n * (t + 1) / T) & ~int64_t(15);
          run(x.w, x.g, x.acc, i0, i1, x.k);
        }
      }
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
