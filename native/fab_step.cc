// FAB's host-side step (src/attacks/fab-step.ts, which holds the same algorithm in JS): per row,
// the closest linearised boundary, the minimal-norm projections of the current point and of the
// original onto it inside the domain box (selection, no sort: box-hyperplane.ts), and their convex
// combination. Plain float64 arithmetic in the JS version's order, rows split over the threads.
// Arguments are JS typed arrays, not the wasm heap: FAB reads its gradients to the host anyway.

#include "common.h"

#include <vector>

namespace advtrain {
namespace {

enum NormCode { kLinf = 0, kL2 = 1, kL1 = 2 };

struct Scratch {
  std::vector<double> a, dir, room, key;
  std::vector<int32_t> idx, ties;
  explicit Scratch(int64_t d) : a(d), dir(d), room(d), key(d), idx(d) {}
};

// Mirrors BoxHyperplaneProjector.select.
double Select(Scratch& s, int64_t m, double need, bool knapsack) {
  int64_t lo = 0, hi = m;
  double fixed = 0, slope = 0;
  while (lo < hi) {
    const double pivot = s.key[s.idx[(lo + hi) >> 1]];
    int64_t lt = lo, gt = hi, k = lo;
    double fLt = 0, fEq = 0, sEq = 0, sGt = 0;
    while (k < gt) {
      const int32_t j = s.idx[k];
      const double kj = s.key[j];
      const double f = s.a[j] * s.room[j];
      const double sl = knapsack ? 0 : f / kj;
      if (kj < pivot) {
        s.idx[k] = s.idx[lt];
        s.idx[lt++] = j;
        k++;
        fLt += f;
      } else if (kj > pivot) {
        s.idx[k] = s.idx[--gt];
        s.idx[gt] = j;
        sGt += sl;
      } else {
        k++;
        fEq += f;
        sEq += sl;
      }
    }
    if (knapsack) {
      if (fixed + fLt >= need) hi = lt;
      else if (fixed + fLt + fEq >= need) return pivot;
      else {
        fixed += fLt + fEq;
        lo = gt;
      }
      continue;
    }
    const double atPivot = fixed + fLt + fEq + pivot * (slope + sGt);
    if (atPivot >= need) {
      slope += sEq + sGt;
      hi = lt;
    } else {
      fixed += fLt + fEq;
      lo = gt;
    }
  }
  if (knapsack || !(slope > 0)) return INFINITY;
  return (need - fixed) / slope;
}

// Mirrors BoxHyperplaneProjector.project; lower/upper are given as bound − point.
double Project(Scratch& s, int norm, const float* w, double c, const double* boxLo, const double* boxHi, const float* point, double* out, int64_t d) {
  std::fill(out, out + d, 0.0);
  if (c == 0 || !std::isfinite(c)) return 0;
  const double sgn = c > 0 ? 1 : -1;
  const double need = std::fabs(c);
  int64_t m = 0;
  double total = 0;
  for (int64_t j = 0; j < d; j++) {
    const double wj = w[j];
    if (wj == 0) continue;
    const double aj = std::fabs(wj);
    const double dj = (wj > 0 ? 1 : -1) * sgn;
    const double lower = boxLo[j] - point[j];
    const double upper = boxHi[j] - point[j];
    const double rj = dj > 0 ? std::max(upper, 0.0) : std::max(-lower, 0.0);
    if (rj <= 0) continue;
    s.a[j] = aj;
    s.dir[j] = dj;
    s.room[j] = rj;
    s.idx[m++] = static_cast<int32_t>(j);
    total += aj * rj;
  }
  if (total <= need) {
    for (int64_t k = 0; k < m; k++) {
      const int32_t j = s.idx[k];
      out[j] = s.dir[j] * s.room[j];
    }
  } else if (norm == kL1) {
    for (int64_t k = 0; k < m; k++) s.key[s.idx[k]] = -s.a[s.idx[k]];
    const double cut = Select(s, m, need, true);
    double rest = need;
    for (int64_t k = 0; k < m; k++) {
      const int32_t j = s.idx[k];
      if (s.key[j] < cut) {
        out[j] = s.dir[j] * s.room[j];
        rest -= s.a[j] * s.room[j];
      }
    }
    s.ties.clear();
    for (int64_t k = 0; k < m; k++)
      if (s.key[s.idx[k]] == cut) s.ties.push_back(s.idx[k]);
    std::sort(s.ties.begin(), s.ties.end());
    for (int32_t j : s.ties) {
      if (rest <= 0) break;
      const double take = std::min(s.room[j], rest / s.a[j]);
      out[j] = s.dir[j] * take;
      rest -= s.a[j] * take;
    }
  } else {
    const bool l2 = norm == kL2;
    for (int64_t k = 0; k < m; k++) {
      const int32_t j = s.idx[k];
      s.key[j] = l2 ? s.room[j] / s.a[j] : s.room[j];
    }
    const double lam = Select(s, m, need, false);
    for (int64_t k = 0; k < m; k++) {
      const int32_t j = s.idx[k];
      out[j] = s.dir[j] * std::min(lam * (l2 ? s.a[j] : 1.0), s.room[j]);
    }
  }
  double n = 0;
  for (int64_t j = 0; j < d; j++) {
    const double x = std::fabs(out[j]);
    if (norm == kL2) n += x * x;
    else if (norm == kLinf) n = std::max(n, x);
    else n += x;
  }
  return norm == kL2 ? std::sqrt(n) : n;
}

double DualValue(int norm, const float* g, int64_t d) {
  // The dual of the threat's norm: l1 for linf, linf for l1, l2 for l2.
  double n = 0;
  for (int64_t j = 0; j < d; j++) {
    const double v = std::fabs(static_cast<double>(g[j]));
    if (norm == kL2) n += v * v;
    else if (norm == kL1) n = std::max(n, v);
    else n += v;
  }
  return norm == kL2 ? std::sqrt(n) : n;
}

template <typename T>
T* TypedArray(napi_env env, napi_value v, napi_typedarray_type want, int64_t count, const char* name) {
  bool isTa = false;
  napi_is_typedarray(env, v, &isTa);
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  if (!isTa || napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != want || static_cast<int64_t>(length) < count)
    throw JsError(std::string("advtrain native fabStep: ") + name + " has the wrong type or length");
  return static_cast<T*>(data);
}

}  // namespace

// fabStep(norm, alphaMax, eta, b, m, d, grads f32[b·m·d], diff f32[b·m], cur f32[b·d], x0 f32[b·d], lo f64[d], hi f64[d], next f32[b·d])
napi_value FabStep(napi_env env, napi_callback_info info) {
  try {
    Args args(env, info, 13, false);
    const int norm = static_cast<int>(args.i(0));
    if (norm < kLinf || norm > kL1) throw JsError("advtrain native fabStep: unknown norm");
    const double alphaMax = args.d(1), eta = args.d(2);
    const int64_t b = args.i(3), m = args.i(4), d = args.i(5);
    if (b < 0 || m < 1 || d < 1) throw JsError("advtrain native fabStep: bad sizes");
    const float* grads = TypedArray<float>(env, args.argv[6], napi_float32_array, b * m * d, "grads");
    const float* diff = TypedArray<float>(env, args.argv[7], napi_float32_array, b * m, "diff");
    const float* cur = TypedArray<float>(env, args.argv[8], napi_float32_array, b * d, "cur");
    const float* x0 = TypedArray<float>(env, args.argv[9], napi_float32_array, b * d, "x0");
    const double* lo = TypedArray<double>(env, args.argv[10], napi_float64_array, d, "lo");
    const double* hi = TypedArray<double>(env, args.argv[11], napi_float64_array, d, "hi");
    float* next = TypedArray<float>(env, args.argv[12], napi_float32_array, b * d, "next");
#pragma omp parallel if (b > 1)
    {
      // IEEE denormals as in the JS version (the pool threads otherwise flush them: common.h).
      const unsigned csr = _mm_getcsr();
      _mm_setcsr(csr & ~kFtzDaz);
      Scratch s(d);
      std::vector<double> dX(d), dO(d);
#pragma omp for schedule(dynamic, 4)
      for (int64_t i = 0; i < b; i++) {
        int64_t sBest = 0;
        double rBest = INFINITY;
        for (int64_t k = 0; k < m; k++) {
          const double ratio = std::fabs(static_cast<double>(diff[i * m + k])) / (DualValue(norm, grads + (i * m + k) * d, d) + 1e-12);
          if (ratio < rBest) {
            rBest = ratio;
            sBest = k;
          }
        }
        const float* w = grads + (i * m + sBest) * d;
        const double v = diff[i * m + sBest];
        const float* xc = cur + i * d;
        const float* xo = x0 + i * d;
        double shift = 0;
        for (int64_t j = 0; j < d; j++) shift += static_cast<double>(w[j]) * (static_cast<double>(xo[j]) - static_cast<double>(xc[j]));
        const double nX = Project(s, norm, w, -v, lo, hi, xc, dX.data(), d);
        const double nO = Project(s, norm, w, -v - shift, lo, hi, xo, dO.data(), d);
        const double alpha = std::min(nX / std::max(nX + nO, 1e-12), alphaMax);
        for (int64_t j = 0; j < d; j++)
          next[i * d + j] = static_cast<float>((1 - alpha) * (xc[j] + eta * dX[j]) + alpha * (xo[j] + eta * dO[j]));
      }
      _mm_setcsr(csr);
    }
    return undefinedValue(env);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
}

}  // namespace advtrain
