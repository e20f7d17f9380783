// advtrain native engine: hot TF.js kernels (NHWC float32) on oneDNN, reading and writing the
// tfjs wasm backend's heap in place (no copies); and the element-wise rest of a training step
// (ReLU and its gradient, bias adds, the Adam / SGD / momentum updates) and the embedding look-up
// and its gradient (gather, unsorted segment sum) as multithreaded loops.
//
// Every entry point takes the wasm heap (a Uint8Array over the wasm memory) and byte offsets into
// it, checks that every tensor lies inside the heap, and computes. oneDNN primitives are created
// once per shape and cached: oneDNN picks its own (blocked) layouts for convolutions and we reorder
// from/to the plain NHWC / HWIO layouts tfjs uses.

#include <node_api.h>
#include <immintrin.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "few_channel_conv_grad.h"
#include "sparse_conv_grad.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

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

engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream& strm() {
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
  // A float32 tensor of `count` elements at byte offset `off` (from a descriptor array).
  float* at(double off, int64_t count) const {
    if (!(off >= 0) || std::fmod(off, 4.0) != 0 || count < 0 || off + static_cast<double>(count) * 4 > static_cast<double>(heapBytes))
      throw JsError("advtrain native: a tensor lies outside the wasm heap");
    return reinterpret_cast<float*>(heap + static_cast<uint64_t>(off));
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

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// One call at a time: the primitive cache and scratch buffers are shared by every JS thread
// (worker_threads) that loads the addon.
std::mutex callMutex;

// Denormal floats: once a model fits its batches, gradients shrink into the denormal range and
// every multiply-add on them takes a microcode assist — a training step measured 5–8× slower
// (trades-smallcnn, 26 → 200 ms). Like TensorFlow's CPU runtime, the engine flushes denormals to
// zero (MXCSR FTZ and DAZ) while it computes: on the pool threads for good (they only run engine
// code), on the calling JS thread for the length of each call (V8's own float math keeps IEEE
// denormals). $ADVTRAIN_NATIVE_DENORMALS=keep, or setFlushDenormals(false), keeps them.
constexpr unsigned kFtzDaz = 0x8040;
bool flushDenormals = [] {
  const char* e = std::getenv("ADVTRAIN_NATIVE_DENORMALS");
  return !(e && std::strcmp(e, "keep") == 0);
}();
int poolThreadsSet = 0;       // thread count the pool's MXCSR was last set for
bool poolFlushSet = false;    // and to what

void setPoolDenormals() {
  const int n = omp_get_max_threads();
  if (n == poolThreadsSet && flushDenormals == poolFlushSet) return;
  const bool flush = flushDenormals;
#pragma omp parallel num_threads(n)
  {
    const unsigned c = _mm_getcsr();
    _mm_setcsr(flush ? (c | kFtzDaz) : (c & ~kFtzDaz));
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
// Primitive cache

struct Entry {
  virtual ~Entry() = default;
};

std::unordered_map<std::string, std::unique_ptr<Entry>> cache;

// Activation layout the convolutions run in: false = NHWC as tfjs stores it (no reorders),
// true = whatever oneDNN prefers (blocked), with reorders from/to NHWC around each call.
bool actAny = false;

std::string keyOf(std::initializer_list<int64_t> xs) {
  std::string k(xs.size() * sizeof(int64_t), '\0');
  size_t p = 0;
  for (int64_t x : xs) {
    std::memcpy(&k[p], &x, sizeof x);
    p += sizeof x;
  }
  return k;
}

template <typename T, typename Make>
T& cached(const std::string& key, Make&& make) {
  auto it = cache.find(key);
  if (it != cache.end()) return *static_cast<T*>(it->second.get());
  std::unique_ptr<T> e = make();
  T& ref = *e;
  cache.emplace(key, std::move(e));
  return ref;
}

// A tensor as tfjs lays it out ("user" memory, data handle set per call) and, where the primitive
// prefers another layout, an internal buffer in that layout plus the reorder between them.
struct Port {
  memory user;
  memory prim;
  bool needsReorder = false;
  primitive reorderPrim;

  void init(const memory::desc& userMd, const memory::desc& primMd, bool isInput) {
    user = memory(userMd, eng(), DNNL_MEMORY_NONE);
    if (userMd == primMd) {
      prim = user;
    } else {
      needsReorder = true;
      prim = memory(primMd, eng());
      reorderPrim = isInput ? primitive(dnnl::reorder(user, prim)) : primitive(dnnl::reorder(prim, user));
    }
  }
  void in(void* p) {
    user.set_data_handle(p);
    if (needsReorder) reorderPrim.execute(strm(), {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, prim}});
  }
  void setOut(void* p) { user.set_data_handle(p); }
  void out() {
    if (needsReorder) reorderPrim.execute(strm(), {{DNNL_ARG_FROM, prim}, {DNNL_ARG_TO, user}});
  }
};

// Convolution geometry, NHWC input [N,H,W,C], HWIO filter [KH,KW,C,O], NHWC output [N,OH,OW,O].
struct ConvGeom {
  int64_t N, H, W, C, KH, KW, O, OH, OW, sh, sw, dh, dw, pt, pl;
  // Bottom/right padding as oneDNN wants it: what the last output row/column reaches past the
  // input (rows that tfjs pads but no output reads are dropped; 0 where the last rows go unread).
  int64_t pb() const { return std::max<int64_t>(0, (OH - 1) * sh + (KH - 1) * dh + 1 - H - pt); }
  int64_t pr() const { return std::max<int64_t>(0, (OW - 1) * sw + (KW - 1) * dw + 1 - W - pl); }
  memory::desc srcMd(tag t) const { return memory::desc({N, C, H, W}, dt::f32, t); }
  memory::desc weiMd(tag t) const { return memory::desc({O, C, KH, KW}, dt::f32, t); }
  memory::desc dstMd(tag t) const { return memory::desc({N, O, OH, OW}, dt::f32, t); }
  memory::desc biasMd() const { return memory::desc({O}, dt::f32, tag::x); }
  dims strides() const { return {sh, sw}; }
  dims dil() const { return {dh - 1, dw - 1}; }
  dims padL() const { return {pt, pl}; }
  dims padR() const { return {pb(), pr()}; }
  void validate() const {
    if (N <= 0 || H <= 0 || W <= 0 || C <= 0 || KH <= 0 || KW <= 0 || O <= 0 || OH <= 0 || OW <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0)
      throw JsError("advtrain native: bad convolution shape");
    if (pt < 0 || pl < 0 || (H + pt + pb() - ((KH - 1) * dh + 1)) / sh + 1 != OH || (W + pl + pr() - ((KW - 1) * dw + 1)) / sw + 1 != OW) throw JsError("advtrain native: unsupported convolution padding");
  }
  static tag act(bool any) { return any ? tag::any : tag::nhwc; }
  dnnl::convolution_forward::desc fwdDesc(bool bias, bool any) const {
    if (bias)
      return dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, srcMd(act(any)), weiMd(tag::any),
                                             biasMd(), dstMd(act(any)), strides(), dil(), padL(), padR());
    return dnnl::convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, srcMd(act(any)), weiMd(tag::any),
                                           dstMd(act(any)), strides(), dil(), padL(), padR());
  }
};

ConvGeom convGeom(const Args& a, size_t k, bool withDilation) {
  ConvGeom g{};
  g.N = a.i(k++); g.H = a.i(k++); g.W = a.i(k++); g.C = a.i(k++);
  g.KH = a.i(k++); g.KW = a.i(k++); g.O = a.i(k++);
  g.OH = a.i(k++); g.OW = a.i(k++);
  g.sh = a.i(k++); g.sw = a.i(k++);
  if (withDilation) { g.dh = a.i(k++); g.dw = a.i(k++); } else { g.dh = 1; g.dw = 1; }
  g.pt = a.i(k++); g.pl = a.i(k++);
  g.validate();
  return g;
}

// ---------------------------------------------------------------------------------------------
// Conv2D forward (+ bias, + relu)

struct ConvFwd : Entry {
  Port src, wei, dst;
  memory bias;
  dnnl::convolution_forward prim;
  std::unordered_map<int, memory> args;
};

// conv2d(heap, x, filter, bias|-1, y, N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl, relu)
napi_value Conv2D(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 21);
    ConvGeom g = convGeom(a, 5, true);
    bool relu = a.i(20) != 0;
    float* x = a.f32(1, g.N * g.H * g.W * g.C);
    float* w = a.f32(2, g.KH * g.KW * g.C * g.O);
    float* b = a.f32(3, g.O, true);
    float* y = a.f32(4, g.N * g.OH * g.OW * g.O);
    bool hasBias = b != nullptr;
    std::string key = keyOf({1, g.N, g.H, g.W, g.C, g.KH, g.KW, g.O, g.OH, g.OW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, hasBias, relu});
    ConvFwd& e = cached<ConvFwd>(key, [&]() {
      auto e = std::make_unique<ConvFwd>();
      primitive_attr attr;
      if (relu) {
        dnnl::post_ops po;
        po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
        attr.set_post_ops(po);
      }
      dnnl::convolution_forward::primitive_desc pd(g.fwdDesc(hasBias, actAny), attr, eng());
      e->src.init(g.srcMd(tag::nhwc), pd.src_desc(), true);
      e->wei.init(g.weiMd(tag::hwio), pd.weights_desc(), true);
      e->dst.init(g.dstMd(tag::nhwc), pd.dst_desc(), false);
      e->prim = dnnl::convolution_forward(pd);
      e->args = {{DNNL_ARG_SRC, e->src.prim}, {DNNL_ARG_WEIGHTS, e->wei.prim}, {DNNL_ARG_DST, e->dst.prim}};
      if (hasBias) {
        e->bias = memory(g.biasMd(), eng(), DNNL_MEMORY_NONE);
        e->args[DNNL_ARG_BIAS] = e->bias;
      }
      return e;
    });
    e.src.in(x);
    e.wei.in(w);
    if (hasBias) e.bias.set_data_handle(b);
    e.dst.setOut(y);
    e.prim.execute(strm(), e.args);
    e.dst.out();
    strm().wait();
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput

struct ConvBwdData : Entry {
  Port diffDst, wei, diffSrc;
  dnnl::convolution_backward_data prim;
  std::unordered_map<int, memory> args;
};

// Few input channels (a first layer: 1 for grey images, 3 for colour): oneDNN's direct kernels pad
// the channels to 16 (16x the work for C = 1), so instead: one GEMM, cols[P, KH*KW*C] =
// dy[P, O] * filter[KH*KW*C, O]^T (P = N*OH*OW), then col2im adds each col into its input cell.
constexpr int64_t kSmallC = 4;

void convBackpropInputSmallC(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t P = g.N * g.OH * g.OW, KK = g.KH * g.KW * g.C, C = g.C;
  static std::vector<float> cols;
  if (cols.size() < static_cast<size_t>(P * KK)) cols.resize(P * KK);
  float* col = cols.data();
  if (dnnl_sgemm('N', 'T', P, KK, g.O, 1.f, dy, g.O, w, g.O, 0.f, col, KK) != dnnl_success)
    throw JsError("advtrain native: sgemm failed");
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < g.N; ++n) {
    float* dxn = dx + n * g.H * g.W * C;
    std::fill(dxn, dxn + g.H * g.W * C, 0.f);
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const float* cp = col + ((n * g.OH + oh) * g.OW + ow) * KK;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.sw - g.pl + kw * g.dw;
            if (iw < 0 || iw >= g.W) continue;
            float* o = dxn + (ih * g.W + iw) * C;
            const float* src = cp + (kh * g.KW + kw) * C;
            for (int64_t c = 0; c < C; ++c) o[c] += src[c];
          }
        }
      }
    }
  }
}

// The sparse gradient kernels (sparse_conv_grad.h) take over from oneDNN where dY has at most this
// share of nonzeros: about where they stop being faster than oneDNN's on madry-cnn's second
// convolution (input gradient 3.2 against 5.3 ms at 17% nonzero, 4.7 against 5.6 at 25%, 5.8
// against 5.4 at 30%; filter gradient 4.1 against 4.9 at 30%, 4.4 against 3.9 at 35%).
// $ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY overrides both, read at each call; 0 turns them off.
constexpr double kSparseInputDensity = 0.25, kSparseFilterDensity = 0.3;
// Calls and time of advtrain's own convolution-gradient kernels (for convGradStats()).
struct GradCounter {
  std::atomic<int64_t> calls{0}, ns{0};
};
GradCounter sparseGrad, fewChannelGrad;

struct GradTimer {
  GradCounter& c;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  explicit GradTimer(GradCounter& counter) : c(counter) {}
  ~GradTimer() {
    ++c.calls;
    c.ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  }
};

bool hasAvx512() {
  static const bool yes = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f") != 0);
  return yes;
}

// The geometry the few-channel kernels take (few_channel_conv_grad.h), or nullopt where they do not
// apply. $ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD=0 turns them off (read at each call, for A/B runs).
std::optional<fewchannel::Geom> fewChannelGeom(const ConvGeom& g) {
  const char* env = std::getenv("ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD");
  fewchannel::Geom f{g.N, g.H, g.W, g.C, g.OH, g.OW, g.O, g.KH, g.KW, g.sh, g.sw, g.pt, g.pl};
  if ((env && env[0] == '0') || !hasAvx512() || g.dh != 1 || g.dw != 1 || !fewchannel::applies(f)) return std::nullopt;
  return f;
}

// The geometry the sparse kernels take, or nullopt where they do not apply or dY is too dense.
std::optional<sparsegrad::Geom> sparseGradGeom(const ConvGeom& g, const float* dy, double defaultLimit) {
  const char* env = std::getenv("ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY");
  const double limit = env ? std::atof(env) : defaultLimit;
  sparsegrad::Geom s{g.N, g.H, g.W, g.C, g.OH, g.OW, g.O, g.KH, g.KW, g.pt, g.pl};
  if (!hasAvx512() || limit <= 0 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || !sparsegrad::applies(s)) return std::nullopt;
  if (sparsegrad::density(dy, g.N * g.OH * g.OW * g.O) > limit) return std::nullopt;
  return s;
}

// conv2dBackpropInput(heap, dy, filter, dx, N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl)
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 19);
    ConvGeom g = convGeom(a, 4, true);
    float* dy = a.f32(1, g.N * g.OH * g.OW * g.O);
    float* w = a.f32(2, g.KH * g.KW * g.C * g.O);
    float* dx = a.f32(3, g.N * g.H * g.W * g.C);
    if (auto fg = fewChannelGeom(g)) {
      GradTimer timer(fewChannelGrad);
      fewchannel::backpropInput(*fg, dy, w, dx);
      return undefinedValue(env);
    }
    if (auto sg = sparseGradGeom(g, dy, kSparseInputDensity); sg && sparsegrad::allFinite(w, g.KH * g.KW * g.C * g.O)) {
      GradTimer timer(sparseGrad);
      if (g.KH == 5) sparsegrad::backpropInput<5, 5>(*sg, dy, w, dx);
      else sparsegrad::backpropInput<3, 3>(*sg, dy, w, dx);
      return undefinedValue(env);
    }
    if (g.C <= kSmallC) {
      convBackpropInputSmallC(g, dy, w, dx);
      return undefinedValue(env);
    }
    std::string key = keyOf({2, g.N, g.H, g.W, g.C, g.KH, g.KW, g.O, g.OH, g.OW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl});
    ConvBwdData& e = cached<ConvBwdData>(key, [&]() {
      auto e = std::make_unique<ConvBwdData>();
      dnnl::convolution_forward::primitive_desc hint(g.fwdDesc(false, actAny), eng());
      const tag at = ConvGeom::act(actAny);
      dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, g.srcMd(at), g.weiMd(tag::any), g.dstMd(at),
                                              g.strides(), g.dil(), g.padL(), g.padR());
      dnnl::convolution_backward_data::primitive_desc pd(d, eng(), hint);
      e->diffDst.init(g.dstMd(tag::nhwc), pd.diff_dst_desc(), true);
      e->wei.init(g.weiMd(tag::hwio), pd.weights_desc(), true);
      e->diffSrc.init(g.srcMd(tag::nhwc), pd.diff_src_desc(), false);
      e->prim = dnnl::convolution_backward_data(pd);
      e->args = {{DNNL_ARG_DIFF_DST, e->diffDst.prim}, {DNNL_ARG_WEIGHTS, e->wei.prim}, {DNNL_ARG_DIFF_SRC, e->diffSrc.prim}};
      return e;
    });
    e.diffDst.in(dy);
    e.wei.in(w);
    e.diffSrc.setOut(dx);
    e.prim.execute(strm(), e.args);
    e.diffSrc.out();
    strm().wait();
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter (+ bias gradient)

struct ConvBwdWeights : Entry {
  Port src, diffDst, diffWei;
  memory diffBias;
  dnnl::convolution_backward_weights prim;
  std::unordered_map<int, memory> args;
};

// oneDNN's weight-gradient convolution reduces over threads with barriers that spin: when the
// cores are busy (other processes), a waiting thread spins out its time slice. Measured in one
// process on the 2-core machine under load, 2 threads vs 1: 4.9 vs 0.07 ms (mnist-small conv1,
// 6 MFLOP), 4.6 vs 0.38 ms (conv2, 51 MFLOP), 4.7 vs 1.3 ms (80 MFLOP), 4.0 vs 0.75 ms (116 MFLOP):
// a fixed ~4 ms. Below kCbfSerialFlops it therefore runs on one thread, where it costs at most
// ~1.5 ms even on an idle machine. ($ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS overrides it, for A/B runs.)
constexpr double kCbfSerialFlops = 2.56e8;

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
int threadsForFlops(double flops, double serialFlops, const char* env) {
  if (const char* e = std::getenv(env)) serialFlops = std::atof(e);
  return flops < serialFlops ? 1 : omp_get_max_threads();
}

// conv2dBackpropFilter(heap, x, dy, dw, dbias|-1, N,H,W,C, KH,KW,O, OH,OW, sh,sw, dh,dw, pt,pl)
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 20);
    ConvGeom g = convGeom(a, 5, true);
    const double flops = 2.0 * g.N * g.OH * g.OW * g.O * g.KH * g.KW * g.C;
    const int nt = threadsForFlops(flops, kCbfSerialFlops, "ADVTRAIN_NATIVE_CBF_SERIAL_FLOPS");
    OmpThreadsScope threads(nt);
    float* x = a.f32(1, g.N * g.H * g.W * g.C);
    float* dy = a.f32(2, g.N * g.OH * g.OW * g.O);
    float* dw = a.f32(3, g.KH * g.KW * g.C * g.O);
    float* db = a.f32(4, g.O, true);
    bool hasBias = db != nullptr;
    if (auto sg = sparseGradGeom(g, dy, kSparseFilterDensity); sg && sparsegrad::allFinite(x, g.N * g.H * g.W * g.C)) {
      GradTimer timer(sparseGrad);
      if (g.KH == 5) sparsegrad::backpropFilter<5, 5>(*sg, x, dy, dw, db);
      else sparsegrad::backpropFilter<3, 3>(*sg, x, dy, dw, db);
      return undefinedValue(env);
    }
    std::string key = keyOf({3, g.N, g.H, g.W, g.C, g.KH, g.KW, g.O, g.OH, g.OW, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, hasBias, nt});
    ConvBwdWeights& e = cached<ConvBwdWeights>(key, [&]() {
      auto e = std::make_unique<ConvBwdWeights>();
      dnnl::convolution_forward::primitive_desc hint(g.fwdDesc(hasBias, actAny), eng());
      const tag at = ConvGeom::act(actAny);
      auto d = hasBias ? dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, g.srcMd(at), g.weiMd(tag::any), g.biasMd(),
                                                                  g.dstMd(at), g.strides(), g.dil(), g.padL(), g.padR())
                       : dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, g.srcMd(at), g.weiMd(tag::any),
                                                                  g.dstMd(at), g.strides(), g.dil(), g.padL(), g.padR());
      dnnl::convolution_backward_weights::primitive_desc pd(d, eng(), hint);
      e->src.init(g.srcMd(tag::nhwc), pd.src_desc(), true);
      e->diffDst.init(g.dstMd(tag::nhwc), pd.diff_dst_desc(), true);
      e->diffWei.init(g.weiMd(tag::hwio), pd.diff_weights_desc(), false);
      e->prim = dnnl::convolution_backward_weights(pd);
      e->args = {{DNNL_ARG_SRC, e->src.prim}, {DNNL_ARG_DIFF_DST, e->diffDst.prim}, {DNNL_ARG_DIFF_WEIGHTS, e->diffWei.prim}};
      if (hasBias) {
        e->diffBias = memory(g.biasMd(), eng(), DNNL_MEMORY_NONE);
        e->args[DNNL_ARG_DIFF_BIAS] = e->diffBias;
      }
      return e;
    });
    e.src.in(x);
    e.diffDst.in(dy);
    e.diffWei.setOut(dw);
    if (hasBias) e.diffBias.set_data_handle(db);
    e.prim.execute(strm(), e.args);
    e.diffWei.out();
    strm().wait();
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// (Batch)MatMul: C[b] = op(A[b]) · op(B[b]) (+ bias[N]) (relu); A is [Ba, M, K] or [Ba, K, M]
// when transposed, B is [Bb, K, N] or [Bb, N, K]; a batch of 1 broadcasts.

struct MatMulEntry : Entry {
  memory src, wei, dst, bias;
  dnnl::matmul prim;
  std::unordered_map<int, memory> args;
};

// Small products run on one thread: waking the second one costs more than it saves (madry-cnn's
// 64x1024x10 products took 0.33 ms on two threads in a training step, 10-28 us alone).
// ($ADVTRAIN_NATIVE_MM_SERIAL_FLOPS overrides it, for A/B runs.)
constexpr double kMatMulSerialFlops = 4e6;

// matMul(heap, a, b, bias|-1, c, Ba, Bb, M, K, N, transposeA, transposeB, relu)
napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 13);
    int64_t Ba = a.i(5), Bb = a.i(6), M = a.i(7), K = a.i(8), N = a.i(9);
    bool tA = a.i(10) != 0, tB = a.i(11) != 0, relu = a.i(12) != 0;
    if (Ba <= 0 || Bb <= 0 || M <= 0 || K <= 0 || N <= 0 || (Ba != Bb && Ba != 1 && Bb != 1)) throw JsError("advtrain native: bad matmul shape");
    int64_t B = std::max(Ba, Bb);
    float* A = a.f32(1, Ba * M * K);
    float* Bm = a.f32(2, Bb * K * N);
    float* bias = a.f32(3, N, true);
    float* C = a.f32(4, B * M * N);
    bool hasBias = bias != nullptr;
    const int nt = threadsForFlops(2.0 * B * M * K * N, kMatMulSerialFlops, "ADVTRAIN_NATIVE_MM_SERIAL_FLOPS");
    OmpThreadsScope threads(nt);
    std::string key = keyOf({4, Ba, Bb, M, K, N, tA, tB, hasBias, relu, nt});
    MatMulEntry& e = cached<MatMulEntry>(key, [&]() {
      auto e = std::make_unique<MatMulEntry>();
      memory::desc aMd({Ba, M, K}, dt::f32, tA ? dims{M * K, 1, M} : dims{M * K, K, 1});
      memory::desc bMd({Bb, K, N}, dt::f32, tB ? dims{K * N, 1, K} : dims{K * N, N, 1});
      memory::desc cMd({B, M, N}, dt::f32, dims{M * N, N, 1});
      memory::desc biasMd({1, 1, N}, dt::f32, dims{N, N, 1});
      primitive_attr attr;
      if (relu) {
        dnnl::post_ops po;
        po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
        attr.set_post_ops(po);
      }
      auto d = hasBias ? dnnl::matmul::desc(aMd, bMd, biasMd, cMd) : dnnl::matmul::desc(aMd, bMd, cMd);
      dnnl::matmul::primitive_desc pd(d, attr, eng());
      e->src = memory(aMd, eng(), DNNL_MEMORY_NONE);
      e->wei = memory(bMd, eng(), DNNL_MEMORY_NONE);
      e->dst = memory(cMd, eng(), DNNL_MEMORY_NONE);
      e->prim = dnnl::matmul(pd);
      e->args = {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->wei}, {DNNL_ARG_DST, e->dst}};
      if (hasBias) {
        e->bias = memory(biasMd, eng(), DNNL_MEMORY_NONE);
        e->args[DNNL_ARG_BIAS] = e->bias;
      }
      return e;
    });
    e.src.set_data_handle(A);
    e.wei.set_data_handle(Bm);
    e.dst.set_data_handle(C);
    if (hasBias) e.bias.set_data_handle(bias);
    e.prim.execute(strm(), e.args);
    strm().wait();
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// MaxPool / MaxPoolGrad, NHWC, dilation 1. Same semantics as the tfjs cpu kernels: padded cells
// are skipped, the first strictly greatest cell of a window (row-major scan) wins.

struct PoolGeom {
  int64_t N, H, W, C, KH, KW, OH, OW, sh, sw, pt, pl;
};

PoolGeom poolGeom(const Args& a, size_t k) {
  PoolGeom g{};
  g.N = a.i(k++); g.H = a.i(k++); g.W = a.i(k++); g.C = a.i(k++);
  g.KH = a.i(k++); g.KW = a.i(k++); g.OH = a.i(k++); g.OW = a.i(k++);
  g.sh = a.i(k++); g.sw = a.i(k++); g.pt = a.i(k++); g.pl = a.i(k++);
  if (g.N <= 0 || g.H <= 0 || g.W <= 0 || g.C <= 0 || g.KH <= 0 || g.KW <= 0 || g.OH <= 0 || g.OW <= 0 || g.sh <= 0 || g.sw <= 0)
    throw JsError("advtrain native: bad pooling shape");
  return g;
}

// maxPool(heap, x, y, N,H,W,C, KH,KW, OH,OW, sh,sw, pt,pl)
napi_value MaxPool(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 15);
    PoolGeom g = poolGeom(a, 3);
    const float* x = a.f32(1, g.N * g.H * g.W * g.C);
    float* y = a.f32(2, g.N * g.OH * g.OW * g.C);
    const int64_t C = g.C;
    const float ninf = -std::numeric_limits<float>::infinity();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t r0 = std::max<int64_t>(0, oh * g.sh - g.pt), r1 = std::min<int64_t>(g.H, oh * g.sh - g.pt + g.KH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t c0 = std::max<int64_t>(0, ow * g.sw - g.pl), c1 = std::min<int64_t>(g.W, ow * g.sw - g.pl + g.KW);
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

// maxPoolGrad(heap, x, dy, dx, N,H,W,C, KH,KW, OH,OW, sh,sw, pt,pl)
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 16);
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
          const int64_t r0 = std::max<int64_t>(0, oh * g.sh - g.pt), r1 = std::min<int64_t>(H, oh * g.sh - g.pt + g.KH);
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const int64_t q0 = std::max<int64_t>(0, ow * g.sw - g.pl), q1 = std::min<int64_t>(W, ow * g.sw - g.pl + g.KW);
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
          const int64_t r0 = std::max<int64_t>(0, oh * g.sh - g.pt), r1 = std::min<int64_t>(H, oh * g.sh - g.pt + g.KH);
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const int64_t c0 = std::max<int64_t>(0, ow * g.sw - g.pl), c1 = std::min<int64_t>(W, ow * g.sw - g.pl + g.KW);
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

// avgPool(heap, x, y, N,H,W,C, KH,KW, OH,OW, sh,sw, pt,pl)
napi_value AvgPool(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 15);
    PoolGeom g = poolGeom(a, 3);
    const float* x = a.f32(1, g.N * g.H * g.W * g.C);
    float* y = a.f32(2, g.N * g.OH * g.OW * g.C);
    const int64_t C = g.C;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t r0 = std::max<int64_t>(0, oh * g.sh - g.pt), r1 = std::min<int64_t>(g.H, oh * g.sh - g.pt + g.KH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t c0 = std::max<int64_t>(0, ow * g.sw - g.pl), c1 = std::min<int64_t>(g.W, ow * g.sw - g.pl + g.KW);
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

// avgPoolGrad(heap, dy, dx, N,H,W,C, KH,KW, OH,OW, sh,sw, pt,pl)
napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 15);
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
        const int64_t r0 = std::max<int64_t>(0, oh * g.sh - g.pt), r1 = std::min<int64_t>(g.H, oh * g.sh - g.pt + g.KH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t c0 = std::max<int64_t>(0, ow * g.sw - g.pl), c1 = std::min<int64_t>(g.W, ow * g.sw - g.pl + g.KW);
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

// ---------------------------------------------------------------------------------------------
// Column sums: out[c] = sum over rows r of x[r, c] — the bias gradient (tfjs's Sum over every axis
// but the last). Threads sum row ranges into double partials, then the partials are added.

// Adds rows [r0, r1) of x into acc: float sums over blocks of 64 rows, 64 columns at a time, kept in
// registers (the portable loop below adds every row into acc in memory, 6 GB/s on the 6.4 MB bias
// gradient of madry-cnn's first layer), then added to the double partials.
__attribute__((target("avx512f"))) void sumRowsAvx512(const float* x, int64_t r0, int64_t r1, int64_t cols, double* acc) {
  for (int64_t c0 = 0; c0 < cols; c0 += 64) {
    const int64_t n = std::min<int64_t>(64, cols - c0);
    const int nq = static_cast<int>((n + 15) / 16);
    __mmask16 m[4];
    for (int q = 0; q < 4; ++q) {
      const int64_t left = n - 16 * q;
      m[q] = left >= 16 ? 0xffff : left <= 0 ? 0 : static_cast<__mmask16>((1u << left) - 1);
    }
    for (int64_t b = r0; b < r1; b += 64) {
      __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      const int64_t e = std::min(b + 64, r1);
      for (int64_t r = b; r < e; ++r) {
        const float* row = x + r * cols + c0;
        for (int q = 0; q < nq; ++q) s[q] = _mm512_add_ps(s[q], _mm512_maskz_loadu_ps(m[q], row + 16 * q));
      }
      alignas(64) float f[64];
      for (int q = 0; q < 4; ++q) _mm512_store_ps(f + 16 * q, s[q]);
      for (int64_t c = 0; c < n; ++c) acc[c0 + c] += f[c];
    }
  }
}

void sumRowsPortable(const float* x, int64_t r0, int64_t r1, int64_t cols, double* acc) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = x + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) acc[c] += row[c];
  }
}

// sumRows(heap, x, out, rows, cols)
napi_value SumRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    const int64_t rows = a.i(3), cols = a.i(4);
    if (rows <= 0 || cols <= 0) throw JsError("advtrain native: bad sumRows shape");
    const float* x = a.f32(1, rows * cols);
    float* out = a.f32(2, cols);
    const int nt = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(rows / 64) + 1));
    std::vector<double> part(static_cast<size_t>(nt) * cols, 0.0);
    const bool avx512 = hasAvx512();
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t r0 = rows * t / T, r1 = rows * (t + 1) / T;
      double* acc = part.data() + static_cast<size_t>(t) * cols;
      (avx512 ? sumRowsAvx512 : sumRowsPortable)(x, r0, r1, cols, acc);
    }
    for (int64_t c = 0; c < cols; ++c) {
      double s = 0;
      for (int t = 0; t < nt; ++t) s += part[static_cast<size_t>(t) * cols + c];
      out[c] = static_cast<float>(s);
    }
    return undefinedValue(env);
  });
}

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

const bool haveAvx = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx") != 0;
}();

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

// ---------------------------------------------------------------------------------------------
// Element-wise kernels of a training step that tfjs runs single-threaded in wasm: ReLU, its
// gradient, and bias (broadcast) addition. Each gives exactly what tfjs's cpu kernels give (same
// float32 operation; NaN and -0 pass through ReLU as in tfjs). Small tensors run on one thread:
// waking the others costs more than they save.

constexpr int64_t kParallelMin = 262144;  // measured: below ~256K floats a second thread costs more than it saves

int threadsFor(int64_t n) {
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

// relu: tfjs's cpu kernel is Math.max(0, x): +0 for -0 and for negatives, NaN stays NaN.
inline float reluOf(float x) { return x > 0.f || std::isnan(x) ? x : 0.f; }
__attribute__((target("avx"))) void reluAvx(const float* x, float* y, int64_t i0, int64_t i1) {
  const __m256 z = _mm256_setzero_ps();
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    const __m256 keep = _mm256_or_ps(_mm256_cmp_ps(xv, z, _CMP_GT_OQ), _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
    _mm256_storeu_ps(y + i, _mm256_and_ps(xv, keep));
  }
  for (; i < i1; ++i) y[i] = reluOf(x[i]);
}
void reluPortable(const float* x, float* y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) y[i] = reluOf(x[i]);
}

// reluGrad: dx = dy * step(x), step(x) = x > 0 ? 1 : 0 (NaN for NaN) — tfjs's mul(dy, cast(step(x))).
inline float stepOf(float x) { return std::isnan(x) ? x : x > 0.f ? 1.f : 0.f; }
__attribute__((target("avx"))) void reluGradAvx(const float* dy, const float* x, float* dx, int64_t i0, int64_t i1) {
  const __m256 z = _mm256_setzero_ps(), one = _mm256_set1_ps(1.f);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    __m256 st = _mm256_and_ps(_mm256_cmp_ps(xv, z, _CMP_GT_OQ), one);
    st = _mm256_blendv_ps(st, xv, _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
    _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), st));
  }
  for (; i < i1; ++i) dx[i] = dy[i] * stepOf(x[i]);
}
void reluGradPortable(const float* dy, const float* x, float* dx, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) dx[i] = dy[i] * stepOf(x[i]);
}

// relu(heap, x, y, n)
napi_value Relu(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 4);
    const int64_t n = a.i(3);
    if (n <= 0) throw JsError("advtrain native: bad relu size");
    const float* x = a.f32(1, n);
    float* y = a.f32(2, n);
    parallelRanges(n, [&](int64_t i0, int64_t i1) { haveAvx ? reluAvx(x, y, i0, i1) : reluPortable(x, y, i0, i1); });
    return undefinedValue(env);
  });
}

// reluGrad(heap, dy, x, dx, n)
napi_value ReluGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 5);
    const int64_t n = a.i(4);
    if (n <= 0) throw JsError("advtrain native: bad reluGrad size");
    const float* dy = a.f32(1, n);
    const float* x = a.f32(2, n);
    float* dx = a.f32(3, n);
    parallelRanges(n, [&](int64_t i0, int64_t i1) { haveAvx ? reluGradAvx(dy, x, dx, i0, i1) : reluGradPortable(dy, x, dx, i0, i1); });
    return undefinedValue(env);
  });
}

// Max over one run of adjacent axes, x viewed as [outer, r, inner] (tfjs's Max; the global max
// pooling of text models reduces the middle axis, which tfjs's wasm kernel first transposes):
// y[o, i] = max over k of x[o, k, i], NaN if any element is NaN (as tfjs's cpu kernel).

// Threads for `rows` rows of `perRow` floats each: threadsFor's measured threshold, at most one per row.
int rowThreads(int64_t rows, int64_t perRow) {
  return static_cast<int>(std::min<int64_t>(threadsFor(rows * perRow), rows));
}

// reduceMax(heap, x, y, outer, r, inner)
napi_value ReduceMax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    const int64_t outer = a.i(3), r = a.i(4), inner = a.i(5);
    if (outer <= 0 || r <= 0 || inner <= 0) throw JsError("advtrain native: bad reduceMax shape");
    const float* x = a.f32(1, outer * r * inner);
    float* y = a.f32(2, outer * inner);
    const int nt = rowThreads(outer, r * inner);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* xo = x + o * r * inner;
      float* yo = y + o * inner;
      std::memcpy(yo, xo, static_cast<size_t>(inner) * 4);
      for (int64_t k = 1; k < r; ++k) {
        const float* xk = xo + k * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
          const float v = xk[i], m = yo[i];
          yo[i] = (v > m || v != v) ? v : m;
        }
      }
    }
    return undefinedValue(env);
  });
}

// maxGrad(heap, dy, x, y, dx, outer, r, inner): dx[o, k, i] = dy[o, i] * (x[o, k, i] == y[o, i]),
// tfjs's gradient of Max (every element equal to the maximum gets the gradient) in one pass.
napi_value MaxGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 8);
    const int64_t outer = a.i(5), r = a.i(6), inner = a.i(7);
    if (outer <= 0 || r <= 0 || inner <= 0) throw JsError("advtrain native: bad maxGrad shape");
    const float* dy = a.f32(1, outer * inner);
    const float* x = a.f32(2, outer * r * inner);
    const float* y = a.f32(3, outer * inner);
    float* dx = a.f32(4, outer * r * inner);
    const int nt = rowThreads(outer, r * inner);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; ++o) {
      const float* yo = y + o * inner;
      const float* go = dy + o * inner;
      for (int64_t k = 0; k < r; ++k) {
        const float* xk = x + (o * r + k) * inner;
        float* dk = dx + (o * r + k) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) dk[i] = go[i] * (xk[i] == yo[i] ? 1.0f : 0.0f);
      }
    }
    return undefinedValue(env);
  });
}

// addBias(heap, x, b, y, rows, cols): y[r, c] = x[r, c] + b[c] (b has cols elements; rows = 1 is a
// plain element-wise sum of equal shapes).
__attribute__((target("avx"))) void addRowAvx(const float* x, const float* b, float* y, int64_t c0, int64_t c1) {
  int64_t c = c0;
  for (; c + 8 <= c1; c += 8) _mm256_storeu_ps(y + c, _mm256_add_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(b + c)));
  for (; c < c1; ++c) y[c] = x[c] + b[c];
}
void addRowPortable(const float* x, const float* b, float* y, int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) y[c] = x[c] + b[c];
}

napi_value AddBias(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 6);
    const int64_t rows = a.i(4), cols = a.i(5);
    if (rows <= 0 || cols <= 0) throw JsError("advtrain native: bad addBias shape");
    const float* x = a.f32(1, rows * cols);
    const float* b = a.f32(2, cols);
    float* y = a.f32(3, rows * cols);
    const auto row = haveAvx ? addRowAvx : addRowPortable;
    if (rows == 1) {
      parallelRanges(cols, [&](int64_t c0, int64_t c1) { row(x, b, y, c0, c1); });
    } else {
      const int nt = threadsFor(rows * cols);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
      for (int64_t r = 0; r < rows; ++r) row(x + r * cols, b, y + r * cols, 0, cols);
    }
    return undefinedValue(env);
  });
}

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

inline napi_value numberValue(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
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

// ---------------------------------------------------------------------------------------------
// Threads, info, cache

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, false);
    int64_t n = a.i(0);
    if (n < 1 || n > 1024) throw JsError("advtrain native: threads must be between 1 and 1024");
    omp_set_num_threads(static_cast<int>(n));
    return undefinedValue(env);
  });
}

// setFlushDenormals(on): flush denormal floats to zero in the engine's kernels (default) or keep them.
napi_value SetFlushDenormals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = true;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, nullptr, "advtrain native: setFlushDenormals(on: boolean)");
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(callMutex);
  flushDenormals = on;
  return undefinedValue(env);
}

napi_value GetFlushDenormals(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, flushDenormals, &v);
  return v;
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, omp_get_max_threads(), &v);
  return v;
}

// setLayout(blocked: boolean): convolutions in oneDNN's preferred blocked layouts (with reorders)
// or directly in NHWC. Clears the primitive cache.
napi_value SetLayout(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, false);
    bool v = false;
    if (napi_get_value_bool(env, a.argv[0], &v) != napi_ok) throw JsError("advtrain native: setLayout takes a boolean");
    actAny = v;
    cache.clear();
    return undefinedValue(env);
  });
}

// setVerbose(level): oneDNN's verbose mode from now on (0 off, 1 one line per primitive run with
// its time in ms, on stdout), as ONEDNN_VERBOSE sets it for a whole process: lets a bench time
// the primitives of chosen steps only.
napi_value SetVerbose(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 1, false);
    int64_t level = a.i(0);
    if (level < 0 || level > 2) throw JsError("advtrain native: verbose level must be 0, 1 or 2");
    if (dnnl_set_verbose(static_cast<int>(level)) != dnnl_success) throw JsError("advtrain native: oneDNN refused verbose mode");
    return undefinedValue(env);
  });
}

// convGradStats(): {sparse: {calls, ms}, fewChannel: {calls, ms}}: the convolution gradients
// advtrain's own kernels computed since the load, and the time they took.
napi_value ConvGradStats(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
  const std::pair<const char*, GradCounter*> kinds[] = {{"sparse", &sparseGrad}, {"fewChannel", &fewChannelGrad}};
  for (const auto& [name, c] : kinds) {
    napi_value k, calls, ms;
    napi_create_object(env, &k);
    napi_create_double(env, static_cast<double>(c->calls.load()), &calls);
    napi_create_double(env, static_cast<double>(c->ns.load()) / 1e6, &ms);
    napi_set_named_property(env, k, "calls", calls);
    napi_set_named_property(env, k, "ms", ms);
    napi_set_named_property(env, o, name, k);
  }
  return o;
}

napi_value ClearCache(napi_env env, napi_callback_info) {
  std::lock_guard<std::mutex> lock(callMutex);
  cache.clear();
  return undefinedValue(env);
}

napi_value CacheSize(napi_env env, napi_callback_info) {
  std::lock_guard<std::mutex> lock(callMutex);
  napi_value v;
  napi_create_int32(env, static_cast<int32_t>(cache.size()), &v);
  return v;
}

napi_value Info(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    const dnnl_version_t* v = dnnl::version();
    napi_value o, s;
    napi_create_object(env, &o);
    std::string ver = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    napi_create_string_utf8(env, ver.c_str(), NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, o, "onednn", s);
    const char* rt = v->cpu_runtime == DNNL_RUNTIME_OMP ? "openmp" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "tbb" : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential" : "other";
    napi_create_string_utf8(env, rt, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, o, "runtime", s);
    const char* isa = "unknown";
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
      case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
      case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
      case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
      case dnnl::cpu_isa::avx2_vnni: isa = "avx2_vnni"; break;
      case dnnl::cpu_isa::avx2: isa = "avx2"; break;
      case dnnl::cpu_isa::avx: isa = "avx"; break;
      case dnnl::cpu_isa::sse41: isa = "sse41"; break;
      default: break;
    }
    napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, o, "isa", s);
    return o;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"conv2d", Conv2D},
      {"conv2dBackpropInput", Conv2DBackpropInput},
      {"conv2dBackpropFilter", Conv2DBackpropFilter},
      {"matMul", MatMul},
      {"maxPool", MaxPool},
      {"maxPoolGrad", MaxPoolGrad},
      {"sumRows", SumRows},
      {"adamUpdate", AdamUpdate},
      {"sgdUpdate", SgdUpdate},
      {"relu", Relu},
      {"reluGrad", ReluGrad},
      {"reduceMax", ReduceMax},
      {"maxGrad", MaxGrad},
      {"addBias", AddBias},
      {"gather", Gather},
      {"unsortedSegmentSum", UnsortedSegmentSum},
      {"avgPool", AvgPool},
      {"avgPoolGrad", AvgPoolGrad},
      {"setThreads", SetThreads},
      {"getThreads", GetThreads},
      {"setFlushDenormals", SetFlushDenormals},
      {"getFlushDenormals", GetFlushDenormals},
      {"clearCache", ClearCache},
      {"setVerbose", SetVerbose},
      {"convGradStats", ConvGradStats},
      {"setLayout", SetLayout},
      {"cacheSize", CacheSize},
      {"info", Info},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
