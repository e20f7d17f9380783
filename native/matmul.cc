// (Batch)MatMul and _FusedMatMul on oneDNN.
#include "common.h"
#include "ops.h"
#include "primitive_cache.h"
#include "kernels.h"

namespace advtrain {

// ---------------------------------------------------------------------------------------------
// (Batch)MatMul: C[b] = op(A[b]) · op(B[b]) (+ bias[N]) (relu); A is [Ba, M, K] or [Ba, K, M]
// when transposed, B is [Bb, K, N] or [Bb, N, K]; a batch of 1 broadcasts.

struct MatMulEntry : Entry {
  memory src, wei, dst, bias, scratch;
  dnnl::matmul prim;
  std::unordered_map<int, memory> args;
};

// Small products run on one thread: waking the second one costs more than it saves (madry-cnn's
// 64x1024x10 products took 0.33 ms on two threads in a training step, 10-28 us alone).
// ($ADVTRAIN_NATIVE_MM_SERIAL_FLOPS overrides it, for A/B runs.)
constexpr double kMatMulSerialFlops = 4e6;

// The primitive for one shape, with its memory objects (their data handles are set per call). With
// ownScratch, a scratchpad of its own (the entries of serialMatMul run concurrently).
std::unique_ptr<MatMulEntry> makeMatMul(int64_t Ba, int64_t Bb, int64_t M, int64_t K, int64_t N, bool tA, bool tB, bool hasBias, bool relu, bool ownScratch) {
  const int64_t B = std::max(Ba, Bb);
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
  if (ownScratch) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
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
  if (ownScratch) {
    e->scratch = memory(pd.scratchpad_desc(), eng());
    e->args[DNNL_ARG_SCRATCHPAD] = e->scratch;
  }
  return e;
}

void execMatMul(MatMulEntry& e, stream& s, const float* A, const float* Bm, const float* bias, float* C) {
  e.src.set_data_handle(const_cast<float*>(A));
  e.wei.set_data_handle(const_cast<float*>(Bm));
  e.dst.set_data_handle(C);
  if (bias) e.bias.set_data_handle(const_cast<float*>(bias));
  e.prim.execute(s, e.args);
  s.wait();
}

void matMulRun(const float* A, const float* Bm, const float* bias, float* C, int64_t Ba, int64_t Bb, int64_t M, int64_t K, int64_t N, bool tA, bool tB, bool relu) {
  const int64_t B = std::max(Ba, Bb);
  const bool hasBias = bias != nullptr;
  const int nt = threadsForFlops(2.0 * B * M * K * N, kMatMulSerialFlops, "ADVTRAIN_NATIVE_MM_SERIAL_FLOPS");
  OmpThreadsScope threads(nt);
  std::string key = keyOf({4, Ba, Bb, M, K, N, tA, tB, hasBias, relu, nt});
  MatMulEntry& e = cached<MatMulEntry>(key, [&]() { return makeMatMul(Ba, Bb, M, K, N, tA, tB, hasBias, relu, false); });
  execMatMul(e, strm(), A, Bm, bias, C);
}

MatMulEntry* serialMatMul(int64_t M, int64_t K, int64_t N, bool tA, bool tB, bool hasBias, bool relu, int slot) {
  OmpThreadsScope threads(1);
  std::string key = keyOf({5, M, K, N, tA, tB, hasBias, relu, slot});
  return &cached<MatMulEntry>(key, [&]() { return makeMatMul(1, 1, M, K, N, tA, tB, hasBias, relu, true); });
}

void serialMatMulRun(MatMulEntry* e, const float* A, const float* Bm, const float* bias, float* C) {
  static thread_local stream s(eng());
  execMatMul(*e, s, A, Bm, bias, C);
}

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
    matMulRun(A, Bm, bias, C, Ba, Bb, M, K, N, tA, tB, relu);
    return undefinedValue(env);
  });
}

}  // namespace advtrain
