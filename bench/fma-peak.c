/*
 * The machine's single-precision FMA peak, for `npm run bench`: each thread runs independent
 * fused multiply-add chains on the widest vectors the compiler targets (-march=native), enough
 * chains to cover the FMA latency on both FMA ports.
 *
 *   cc -O3 -march=native -fopenmp bench/fma-peak.c -o /tmp/fma-peak && /tmp/fma-peak THREADS SECONDS
 *
 * Prints {"threads", "gflops", "vector_bits"}.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define BITS 512
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1(x) _mm512_set1_ps(x)
#define SUM(v) _mm512_reduce_add_ps(v)
#elif defined(__FMA__)
typedef __m256 vec;
#define BITS 256
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1(x) _mm256_set1_ps(x)
static float SUM(__m256 v) { float f[8]; _mm256_storeu_ps(f, v); return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7]; }
#else
#error "needs FMA (AVX2) or AVX-512"
#endif

#define CHAINS 12
#define INNER 1000

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  omp_set_num_threads(threads);
  double flops = 0, elapsed = 0;
  float sink = 0;
  long iters = 20000;
  for (;;) {
    double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
    {
      vec acc[CHAINS];
      for (int c = 0; c < CHAINS; c++) acc[c] = SET1(1.0f + c * 1e-3f);
      const vec a = SET1(0.999999f), b = SET1(1e-7f);
      for (long i = 0; i < iters; i++)
        for (int j = 0; j < INNER / CHAINS; j++)
#pragma GCC unroll 12
          for (int c = 0; c < CHAINS; c++) acc[c] = FMA(acc[c], a, b);
      for (int c = 0; c < CHAINS; c++) sink += SUM(acc[c]);
    }
    elapsed = omp_get_wtime() - t0;
    flops = 2.0 * (BITS / 32) * CHAINS * (INNER / CHAINS) * (double)iters * threads;
    if (elapsed >= seconds) break;
    iters = (long)(iters * (seconds * 1.2 / (elapsed > 1e-3 ? elapsed : 1e-3)));
  }
  printf("{\"threads\": %d, \"gflops\": %.1f, \"vector_bits\": %d, \"check\": %g}\n", threads, flops / elapsed / 1e9, BITS, (double)sink);
  return 0;
}
