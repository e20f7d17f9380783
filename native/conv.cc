// Convolutions on oneDNN: Conv2D (+ bias, + relu), Conv2DBackpropInput and Conv2DBackpropFilter
// (+ bias gradient), with advtrain's own gradient kernels for few input channels and sparse dY.
#include "common.h"
#include "ops.h"
#include "primitive_cache.h"
#include "few_channel_conv_grad.h"
#include "sparse_conv_grad.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <vector>

namespace advtrain {

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

// The geometry the few-channel kernels take (few_channel_conv_grad.h), or nullopt where they do not
// apply. $ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD=0 turns them off (read at each call, for A/B runs).
std::optional<fewchannel::Geom> fewChannelGeom(const ConvGeom& g) {
  const char* env = std::getenv("ADVTRAIN_NATIVE_FEW_CHANNEL_GRAD");
  fewchannel::Geom f{g.N, g.H, g.W, g.C, g.OH, g.OW, g.O, g.KH, g.KW, g.sh, g.sw, g.pt, g.pl};
  if ((env && env[0] == '0') || !(hasAvx512() || hasAvx2Fma()) || g.dh != 1 || g.dw != 1 || !fewchannel::applies(f)) return std::nullopt;
  return f;
}

// The geometry the sparse kernels take, or nullopt where they do not apply or dY is too dense.
std::optional<sparsegrad::Geom> sparseGradGeom(const ConvGeom& g, const float* dy, double defaultLimit) {
  const char* env = std::getenv("ADVTRAIN_NATIVE_SPARSE_GRAD_DENSITY");
  const double limit = env ? std::atof(env) : defaultLimit;
  sparsegrad::Geom s{g.N, g.H, g.W, g.C, g.OH, g.OW, g.O, g.KH, g.KW, g.pt, g.pl};
  if (!(hasAvx512() || hasAvx2Fma()) || limit <= 0 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || !sparsegrad::applies(s)) return std::nullopt;
  if ((hasAvx512() ? sparsegrad::densityAvx512 : sparsegrad::avx2::density)(dy, g.N * g.OH * g.OW * g.O) > limit) return std::nullopt;
  return s;
}

// The sparse kernels on the widest vectors the CPU has.
template <int KH, int KW>
void sparseInput(const sparsegrad::Geom& g, const float* dy, const float* w, float* dx) {
  if (hasAvx512()) sparsegrad::backpropInput<KH, KW, sparsegrad::Avx512>(g, dy, w, dx);
  else sparsegrad::backpropInput<KH, KW, sparsegrad::Avx2>(g, dy, w, dx);
}
template <int KH, int KW>
void sparseFilter(const sparsegrad::Geom& g, const float* x, const float* dy, float* dw, float* db) {
  if (hasAvx512()) sparsegrad::backpropFilter<KH, KW, sparsegrad::Avx512>(g, x, dy, dw, db);
  else sparsegrad::backpropFilter<KH, KW, sparsegrad::Avx2>(g, x, dy, dw, db);
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
      (hasAvx512() ? fewchannel::backpropInputAvx512 : fewchannel::backpropInputAvx2)(*fg, dy, w, dx);
      return undefinedValue(env);
    }
    if (auto sg = sparseGradGeom(g, dy, kSparseInputDensity); sg && sparsegrad::allFinite(w, g.KH * g.KW * g.C * g.O)) {
      GradTimer timer(sparseGrad);
      if (g.KH == 5) sparseInput<5, 5>(*sg, dy, w, dx);
      else sparseInput<3, 3>(*sg, dy, w, dx);
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
      if (g.KH == 5) sparseFilter<5, 5>(*sg, x, dy, dw, db);
      else sparseFilter<3, 3>(*sg, x, dy, dw, db);
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


// convGradStats(): {sparse: {calls, ms}, fewChannel: {calls, ms}}: the convolution gradients
// advtrain's own kernels computed since the load, and the time they took.
napi_value ConvGradStats(napi_env env, napi_callback_info) {
  napi_value o;
  napi_create_object(env, &o);
  struct Kind {
    const char* name;
    GradCounter* c;
    bool available;
  };
  const Kind kinds[] = {{"sparse", &sparseGrad, hasAvx512() || hasAvx2Fma()}, {"fewChannel", &fewChannelGrad, hasAvx512() || hasAvx2Fma()}};
  for (const auto& [name, c, on] : kinds) {
    napi_value k, calls, ms, available;
    napi_create_object(env, &k);
    napi_get_boolean(env, on, &available);
    napi_set_named_property(env, k, "available", available);
    napi_create_double(env, static_cast<double>(c->calls.load()), &calls);
    napi_create_double(env, static_cast<double>(c->ns.load()) / 1e6, &ms);
    napi_set_named_property(env, k, "calls", calls);
    napi_set_named_property(env, k, "ms", ms);
    napi_set_named_property(env, o, name, k);
  }
  return o;
}

}  // namespace advtrain
