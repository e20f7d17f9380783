// Shared by every op family of the native engine: argument reading (Args), the one-call-at-a-time
// guard with its denormal and signal handling (guarded), CPU feature probes and thread-count helpers.
#pragma once

#include <node_api.h>
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

namespace advtrain {

using dnnl::algorithm;
using dnnl::engine;
using dnnl::memory;
using dnnl::primitive;
using dnnl::primitive_attr;
using dnnl::prop_kind;
using dnnl::stream;
using tag = memory::format_tag;
using dt = memory::data_type;
using dims = memory::dims;

inline engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
inline stream& strm() {
  static stream s(eng());
  return s;
}

// ---------------------------------------------------------------------------------------------
// Argument helpers

struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  napi_env env;
  size_t argc = 32;
  napi_value argv[32];
  uint8_t* heap = nullptr;
  size_t heapBytes = 0;

  Args(napi_env e, napi_callback_info info, size_t need, bool withHeap = true) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) throw JsError("bad call");
    if (argc < need) throw JsError("advtrain native: expected " + std::to_string(need) + " arguments, got " + std::to_string(argc));
    if (withHeap) {
      napi_typedarray_type type;
      size_t length;
      void* data;
      napi_value ab;
      size_t byteOffset;
      bool isTa = false;
      napi_is_typedarray(env, argv[0], &isTa);
      if (isTa) {
        if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &byteOffset) != napi_ok)
          throw JsError("advtrain native: cannot read the heap view");
        if (type != napi_uint8_array) throw JsError("advtrain native: heap must be a Uint8Array");
        heap = static_cast<uint8_t*>(data);
        heapBytes = length;
      } else {
        bool isAb = false;
        napi_is_arraybuffer(env, argv[0], &isAb);
        if (!isAb) throw JsError("advtrain native: heap must be a Uint8Array or ArrayBuffer");
        if (napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok) throw JsError("advtrain native: bad heap");
        heap = static_cast<uint8_t*>(data);
        heapBytes = length;
      }
    }
  }
  int64_t i(size_t k) const {
    double v;
    if (napi_get_value_double(env, argv[k], &v) != napi_ok) throw JsError("advtrain native: argument " + std::to_string(k) + " must be a number");
    return static_cast<int64_t>(v);
  }
  double d(size_t k) const {
    double v;
    if (napi_get_value_double(env, argv[k], &v) != napi_ok) throw JsError("advtrain native: argument " + std::to_string(k) + " must be a number");
    return v;
  }
  // The number in property `name` of the object at argv[k] (a geometry struct from JS).
  int64_t field(size_t k, const char* name) const {
    napi_value v;
    double d;
    if (napi_get_named_property(env, argv[k], name, &v) != napi_ok || napi_get_value_double(env, v, &d) != napi_ok)
      throw JsError("advtrain native: argument " + std::to_string(k) + " must be an object with a number '" + name + "'");
    return static_cast<int64_t>(d);
  }
  // A float32 tensor of `count` elements at byte offset `off` (from a descriptor array).
  float* at(double off, int64_t count) const {
    if (!(off >= 0) || std::fmod(off, 4.0) != 0 || count < 0 || off + static_cast<double>(count) * 4 > static_cast<double>(heapBytes))
      throw JsError("advtrain native: a tensor lies outside the wasm heap");
    return reinterpret_cast<float*>(heap + static_cast<uint64_t>(off));
  }
  // A bool (one byte per element) tensor of `count` elements at byte offset argv[k].
  uint8_t* u8(size_t k, int64_t count) const {
    const int64_t off = i(k);
    if (off < 0 || count < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(count) > heapBytes)
      throw JsError("advtrain native: tensor at argument " + std::to_string(k) + " lies outside the wasm heap");
    return heap + off;
  }
  // A float32 tensor of `count` elements at byte offset argv[k]; offset < 0 means "none".
  float* f32(size_t k, int64_t count, bool optional = false) const {
    int64_t off = i(k);
    if (off < 0) {
      if (optional) return nullptr;
      throw JsError("advtrain native: missing tensor at argument " + std::to_string(k));
    }
    if (off % 4 != 0 || count < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(count) * 4 > heapBytes)
      throw JsError("advtrain native: tensor at argument " + std::to_string(k) + " lies outside the wasm heap");
    return reinterpret_cast<float*>(heap + off);
  }
};

inline napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

inline napi_value numberValue(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

// One call at a time: the primitive cache and scratch buffers are shared by every JS thread
// (worker_threads) that loads the addon.
inline std::mutex callMutex;

// Denormal floats: once a model fits its batches, gradients shrink into the denormal range and
// every multiply-add on them takes a microcode assist — a training step measured 5–8× slower
// (trades-smallcnn, 26 → 200 ms). Like TensorFlow's CPU runtime, the engine flushes denormals to
// zero (MXCSR FTZ and DAZ) while it computes: on the pool threads for good (they only run engine
// code), on the calling JS thread for the length of each call (V8's own float math keeps IEEE
// denormals). $ADVTRAIN_NATIVE_DENORMALS=keep, or setFlushDenormals(false), keeps them.
constexpr unsigned kFtzDaz = 0x8040;
inline bool flushDenormals = [] {
  const char* e = std::getenv("ADVTRAIN_NATIVE_DENORMALS");
  return !(e && std::strcmp(e, "keep") == 0);
}();
// oneDNN 2.x's JIT f32 GEMM kernels point RSP into the heap while they run (oneDNN issue #4845,
// fixed in 3.x, later than Debian's 2.6): a signal handled on such a thread writes its frame there
// and corrupts the heap — every `node --cpu-prof` run of a matmul aborted, and a Ctrl-C or a
// child's SIGCHLD could hit the same way. So no engine thread takes an asynchronous signal while it
// computes: the calling thread blocks them for the length of each call (they are delivered as it
// returns), the pool threads for good (made inside a call, they inherit the mask; setPoolDenormals
// blocks them on the ones made before). Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT)
// stay deliverable.
inline const sigset_t& asyncSignals() {
  static const sigset_t set = [] {
    sigset_t s;
    sigfillset(&s);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&s, sig);
    return s;
  }();
  return set;
}

struct CallerSignalsBlocked {
  sigset_t saved;
  CallerSignalsBlocked() { pthread_sigmask(SIG_BLOCK, &asyncSignals(), &saved); }
  ~CallerSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &saved, nullptr); }
};

inline int poolThreadsSet = 0;      // thread count the pool's MXCSR was last set for
inline bool poolFlushSet = false;   // and to what

inline void setPoolDenormals() {
  const int n = omp_get_max_threads();
  if (n == poolThreadsSet && flushDenormals == poolFlushSet) return;
  const bool flush = flushDenormals;
#pragma omp parallel num_threads(n)
  {
    const unsigned c = _mm_getcsr();
    _mm_setcsr(flush ? (c | kFtzDaz) : (c & ~kFtzDaz));
    if (omp_get_thread_num() != 0) pthread_sigmask(SIG_BLOCK, &asyncSignals(), nullptr);
  }
  poolThreadsSet = n;
  poolFlushSet = flush;
}

// Sets the calling thread's FTZ/DAZ for one call and puts its MXCSR back after (also on throw).
struct CallerDenormals {
  unsigned saved = _mm_getcsr();
  CallerDenormals() { _mm_setcsr(flushDenormals ? (saved | kFtzDaz) : (saved & ~kFtzDaz)); }
  ~CallerDenormals() { _mm_setcsr(saved); }
};

template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    std::lock_guard<std::mutex> lock(callMutex);
    CallerSignalsBlocked signals;
    CallerDenormals denormals;
    setPoolDenormals();
    return f();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("advtrain native (oneDNN): ") + e.what() + " status " + std::to_string(static_cast<int>(e.status))).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}


// ---------------------------------------------------------------------------------------------
// CPU features and threads

// $ADVTRAIN_NATIVE_AVX2_ONLY=1 (read once) makes an AVX-512 machine take the AVX2 paths, so that
// they are tested there too.
inline bool hasAvx512() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f") != 0) && !(std::getenv("ADVTRAIN_NATIVE_AVX2_ONLY") && std::getenv("ADVTRAIN_NATIVE_AVX2_ONLY")[0] == '1');
  return yes;
}

inline bool hasAvx2Fma() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0);
  return yes;
}

inline const bool haveAvx = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx") != 0;
}();

// Runs the rest of its scope with n OpenMP threads (oneDNN sizes its primitives, and runs them,
// on omp_get_max_threads()), and puts the count back on the way out.
struct OmpThreadsScope {
  int saved;
  explicit OmpThreadsScope(int n) : saved(omp_get_max_threads()) {
    if (n != saved) omp_set_num_threads(n);
  }
  ~OmpThreadsScope() {
    if (omp_get_max_threads() != saved) omp_set_num_threads(saved);
  }
};

// Threads for a primitive of `flops`: one below `serialFlops`, else the pool. `$env` overrides
// the threshold; it is read at each call so that an A/B run can flip it within one process
// (node build/bench/native-train-step.js --env NAME=VALUE).
inline int threadsForFlops(double flops, double serialFlops, const char* env) {
  if (const char* e = std::getenv(env)) serialFlops = std::atof(e);
  return flops < serialFlops ? 1 : omp_get_max_threads();
}

// Element-wise loops run on one thread below kParallelMin floats: waking the others costs more
// than they save.
constexpr int64_t kParallelMin = 262144;  // measured: below ~256K floats a second thread costs more than it saves

inline int threadsFor(int64_t n) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n / kParallelMin)));
}

// Runs body(i0, i1) over [0, n) split into 16-aligned ranges, one per thread.
template <typename F>
void parallelRanges(int64_t n, F&& body) {
  const int nt = threadsFor(n);
  if (nt == 1) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t i0 = (n * t / T) & ~int64_t(15), i1 = t + 1 == T ? n : (n * (t + 1) / T) & ~int64_t(15);
    body(i0, i1);
  }
}

}  // namespace advtrain
