// Per-thread scratch buffers for the native kernels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace scratchmem {

// A buffer of at least n elements owned by the calling thread, kept across calls (OpenMP's pool
// threads persist), so that a training step does not map and fault in fresh pages for every
// kernel call. Tag names the buffer: two buffers a kernel needs at once need two tags.
template <typename T, typename Tag>
T* get(size_t n) {
  static thread_local std::vector<T> v;
  if (v.size() < n) v.resize(n);
  return v.data();
}

// p rounded up to a 64-byte boundary (allocate 16 floats more than needed).
inline float* aligned64(float* p) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63)); }

}  // namespace scratchmem
