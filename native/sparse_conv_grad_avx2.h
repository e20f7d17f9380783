// The AVX2 half of the sparse convolution gradients (sparse_conv_grad.h holds the scheme and the
// AVX-512 half): the same listing of dY's nonzeros by channel and the same per-channel scatter
// (input gradient) or gather (filter gradient), with each 16-float vector of input channels as
// two 8-float halves. AVX2 has 16 vector registers, not 32, so a channel's taps are held in
// groups of 6 (one vector of 16 channels per tap) or 3 (two), not 26 or 13.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace sparsegrad {
namespace avx2 {

__attribute__((target("avx2"))) inline double density(const float* x, int64_t n) {
  int64_t nz = 0;
#pragma omp parallel for reduction(+ : nz) schedule(static)
  for (int64_t i = 0; i < n / 8; i++)
    nz += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + 8 * i), _mm256_setzero_ps(), _CMP_NEQ_UQ)));
  for (int64_t i = n / 8 * 8; i < n; i++) nz += !(x[i] == 0.f);
  return static_cast<double>(nz) / static_cast<double>(n);
}

// As sparsegrad::listByChannel: pos[co*P + i] = oh << 16 | ow, val[co*P + i], cnt[co].
__attribute__((target("avx2"))) inline void listByChannel(const float* d, int64_t P, int64_t OW, int64_t CO, int* pos, float* val, int* cnt) {
  std::fill(cnt, cnt + CO, 0);
  for (int64_t p = 0; p < P; p++) {
    const float* r = d + p * CO;
    const int at = static_cast<int>((p / OW) << 16 | (p % OW));
    int64_t c = 0;
    for (; c + 8 <= CO; c += 8) {
      unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(r + c), _mm256_setzero_ps(), _CMP_NEQ_UQ)));
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

// Taps [T0, T0 + G) of one output channel, V vectors of 16 input channels (2V halves).
template <int KH, int KW, int V, int T0, int G, bool DATA>
__attribute__((target("avx2,fma"), always_inline)) inline void tapGroup(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt, float* w,
                                                                        float* img) {
  constexpr int T = KH * KW;
  constexpr int GN = T0 + G <= T ? G : T - T0;
  constexpr int H = 2 * V;
  __m256 r[GN][H];
  for (int t = 0; t < GN; t++)
    for (int h = 0; h < H; h++) r[t][h] = DATA ? _mm256_loadu_ps(w + (T0 + t) * CI + 8 * h) : _mm256_setzero_ps();
  for (int i = 0; i < cnt; i++) {
    const __m256 s = _mm256_set1_ps(val[i]);
    float* base = img + ((pos[i] >> 16) * Wp + (pos[i] & 0xffff)) * CI;
#pragma GCC unroll 8
    for (int t = 0; t < GN; t++) {
      float* p = base + (((T0 + t) / KW) * Wp + (T0 + t) % KW) * CI;
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) {
        if (DATA)
          _mm256_store_ps(p + 8 * h, _mm256_fmadd_ps(s, r[t][h], _mm256_load_ps(p + 8 * h)));
        else
          r[t][h] = _mm256_fmadd_ps(s, _mm256_load_ps(p + 8 * h), r[t][h]);
      }
    }
  }
  if (!DATA)
    for (int t = 0; t < GN; t++)
      for (int h = 0; h < H; h++) _mm256_storeu_ps(w + (T0 + t) * CI + 8 * h, _mm256_add_ps(_mm256_loadu_ps(w + (T0 + t) * CI + 8 * h), r[t][h]));
}

// Groups [T0, T) of one output channel's taps, one after the other.
template <int KH, int KW, int V, int T0, bool DATA>
__attribute__((target("avx2,fma"), always_inline)) inline void groupsFrom(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt, float* w,
                                                                          float* img) {
  constexpr int G = V == 2 ? 3 : 6;
  tapGroup<KH, KW, V, T0, G, DATA>(Wp, CI, pos, val, cnt, w, img);
  if constexpr (T0 + G < KH * KW) groupsFrom<KH, KW, V, T0 + G, DATA>(Wp, CI, pos, val, cnt, w, img);
}

template <int KH, int KW, int V, bool DATA>
__attribute__((target("avx2,fma"))) void channel(int64_t Wp, int64_t CI, const int* pos, const float* val, int cnt, float* w, float* img) {
  groupsFrom<KH, KW, V, 0, DATA>(Wp, CI, pos, val, cnt, w, img);
}

}  // namespace avx2
}  // namespace sparsegrad
