// Convolution gradients that skip the zeros of dY.
//
// Behind ReLU and max pooling, most of a convolution's output gradient is zero: in madry-cnn's
// second layer 83% of it (the pool passes one cell of each 2x2 window back, the ReLU drops about
// a third of those). These kernels touch only the nonzeros: for each output channel, that
// channel's weights stay in registers while its nonzeros scatter into dX (Conv2DBackpropInput) or
// gather X into the weight-gradient sums (Conv2DBackpropFilter). Images are copied into a
// zero-padded buffer first so that no tap needs a bounds check.
//
// Scope: NHWC, stride 1, dilation 1, 5x5 or 3x3 kernels, input channels a multiple of 16, AVX-512
// (here) or AVX2 + FMA (sparse_conv_grad_avx2.h).
// The caller falls back to oneDNN's dense kernels for anything else, when dY is not sparse enough,
// or when the weights (input gradient) or inputs (filter gradient) hold a non-finite value, whose
// products with the skipped zeros would be NaN in the dense result.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "scratch.h"

namespace sparsegrad {

using scratchmem::aligned64;
struct WtTag;
struct PosTag;
struct CntTag;
struct ValTag;
struct BufTag;
struct PartTag;

struct Geom {
  int64_t N, H, W, CI, OH, OW, CO, KH, KW, pt, pl;
};

inline bool applies(const Geom& g) {
  return ((g.KH == 5 && g.KW == 5) || (g.KH == 3 && g.KW == 3)) && g.CI % 16 == 0 && g.OH < 65536 && g.OW < 65536 && g.pt >= 0 &&
         g.pl >= 0;
}

// Share of nonzero (or NaN) entries among the n floats of x.
__attribute__((target("avx512f"))) inline double densityAvx512(const float* x, int64_t n) {
  int64_t nz = 0;
#pragma omp parallel for reduction(+ : nz) schedule(static)
  for (int64_t i = 0; i < n / 16; i++)
    nz += __builtin_popcount(_mm512_cmp_ps_mask(_mm512_loadu_ps(x + 16 * i), _mm512_setzero_ps(), _CMP_NEQ_UQ));
  for (int64_t i = n / 16 * 16; i < n; i++) nz += !(x[i] == 0.f);
  return static_cast<double>(nz) / static_cast<double>(n);
}

inline bool allFinite(const float* x, int64_t n) {
  bool ok = true;
#pragma omp parallel for reduction(&& : ok) schedule(static)
  for (int64_t i = 0; i < n; i++) ok = ok && std::isfinite(x[i]);
  return ok;
}

// The nonzeros of one image's dY (P = OH*OW positions of CO channels), listed by channel:
// pos[co*P + i] = oh << 16 | ow, val[co*P + i], cnt[co].
__attribute__((target("avx512f"))) inline void listByChannel(const float* d, int64_t P, int64_t OW, int64_t CO, int* pos, float* val,
                                                             int* cnt) {
  std::fill(cnt, cnt + CO, 0);
  for (int64_t p = 0; p < P; p++) {
    const float* r = d + p * CO;
    const int at = static_cast<int>((p / OW) << 16 | (p % OW));
    int64_t c = 0;
    for (; c + 16 <= CO; c += 16) {
      __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(r + c), _mm512_setzero_ps(), _CMP_NEQ_UQ);
      while (m) {
        const int64_t co = c + __builtin_ctz(m);
        pos[co * P + cnt[co]] = at;
        val[co * P + cnt[co]++] = r[co];
        m &= m - 1;
      }
    }
    for (; c < CO; c++)
      if (!(r[c] == 0.f)) {
        pos[c * P + cnt[c]] = at;
        val[c * P + cnt[c]++] = r[c];
      }
  }
}

// The zero-padded image every tap of every output position falls inside.
struct Padded {
  int64_t Hp, Wp;
  Padded(const Geom& g) : Hp(std::max(g.H, g.OH - g.pt + g.KH - 1) + g.pt), Wp(std::max(g.W, g.OW - g.pl + g.KW - 1) + g.pl) {}
};

// Taps [T0, T0 + G) of one output channel, V vectors of 16 input channels: DATA scatters
// s * w[tap] into img at each nonzero; otherwise the taps' sums gather s * img and are added to w.
template <int KH, int KW, int V, int T0, int G, bool DATA>
__attribute__((target("avx512f,fma"), always_inline)) inline void tapGroup(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt,
                                                                           float* w, float* img) {
  constexpr int T = KH * KW;
  constexpr int GN = T0 + G <= T ? G : T - T0;
  __m512 r[GN][V];
  for (int t = 0; t < GN; t++)
    for (int v = 0; v < V; v++) r[t][v] = DATA ? _mm512_loadu_ps(w + (T0 + t) * CI + 16 * v) : _mm512_setzero_ps();
  for (int i = 0; i < cnt; i++) {
    const __m512 s = _mm512_set1_ps(val[i]);
    float* base = img + ((pos[i] >> 16) * Wp + (pos[i] & 0xffff)) * CI;
#pragma GCC unroll 32
    for (int t = 0; t < GN; t++) {
      float* p = base + (((T0 + t) / KW) * Wp + (T0 + t) % KW) * CI;
#pragma GCC unroll 4
      for (int v = 0; v < V; v++) {
        if (DATA)
          _mm512_store_ps(p + 16 * v, _mm512_fmadd_ps(s, r[t][v], _mm512_load_ps(p + 16 * v)));
        else
          r[t][v] = _mm512_fmadd_ps(s, _mm512_load_ps(p + 16 * v), r[t][v]);
      }
    }
  }
  if (!DATA)
    for (int t = 0; t < GN; t++)
      for (int v = 0; v < V; v++) _mm512_storeu_ps(w + (T0 + t) * CI + 16 * v, _mm512_add_ps(_mm512_loadu_ps(w + (T0 + t) * CI + 16 * v), r[t][v]));
}

// All taps of one output channel, in register groups of at most 26 vectors.
template <int KH, int KW, int V, bool DATA>
__attribute__((target("avx512f,fma"))) void channel(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt, float* w, float* img) {
  constexpr int G = V == 2 ? 13 : 26, T = KH * KW;
  tapGroup<KH, KW, V, 0, G, DATA>(Wp, CI, pos, val, cnt, w, img);
  if constexpr (T > G) tapGroup<KH, KW, V, G, G, DATA>(Wp, CI, pos, val, cnt, w, img);
  static_assert(T <= 2 * G, "more taps than two register groups");
}

}  // namespace sparsegrad

#include "sparse_conv_grad_avx2.h"

namespace sparsegrad {

// The instruction set a kernel runs on: its listing of nonzeros and its per-channel pass.
struct Avx512 {
  static void list(const float* d, int64_t P, int64_t OW, int64_t CO, int* pos, float* val, int* cnt) { listByChannel(d, P, OW, CO, pos, val, cnt); }
  template <int KH, int KW, int V, bool DATA>
  static void channel(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt, float* w, float* img) {
    sparsegrad::channel<KH, KW, V, DATA>(Wp, CI, pos, val, cnt, w, img);
  }
};
struct Avx2 {
  static void list(const float* d, int64_t P, int64_t OW, int64_t CO, int* pos, float* val, int* cnt) { avx2::listByChannel(d, P, OW, CO, pos, val, cnt); }
  template <int KH, int KW, int V, bool DATA>
  static void channel(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt, float* w, float* img) {
    avx2::channel<KH, KW, V, DATA>(Wp, CI, pos, val, cnt, w, img);
  }
};

// One padded image, every output channel; w is [CO][KH*KW][CI].
template <class Isa, int KH, int KW, bool DATA>
void image(int64_t Wp, int64_t CI, int64_t CO, int64_t P, const int* pos, const float* val, const int* cnt, float* w, float* img) {
  const int64_t T = KH * KW;
  for (int64_t co = 0; co < CO; co++) {
    if (!cnt[co]) continue;
    int64_t c = 0;
    for (; c + 32 <= CI; c += 32) Isa::template channel<KH, KW, 2, DATA>(Wp, CI, pos + co * P, val + co * P, cnt[co], w + co * T * CI + c, img + c);
    for (; c < CI; c += 16) Isa::template channel<KH, KW, 1, DATA>(Wp, CI, pos + co * P, val + co * P, cnt[co], w + co * T * CI + c, img + c);
  }
}

// dX = conv2d_backprop_input(dY, W) for W in tfjs's [KH][KW][CI][CO].
template <int KH, int KW, class Isa>
void backpropInput(const Geom& g, const float* dy, const float* w, float* dx) {
  const int64_t P = g.OH * g.OW, CI = g.CI, CO = g.CO, T = KH * KW;
  const Padded pd(g);
  float* wt = scratchmem::get<float, WtTag>(CO * T * CI);  // [CO][T][CI]: one channel's taps contiguous
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t co = 0; co < CO; co++)
      for (int64_t t = 0; t < T; t++)
        for (int64_t ci = 0; ci < CI; ci++) wt[(co * T + t) * CI + ci] = w[(t * CI + ci) * CO + co];
    int* pos = scratchmem::get<int, PosTag>(P * CO);
    int* cnt = scratchmem::get<int, CntTag>(CO);
    float* val = scratchmem::get<float, ValTag>(P * CO);
    float* buf = aligned64(scratchmem::get<float, BufTag>(pd.Hp * pd.Wp * CI + 16));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
      std::fill(buf, buf + pd.Hp * pd.Wp * CI, 0.f);
      Isa::list(dy + n * P * CO, P, g.OW, CO, pos, val, cnt);
      image<Isa, KH, KW, true>(pd.Wp, CI, CO, P, pos, val, cnt, wt, buf);
      for (int64_t h = 0; h < g.H; h++)
        std::memcpy(dx + (n * g.H + h) * g.W * CI, buf + ((h + g.pt) * pd.Wp + g.pl) * CI, sizeof(float) * g.W * CI);
    }
  }
}

// dW = conv2d_backprop_filter(X, dY) in tfjs's [KH][KW][CI][CO], and db = the sum of dY per channel
// where db is not null. Each thread sums its images; the threads' sums are added in thread order.
template <int KH, int KW, class Isa>
void backpropFilter(const Geom& g, const float* x, const float* dy, float* dw, float* db) {
  const int64_t P = g.OH * g.OW, T = KH * KW, CI = g.CI, CO = g.CO;
  const Padded pd(g);
  const int nt = omp_get_max_threads();
  const size_t stride = static_cast<size_t>(CO) * (T * CI + 1);
  float* part = scratchmem::get<float, PartTag>(nt * stride);  // per thread: [CO][T][CI], then [CO] bias sums
  std::fill(part, part + nt * stride, 0.f);  // all nt, so that a smaller team leaves zeros, not old sums
#pragma omp parallel num_threads(nt)
  {
    float* acc = part + omp_get_thread_num() * stride;
    float* bias = acc + CO * T * CI;
    int* pos = scratchmem::get<int, PosTag>(P * CO);
    int* cnt = scratchmem::get<int, CntTag>(CO);
    float* val = scratchmem::get<float, ValTag>(P * CO);
    const size_t padded = pd.Hp * pd.Wp * CI;
    float* buf = aligned64(scratchmem::get<float, BufTag>(padded + 16));
    std::fill(buf, buf + padded, 0.f);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
      for (int64_t h = 0; h < g.H; h++)
        std::memcpy(buf + ((h + g.pt) * pd.Wp + g.pl) * CI, x + (n * g.H + h) * g.W * CI, sizeof(float) * g.W * CI);
      Isa::list(dy + n * P * CO, P, g.OW, CO, pos, val, cnt);
      image<Isa, KH, KW, false>(pd.Wp, CI, CO, P, pos, val, cnt, acc, buf);
      if (db)
        for (int64_t co = 0; co < CO; co++)
          for (int i = 0; i < cnt[co]; i++) bias[co] += val[co * P + i];
    }
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; t++)
      for (int64_t ci = 0; ci < CI; ci++)
        for (int64_t co = 0; co < CO; co++) {
          float s = 0.f;
          for (int p = 0; p < nt; p++) s += part[p * stride + (co * T + t) * CI + ci];
          dw[(t * CI + ci) * CO + co] = s;
        }
    if (db) {
#pragma omp single
      for (int64_t co = 0; co < CO; co++) {
        float s = 0.f;
        for (int p = 0; p < nt; p++) s += part[p * stride + CO * T * CI + co];
        db[co] = s;
      }
    }
  }
}

}  // namespace sparsegrad
