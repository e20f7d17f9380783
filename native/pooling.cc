// Max and average pooling, forward and gradient (NHWC, dilation 1), as OpenMP loops.
#include "common.h"
#include "ops.h"

#include <limits>
#include <utility>

namespace advtrain {

// ---------------------------------------------------------------------------------------------
// MaxPool / MaxPoolGrad, NHWC, dilation 1. Same semantics as the tfjs cpu kernels: padded cells
// are skipped, the first strictly greatest cell of a window (row-major scan) wins.

// The geometry of a pooling, read from the JS object {batch, inHeight, inWidth, channels,
// filterHeight, filterWidth, outHeight, outWidth, strideHeight, strideWidth, padTop, padLeft}
// (PoolGeometry in src/engine/native/addon.ts).
struct PoolGeom {
  int64_t N, H, W, C, KH, KW, OH, OW, sh, sw, pt, pl;
  // The input rows [first, second) the windows of output row oh cover (padding excluded).
  std::pair<int64_t, int64_t> rows(int64_t oh) const { return {std::max<int64_t>(0, oh * sh - pt), std::min<int64_t>(H, oh * sh - pt + KH)}; }
  // The input columns [first, second) the windows of output column ow cover.
  std::pair<int64_t, int64_t> cols(int64_t ow) const { return {std::max<int64_t>(0, ow * sw - pl), std::min<int64_t>(W, ow * sw - pl + KW)}; }
};

PoolGeom poolGeom(const Args& a, size_t k) {
  const auto f = [&](const char* name) { return a.field(k, name); };
  const PoolGeom g{f("batch"),     f("inHeight"),  f("inWidth"),      f("channels"),    f("filterHeight"), f("filterWidth"),
                   f("outHeight"), f("outWidth"),  f("strideHeight"), f("strideWidth"), f("padTop"),       f("padLeft")};
  if (g.N <= 0 || g.H <= 0 || g.W <= 0 || g.C <= 0 || g.KH <= 0 || g.KW <= 0 || g.OH <= 0 || g.OW <= 0 || g.sh <= 0 || g.sw <= 0)
    throw JsError("advtrain native: bad pooling shape");
  return g;
}

// maxPool(heap, x, y, geometry)
napi_value MaxPool(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4);
    PoolGeom g = poolGeom(a, 3);
    const float* x = a.f32(1, g.N * g.H * g.W * g.C);
    float* y = a.f32(2, g.N * g.OH * g.OW * g.C);
    const int64_t C = g.C;
    const float ninf = -std::numeric_limits<float>::infinity();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const auto [r0, r1] = g.rows(oh);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const auto [c0, c1] = g.cols(ow);
          float* out = y + ((n * g.OH + oh) * g.OW + ow) * C;
          for (int64_t c = 0; c < C; ++c) out[c] = ninf;
          for (int64_t r = r0; r < r1; ++r) {
            for (int64_t q = c0; q < c1; ++q) {
              const float* in = x + ((n * g.H + r) * g.W + q) * C;
              for (int64_t c = 0; c < C; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
            }
          }
        }
      }
    }
    return undefinedValue(env);
  });
}

// The gradient of one pooling window for 16 channels: the first strictly greatest cell gets dy, the
// others 0. Branch-free: random data makes branches mispredict half the time. AVX-512 and AVX2
// versions, picked when the addon loads; the portable one for other CPUs.
using PoolGradWindowFn = void (*)(const float*, float*, const float*, int64_t, int64_t, int64_t, int64_t);

__attribute__((target("avx512f"))) void poolGradWindow16Avx512(const float* xw, float* dxw, const float* d, int64_t rows, int64_t cols,
                                                               int64_t rowStride, int64_t colStride) {
  __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 arg = _mm512_set1_ps(-1.f);
  float k = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < cols; ++q, k += 1.f) {
      const __m512 v = _mm512_loadu_ps(xw + r * rowStride + q * colStride);
      const __mmask16 gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
      best = _mm512_mask_mov_ps(best, gt, v);
      arg = _mm512_mask_mov_ps(arg, gt, _mm512_set1_ps(k));
    }
  const __m512 dv = _mm512_loadu_ps(d);
  k = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < cols; ++q, k += 1.f)
      _mm512_storeu_ps(dxw + r * rowStride + q * colStride, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(arg, _mm512_set1_ps(k), _CMP_EQ_OQ), dv));
}

__attribute__((target("avx2"))) void poolGradWindow16Avx2(const float* xw, float* dxw, const float* d, int64_t rows, int64_t cols,
                                                           int64_t rowStride, int64_t colStride) {
  for (int h = 0; h < 16; h += 8) {
    __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256 arg = _mm256_set1_ps(-1.f);
    float k = 0.f;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = 0; q < cols; ++q, k += 1.f) {
        const __m256 v = _mm256_loadu_ps(xw + r * rowStride + q * colStride + h);
        const __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        best = _mm256_blendv_ps(best, v, gt);
        arg = _mm256_blendv_ps(arg, _mm256_set1_ps(k), gt);
      }
    const __m256 dv = _mm256_loadu_ps(d + h);
    k = 0.f;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = 0; q < cols; ++q, k += 1.f)
        _mm256_storeu_ps(dxw + r * rowStride + q * colStride + h, _mm256_and_ps(_mm256_cmp_ps(arg, _mm256_set1_ps(k), _CMP_EQ_OQ), dv));
  }
}

void poolGradWindow16Portable(const float* xw, float* dxw, const float* d, int64_t rows, int64_t cols, int64_t rowStride, int64_t colStride) {
  float best[16], arg[16];
  for (int c = 0; c < 16; ++c) { best[c] = -std::numeric_limits<float>::infinity(); arg[c] = -1.f; }
  float k = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < cols; ++q, k += 1.f) {
      const float* in = xw + r * rowStride + q * colStride;
      for (int c = 0; c < 16; ++c)
        if (in[c] > best[c]) { best[c] = in[c]; arg[c] = k; }
    }
  k = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < cols; ++q, k += 1.f) {
      float* o = dxw + r * rowStride + q * colStride;
      for (int c = 0; c < 16; ++c) o[c] = arg[c] == k ? d[c] : 0.f;
    }
}

PoolGradWindowFn pickPoolGradWindow16() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return poolGradWindow16Avx512;
  if (__builtin_cpu_supports("avx2")) return poolGradWindow16Avx2;
  return poolGradWindow16Portable;
}
const PoolGradWindowFn poolGradWindow16 = pickPoolGradWindow16();

// maxPoolGrad(heap, x, dy, dx, geometry)
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    PoolGeom g = poolGeom(a, 4);
    const float* x = a.f32(1, g.N * g.H * g.W * g.C);
    const float* dy = a.f32(2, g.N * g.OH * g.OW * g.C);
    float* dx = a.f32(3, g.N * g.H * g.W * g.C);
    const int64_t C = g.C, H = g.H, W = g.W;
    const float ninf = -std::numeric_limits<float>::infinity();
    if (g.KH <= g.sh && g.KW <= g.sw && g.KH * g.KW <= 256) {
      // Windows do not overlap: every input cell gets the gradient of at most one window, so each
      // window writes its own cells (the max gets dy, the rest 0) and no scatter-add is needed.
      // Cells no window covers are zeroed first, where there are any.
      const bool tiles = g.pt == 0 && g.pl == 0 && g.KH == g.sh && g.KW == g.sw && g.OH * g.sh == H && g.OW * g.sw == W;
      if (!tiles) std::fill(dx, dx + g.N * H * W * C, 0.f);
#pragma omp parallel for collapse(2) schedule(static)
      for (int64_t n = 0; n < g.N; ++n) {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const auto [r0, r1] = g.rows(oh);
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const auto [q0, q1] = g.cols(ow);
            const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * C;
            // Channels in blocks of 16, kept in local arrays so the compiler vectorises.
            for (int64_t cb = 0; cb < C; cb += 16) {
              const int64_t cn = std::min<int64_t>(16, C - cb);
              if (cn == 16) {
                poolGradWindow16(x + ((n * H + r0) * W + q0) * C + cb, dx + ((n * H + r0) * W + q0) * C + cb, d + cb, r1 - r0, q1 - q0, W * C, C);
                continue;
              }
              float bp[16], ap[16];
              for (int64_t c = 0; c < 16; ++c) { bp[c] = ninf; ap[c] = -1.f; }
              float k = 0.f;
              for (int64_t r = r0; r < r1; ++r) {
                for (int64_t q = q0; q < q1; ++q, k += 1.f) {
                  const float* in = x + ((n * H + r) * W + q) * C + cb;
                  for (int64_t c = 0; c < cn; ++c) {
                    const bool gt = in[c] > bp[c];
                    bp[c] = gt ? in[c] : bp[c];
                    ap[c] = gt ? k : ap[c];
                  }
                }
              }
              k = 0.f;
              for (int64_t r = r0; r < r1; ++r) {
                for (int64_t q = q0; q < q1; ++q, k += 1.f) {
                  float* o = dx + ((n * H + r) * W + q) * C + cb;
                  for (int64_t c = 0; c < cn; ++c) o[c] = ap[c] == k ? d[cb + c] : 0.f;
                }
              }
            }
          }
        }
      }
      return undefinedValue(env);
    }
    // Overlapping windows: scatter-add, parallel over examples (no two threads write one example).
#pragma omp parallel
    {
      std::vector<float> best(C);
      std::vector<int64_t> arg(C);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) {
        float* dxn = dx + n * H * W * C;
        std::fill(dxn, dxn + H * W * C, 0.f);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const auto [r0, r1] = g.rows(oh);
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const auto [c0, c1] = g.cols(ow);
            std::fill(best.begin(), best.end(), ninf);
            std::fill(arg.begin(), arg.end(), int64_t(-1));
            for (int64_t r = r0; r < r1; ++r) {
              for (int64_t q = c0; q < c1; ++q) {
                const int64_t cell = (r * W + q) * C;
                const float* in = x + n * H * W * C + cell;
                for (int64_t c = 0; c < C; ++c) {
                  if (in[c] > best[c]) {
                    best[c] = in[c];
                    arg[c] = cell + c;
                  }
                }
              }
            }
            const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * C;
            for (int64_t c = 0; c < C; ++c)
              if (arg[c] >= 0) dxn[arg[c]] += d[c];
          }
        }
      }
    }
    return undefinedValue(env);
  });
}

// AvgPool / AvgPoolGrad, NHWC, dilation 1, with the tfjs cpu semantics: the forward pass averages
// the cells inside the input (padding is not counted); the gradient gives every cell of a window
// dy / (KH*KW), whatever the padding (as tfjs does).

// avgPool(heap, x, y, geometry)
napi_value AvgPool(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4);
    PoolGeom g = poolGeom(a, 3);
    const float* x = a.f32(1, g.N * g.H * g.W * g.C);
    float* y = a.f32(2, g.N * g.OH * g.OW * g.C);
    const int64_t C = g.C;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const auto [r0, r1] = g.rows(oh);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const auto [c0, c1] = g.cols(ow);
          float* out = y + ((n * g.OH + oh) * g.OW + ow) * C;
          for (int64_t c = 0; c < C; ++c) out[c] = 0.f;
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t q = c0; q < c1; ++q) {
              const float* in = x + ((n * g.H + r) * g.W + q) * C;
              for (int64_t c = 0; c < C; ++c) out[c] += in[c];
            }
          const float count = static_cast<float>(std::max<int64_t>(0, r1 - r0) * std::max<int64_t>(0, c1 - c0));
          for (int64_t c = 0; c < C; ++c) out[c] /= count;
        }
      }
    }
    return undefinedValue(env);
  });
}

// avgPoolGrad(heap, dy, dx, geometry)
napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4);
    PoolGeom g = poolGeom(a, 3);
    const float* dy = a.f32(1, g.N * g.OH * g.OW * g.C);
    float* dx = a.f32(2, g.N * g.H * g.W * g.C);
    const int64_t C = g.C;
    const float scale = 1.f / static_cast<float>(g.KH * g.KW);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      float* dxn = dx + n * g.H * g.W * C;
      std::fill(dxn, dxn + g.H * g.W * C, 0.f);
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const auto [r0, r1] = g.rows(oh);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const auto [c0, c1] = g.cols(ow);
          const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * C;
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t q = c0; q < c1; ++q) {
              float* o = dxn + (r * g.W + q) * C;
              for (int64_t c = 0; c < C; ++c) o[c] += d[c] * scale;
            }
        }
      }
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
