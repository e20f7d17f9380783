// Embeddings: GatherV2 (the look-up) and UnsortedSegmentSum (its gradient).
#include "common.h"
#include "ops.h"

#include <algorithm>

namespace advtrain {

// ---------------------------------------------------------------------------------------------
// Embeddings: GatherV2 on the first axis (the look-up) and UnsortedSegmentSum (its gradient, the
// table's gradient). Elements are 4 bytes: float32 or int32. Both are memory-bound: on the 2-core
// development machine under load a second thread never measured faster, at any size up to 13M
// floats (text CNN sizes: gather 0.22 ms, segment sum 0.45 ms on 1 thread, same or slower on 2),
// so they split over threads only from kEmbeddingParallelMin floats moved (64 MB), or from
// $ADVTRAIN_NATIVE_EMBEDDING_PARALLEL_MIN where that is set (for tests and measurements).

constexpr int64_t kEmbeddingParallelMin = int64_t(1) << 24;

int embeddingThreads(int64_t work) {
  int64_t min = kEmbeddingParallelMin;
  if (const char* e = std::getenv("ADVTRAIN_NATIVE_EMBEDDING_PARALLEL_MIN")) {
    const long long v = std::atoll(e);
    if (v > 0) min = v;
  }
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), work / min)));
}


// gather(heap, x, indices, out, batch, outer, dim, slice, m): GatherV2 on any axis and batchDims,
// x viewed as [batch, outer, dim, slice] of 4-byte elements and the int32 indices as [batch, m]:
// out[b, o, j, :] = x[b, o, indices[b, j], :]. Returns -1, or the position of the first index
// outside [0, dim) — then nothing is written (the caller reports it).
napi_value Gather(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9);
    const int64_t batch = a.i(4), outer = a.i(5), dim = a.i(6), slice = a.i(7), m = a.i(8);
    if (batch <= 0 || outer <= 0 || dim <= 0 || slice <= 0 || m <= 0) throw JsError("advtrain native: bad gather shape");
    const int64_t n = batch * m;
    const float* x = a.f32(1, batch * outer * dim * slice);
    const int32_t* idx = reinterpret_cast<const int32_t*>(a.f32(2, n));
    float* out = a.f32(3, batch * outer * m * slice);
    for (int64_t i = 0; i < n; ++i) {
      if (idx[i] < 0 || idx[i] >= dim) return numberValue(env, static_cast<double>(i));
    }
    const size_t sliceBytes = static_cast<size_t>(slice) * 4;
    const int64_t rows = batch * outer * m;  // output rows of `slice` elements
    const int nt = embeddingThreads(rows * slice);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t j = r % m, bo = r / m, b = bo / outer;
      const float* src = x + (bo * dim + idx[b * m + j]) * slice;
      if (slice == 1)
        out[r] = *src;
      else
        std::memcpy(out + r * slice, src, sliceBytes);
    }
    return numberValue(env, -1);
  });
}

void addRowsF32(float* __restrict o, const float* __restrict x, int64_t m) {
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) o[j] += x[j];
}
void addRowsI32(uint32_t* __restrict o, const uint32_t* __restrict x, int64_t m) {  // wraps as int32 in JS
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) o[j] += x[j];
}

// unsortedSegmentSum(heap, x, segmentIds, out, n, inner, numSegments, isInt32):
// out[s, :] = sum of x[i, :] over i with segmentIds[i] = s (ids outside [0, numSegments) are
// dropped), for x [n, inner] and out [numSegments, inner]. Each thread owns a range of segments:
// it zeroes its rows, then scans every id and adds the rows that land in its range, in order of i,
// so no two threads write one row and the result does not depend on the thread count.
napi_value UnsortedSegmentSum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8);
    const int64_t n = a.i(4), inner = a.i(5), segs = a.i(6);
    const bool isInt = a.i(7) != 0;
    if (n <= 0 || inner <= 0 || segs <= 0) throw JsError("advtrain native: bad unsortedSegmentSum shape");
    const float* x = a.f32(1, n * inner);
    const int32_t* ids = reinterpret_cast<const int32_t*>(a.f32(2, n));
    float* out = a.f32(3, segs * inner);
    const int nt = static_cast<int>(std::min<int64_t>(embeddingThreads(segs * inner + n * inner), segs));
    auto part = [&](int64_t s0, int64_t s1) {
      std::memset(out + s0 * inner, 0, static_cast<size_t>((s1 - s0) * inner) * 4);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t s = ids[i];
        if (s < s0 || s >= s1) continue;
        if (isInt)
          addRowsI32(reinterpret_cast<uint32_t*>(out + s * inner), reinterpret_cast<const uint32_t*>(x + i * inner), inner);
        else
          addRowsF32(out + s * inner, x + i * inner, inner);
      }
    };
    if (nt <= 1) {
      part(0, segs);
    } else {
#pragma omp parallel num_threads(nt)
      {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        part(segs * t / T, segs * (t + 1) / T);
      }
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
