// The input gradient of a convolution with few input channels (a first layer: 1 for grey images,
// 3 for colour): the last step of every gradient attack through a CNN.
//
// oneDNN pads the input channels of its direct kernels to 16 (16x the work for one channel), and
// the im2col GEMM that replaced them (25 columns for a 5x5 kernel) plus its scatter took 3.0-3.4 ms
// on madry-cnn's first layer. Here one output position at a time: its KH*KW*C taps fit in a few
// vector registers, which sum dY[p, co] * W[:, co] over the output channels and are then added into
// the position's window of dX (2.1-2.4 ms; the input gradient step of madry-cnn 8% faster).
// Images go through a zero-padded buffer so that no window needs a bounds check. (The same scheme
// for the filter gradient measured 2.7-3.4 ms against oneDNN's 0.8, and was dropped.)
//
// Every output channel is summed, zero or not (at madry-cnn's 19% nonzeros, skipping the zeros cost
// more in mispredicted branches than it saved), so non-finite weights give the NaNs a dense
// convolution gives. Scope: NHWC, dilation 1, any stride, C <= 4, KH*KW*C <= 128 taps, AVX-512 or
// AVX2 + FMA; the caller falls back to the GEMM path otherwise.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "scratch.h"

namespace fewchannel {

struct WtTag;
struct BufTag;

struct Geom {
  int64_t N, H, W, C, OH, OW, CO, KH, KW, sh, sw, pt, pl;
  int64_t taps() const { return KH * KW * C; }
  // The padded image: every window inside, and the input at offset (pt, pl).
  int64_t Hp() const { return std::max((OH - 1) * sh + KH, H + pt); }
  int64_t Wp() const { return std::max((OW - 1) * sw + KW, W + pl); }
};

inline bool applies(const Geom& g) { return g.C <= 4 && g.taps() <= 128 && g.pt >= 0 && g.pl >= 0; }

inline __mmask16 lanes(int64_t n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1); }

// Where the taps of window row kh (lanes [kh*row, (kh+1)*row) of the tap vectors) meet vector q:
// the lanes (mask) and the offset of their first element in the row.
struct Segment {
  int q;
  __mmask16 mask;
  int64_t kh, offset;
};

inline std::vector<Segment> segments(const Geom& g) {
  std::vector<Segment> out;
  const int64_t row = g.KW * g.C;
  for (int64_t kh = 0; kh < g.KH; kh++)
    for (int64_t j = 0; j < row;) {
      const int64_t lane = kh * row + j, q = lane / 16, n = std::min(row - j, 16 - lane % 16);
      out.push_back({static_cast<int>(q), static_cast<__mmask16>(lanes(n) << (lane % 16)), kh, j});
      j += n;
    }
  return out;
}

// dX = conv2d_backprop_input(dY, W), W in tfjs's [KH][KW][C][CO]; V vectors of 16 taps.
template <int V>
__attribute__((target("avx512f,fma"))) void backpropInputV(const Geom& g, const float* dy, const float* w, float* dx) {
  const int64_t L = g.taps(), CO = g.CO, C = g.C, Hp = g.Hp(), Wp = g.Wp();
  float* wt = scratchmem::aligned64(scratchmem::get<float, WtTag>(CO * 16 * V + 16));  // [CO][16V]: channel co's taps, zero-padded
  for (int64_t co = 0; co < CO; co++)
    for (int64_t t = 0; t < 16 * V; t++) wt[co * 16 * V + t] = t < L ? w[t * CO + co] : 0.f;
  const std::vector<Segment> seg = segments(g);
#pragma omp parallel
  {
    float* buf = scratchmem::get<float, BufTag>(Hp * Wp * C);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
      std::fill(buf, buf + Hp * Wp * C, 0.f);
      for (int64_t oh = 0; oh < g.OH; oh++)
        for (int64_t ow = 0; ow < g.OW; ow++) {
          const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * CO;
          // Four chains of multiply-adds hide their latency.
          __m512 a[4][V];
          for (int r = 0; r < 4; r++)
            for (int q = 0; q < V; q++) a[r][q] = _mm512_setzero_ps();
          int64_t co = 0;
          for (; co + 4 <= CO; co += 4)
            for (int r = 0; r < 4; r++) {
              const __m512 s = _mm512_set1_ps(d[co + r]);
              for (int q = 0; q < V; q++) a[r][q] = _mm512_fmadd_ps(s, _mm512_load_ps(wt + (co + r) * 16 * V + 16 * q), a[r][q]);
            }
          for (; co < CO; co++) {
            const __m512 s = _mm512_set1_ps(d[co]);
            for (int q = 0; q < V; q++) a[0][q] = _mm512_fmadd_ps(s, _mm512_load_ps(wt + co * 16 * V + 16 * q), a[0][q]);
          }
          for (int q = 0; q < V; q++) a[0][q] = _mm512_add_ps(_mm512_add_ps(a[0][q], a[1][q]), _mm512_add_ps(a[2][q], a[3][q]));
          float* win = buf + ((oh * g.sh) * Wp + ow * g.sw) * C;
          for (const Segment& sg : seg) {
            float* dst = win + sg.kh * Wp * C + sg.offset;
            const __mmask16 k = lanes(__builtin_popcount(sg.mask));
            _mm512_mask_storeu_ps(dst, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, dst), _mm512_maskz_compress_ps(sg.mask, a[0][sg.q])));
          }
        }
      for (int64_t h = 0; h < g.H; h++)
        std::memcpy(dx + (n * g.H + h) * g.W * C, buf + ((h + g.pt) * Wp + g.pl) * C, sizeof(float) * g.W * C);
    }
  }
}

// The same on AVX2: each vector of 16 taps is two 8-float halves, and a window row's segment is
// added from a stored copy of the sums (AVX2 has no compress). Fewer parallel chains as V grows,
// so that the sums and the broadcast stay within AVX2's 16 registers.
template <int V>
__attribute__((target("avx2,fma"))) void backpropInputAvx2V(const Geom& g, const float* dy, const float* w, float* dx) {
  constexpr int R = V == 1 ? 4 : V == 2 ? 2 : 1;
  const int64_t L = g.taps(), CO = g.CO, C = g.C, Hp = g.Hp(), Wp = g.Wp();
  float* wt = scratchmem::aligned64(scratchmem::get<float, WtTag>(CO * 16 * V + 16));
  for (int64_t co = 0; co < CO; co++)
    for (int64_t t = 0; t < 16 * V; t++) wt[co * 16 * V + t] = t < L ? w[t * CO + co] : 0.f;
  const std::vector<Segment> seg = segments(g);
#pragma omp parallel
  {
    float* buf = scratchmem::get<float, BufTag>(Hp * Wp * C);
    alignas(32) float sum[16 * V];
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
      std::fill(buf, buf + Hp * Wp * C, 0.f);
      for (int64_t oh = 0; oh < g.OH; oh++)
        for (int64_t ow = 0; ow < g.OW; ow++) {
          const float* d = dy + ((n * g.OH + oh) * g.OW + ow) * CO;
          __m256 a[R][2 * V];
          for (int r = 0; r < R; r++)
            for (int q = 0; q < 2 * V; q++) a[r][q] = _mm256_setzero_ps();
          int64_t co = 0;
          for (; co + R <= CO; co += R)
            for (int r = 0; r < R; r++) {
              const __m256 s = _mm256_set1_ps(d[co + r]);
              for (int q = 0; q < 2 * V; q++) a[r][q] = _mm256_fmadd_ps(s, _mm256_load_ps(wt + (co + r) * 16 * V + 8 * q), a[r][q]);
            }
          for (; co < CO; co++) {
            const __m256 s = _mm256_set1_ps(d[co]);
            for (int q = 0; q < 2 * V; q++) a[0][q] = _mm256_fmadd_ps(s, _mm256_load_ps(wt + co * 16 * V + 8 * q), a[0][q]);
          }
          for (int q = 0; q < 2 * V; q++) {
            for (int r = 1; r < R; r++) a[0][q] = _mm256_add_ps(a[0][q], a[r][q]);
            _mm256_store_ps(sum + 8 * q, a[0][q]);
          }
          float* win = buf + ((oh * g.sh) * Wp + ow * g.sw) * C;
          for (const Segment& sg : seg) {
            float* dst = win + sg.kh * Wp * C + sg.offset;
            const float* src = sum + 16 * sg.q + __builtin_ctz(sg.mask);
            const int cnt = __builtin_popcount(sg.mask);
            for (int j = 0; j < cnt; j++) dst[j] += src[j];
          }
        }
      for (int64_t h = 0; h < g.H; h++)
        std::memcpy(dx + (n * g.H + h) * g.W * C, buf + ((h + g.pt) * Wp + g.pl) * C, sizeof(float) * g.W * C);
    }
  }
}

// Calls f(std::integral_constant<int, V>) with V = the vectors of 16 taps the geometry needs (1 to 8).
template <class F>
void withVectors(const Geom& g, F&& f) {
  switch ((g.taps() + 15) / 16) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

inline void backpropInputAvx2(const Geom& g, const float* dy, const float* w, float* dx) {
  withVectors(g, [&](auto v) { backpropInputAvx2V<decltype(v)::value>(g, dy, w, dx); });
}

inline void backpropInputAvx512(const Geom& g, const float* dy, const float* w, float* dx) {
  withVectors(g, [&](auto v) { backpropInputV<decltype(v)::value>(g, dy, w, dx); });
}

}  // namespace fewchannel
