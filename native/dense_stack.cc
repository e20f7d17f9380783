// The dense stack: a run of Dense layers (x · W + b, ReLU or not) — an MLP's whole forward pass,
// or its whole backward pass, in one call. tfjs runs a 3-layer MLP's input gradient as ~60 kernels
// (matmuls, bias adds, ReLUs and their gradients, reshapes, sums), each a crossing from JS with its
// own tensor bookkeeping; here the layers' matmuls run back to back on the same primitives as
// matMul (matmul.cc), the ReLU gradients are one pass over each hidden layer, and the hidden
// gradients live in scratch buffers that never become tensors.
//
// desc: a Float64Array of 4 numbers per layer, first layer first: [W byte offset, bias byte offset
// (-1: none), units, relu (0/1)]; W is [in, units] as tfjs stores a Dense kernel.
#include "common.h"
#include "kernels.h"
#include "ops.h"
#include "scratch.h"

#include <vector>

namespace advtrain {

const double* f64Array(const Args& a, size_t k, size_t* count);  // optimizers.cc

namespace {

struct Layer {
  const float* w;
  const float* b;
  int64_t in, units;
  bool relu;
};

std::vector<Layer> layersOf(const Args& a, size_t k, int64_t inDim) {
  size_t len = 0;
  const double* d = f64Array(a, k, &len);
  if (len == 0 || len % 4 != 0) throw JsError("advtrain native: a dense stack's desc must hold 4 numbers per layer");
  std::vector<Layer> ls;
  int64_t in = inDim;
  for (size_t j = 0; j < len; j += 4) {
    const int64_t units = static_cast<int64_t>(d[j + 2]);
    if (in <= 0 || units <= 0) throw JsError("advtrain native: bad dense stack shape");
    ls.push_back(Layer{a.at(d[j], in * units), d[j + 1] < 0 ? nullptr : a.at(d[j + 1], units), in, units, d[j + 3] != 0});
    in = units;
  }
  return ls;
}

// Sizes of the hidden activations h_1 … h_{L-1} (floats, for `batch` rows).
int64_t hiddenFloats(const std::vector<Layer>& ls, int64_t batch) {
  int64_t n = 0;
  for (size_t l = 0; l + 1 < ls.size(); ++l) n += batch * ls[l].units;
  return n;
}

// The stack's rows are split between threads, each running every layer on its own rows with serial
// primitives: one wake-up of the pool per call, no barrier between layers (per-matmul threading
// woke the pool for every product: 3 to 6 times per call, each a wait on a loaded machine). One
// thread below 4 MFLOP of forward work ($ADVTRAIN_NATIVE_STACK_SERIAL_FLOPS), at least 8 rows each.
int stackThreads(const std::vector<Layer>& ls, int64_t batch) {
  double flops = 0;
  for (const Layer& l : ls) flops += 2.0 * batch * l.in * l.units;
  const int nt = threadsForFlops(flops, 4e6, "ADVTRAIN_NATIVE_STACK_SERIAL_FLOPS");
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, batch / 8)));
}

inline int64_t rowBegin(int64_t batch, int t, int T) { return batch * t / T; }

// Runs body(t, r0, r1) for each thread's share of rows, in one parallel region.
template <typename F>
void overRows(int T, int64_t batch, F&& body) {
  if (T == 1) {
    body(0, int64_t(0), batch);
    return;
  }
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num();
    body(t, rowBegin(batch, t, T), rowBegin(batch, t + 1, T));
  }
}

// Where each layer's input starts in `acts` (floats; layer l >= 1 reads the output of layer l-1).
std::vector<int64_t> hiddenOffsets(const std::vector<Layer>& ls, int64_t batch) {
  std::vector<int64_t> o(ls.size() + 1, 0);
  for (size_t l = 1; l <= ls.size(); ++l) o[l] = o[l - 1] + (l == 1 ? 0 : batch * ls[l - 2].units);
  return o;
}

// Forward: logits into `out`, hidden activations (after the ReLU) one after the other into `acts`.
void forward(const std::vector<Layer>& ls, int64_t batch, const float* x, float* out, float* acts) {
  const size_t L = ls.size();
  const int T = stackThreads(ls, batch);
  std::vector<MatMulEntry*> mm(T * L);
  for (int t = 0; t < T; ++t)
    for (size_t l = 0; l < L; ++l)
      mm[t * L + l] = serialMatMul(rowBegin(batch, t + 1, T) - rowBegin(batch, t, T), ls[l].in, ls[l].units, false, false, ls[l].b != nullptr, ls[l].relu, t);
  const std::vector<int64_t> h = hiddenOffsets(ls, batch);
  overRows(T, batch, [&](int t, int64_t r0, int64_t) {
    for (size_t l = 0; l < L; ++l) {
      const Layer& Ly = ls[l];
      const float* in = l == 0 ? x + r0 * Ly.in : acts + h[l] + r0 * Ly.in;
      float* y = l + 1 == L ? out + r0 * Ly.units : acts + h[l + 1] + r0 * Ly.units;
      serialMatMulRun(mm[t * L + l], in, Ly.w, Ly.b, y);
    }
  });
}

// The batch, input width and layers of a dense stack call (arguments 1–3); a backward needs a
// linear last layer.
struct StackCall {
  int64_t batch, inDim;
  std::vector<Layer> ls;
};

StackCall stackCall(const Args& a, bool backward) {
  const int64_t batch = a.i(2), inDim = a.i(3);
  if (batch <= 0) throw JsError("advtrain native: bad dense stack batch");
  StackCall c{batch, inDim, layersOf(a, 1, inDim)};
  if (backward && c.ls.back().relu) throw JsError("advtrain native: a dense stack ending in a ReLU has no backward here");
  return c;
}

struct GradTag {};
struct RecomputeTag {};
struct ProbeTag {};

// The gradient of every layer's pre-activation (dz of the last layer is dy; the others go to `dz`,
// laid out as acts) and, where dx is given, of the input; rows split between threads.
void backwardRows(const std::vector<Layer>& ls, int64_t batch, int64_t inDim, const float* acts, const float* dy, float* dx, float* dz) {
  const size_t L = ls.size();
  const std::vector<int64_t> h = hiddenOffsets(ls, batch);
  auto dzOf = [&](size_t l) -> float* { return l + 1 == L ? const_cast<float*>(dy) : dz + h[l + 1]; };
  const int T = stackThreads(ls, batch);
  std::vector<MatMulEntry*> mm(T * L, nullptr);
  for (int t = 0; t < T; ++t)
    for (size_t l = (dx ? 0 : 1); l < L; ++l)
      mm[t * L + l] = serialMatMul(rowBegin(batch, t + 1, T) - rowBegin(batch, t, T), ls[l].units, ls[l].in, false, true, false, false, t);
  overRows(T, batch, [&](int t, int64_t r0, int64_t r1) {
    for (size_t l = L; l-- > 1;) {
      float* prev = dzOf(l - 1) + r0 * ls[l].in;
      serialMatMulRun(mm[t * L + l], dzOf(l) + r0 * ls[l].units, ls[l].w, nullptr, prev);
      // The ReLU gradient from the layer's output: h > 0 exactly where its input is > 0, and a
      // NaN stays NaN, as tfjs's step of the input gives.
      if (ls[l - 1].relu) reluGradRun(prev, acts + h[l] + r0 * ls[l].in, prev, (r1 - r0) * ls[l].in);
    }
    if (dx) serialMatMulRun(mm[t * L], dzOf(0) + r0 * ls[0].units, ls[0].w, nullptr, dx + r0 * inDim);
  });
}

}  // namespace

// denseStackForward(heap, desc, batch, inDim, x, out, acts): logits [batch, units of the last
// layer] into out and the hidden activations into acts (batch × units floats per hidden layer).
napi_value DenseStackForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7);
    const auto [batch, inDim, ls] = stackCall(a, false);
    const float* x = a.f32(4, batch * inDim);
    float* out = a.f32(5, batch * ls.back().units);
    float* acts = ls.size() > 1 ? a.f32(6, hiddenFloats(ls, batch)) : nullptr;
    forward(ls, batch, x, out, acts);
    return undefinedValue(env);
  });
}

// denseStackCrossEntropy(heap, desc, batch, inDim, x, labels, logits, loss, dx, success): an
// attack's cross-entropy probe in one call — the logits, each row's softmax cross-entropy against
// its int32 class index, the input gradient of their sum, and whether the row's prediction (the
// first largest logit, as tf.argMax) differs from its label (what tfjs's tape runs as 4 native
// calls, the tape's own work between them, and the ArgMax and NotEqual kernels after).
napi_value DenseStackCrossEntropy(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 10);
    const auto [batch, inDim, ls] = stackCall(a, true);
    const int64_t classes = ls.back().units, hidden = hiddenFloats(ls, batch);
    const float* x = a.f32(4, batch * inDim);
    const int32_t* labels = reinterpret_cast<const int32_t*>(a.f32(5, batch));
    float* logits = a.f32(6, batch * classes);
    float* loss = a.f32(7, batch);
    float* dx = a.f32(8, batch * inDim);
    uint8_t* success = a.u8(9, batch);
    // Scratch: the hidden activations, the logits' gradient, the hidden layers' gradients.
    float* buf = scratchmem::get<float, ProbeTag>(static_cast<size_t>(2 * hidden + batch * classes));
    float* acts = buf;
    float* dLogits = buf + hidden;
    forward(ls, batch, x, logits, acts);
    crossEntropyRowsRun(logits, labels, batch, classes, loss, dLogits);
    for (int64_t r = 0; r < batch; ++r) {
      const float* z = logits + r * classes;
      int32_t best = 0;
      for (int32_t j = 1; j < classes; ++j)
        if (z[j] > z[best]) best = j;
      success[r] = best != labels[r];
    }
    backwardRows(ls, batch, inDim, acts, dLogits, dx, dLogits + batch * classes);
    return undefinedValue(env);
  });
}

// denseStackBackward(heap, desc, batch, inDim, x, acts|-1, dy, dx|-1, grads|null): from dy (the
// gradient of the logits), the input gradient into dx and/or every layer's kernel and bias
// gradients into grads (a Float64Array [dW, db (-1: none)] per layer). acts: the hidden activations
// denseStackForward wrote; -1 recomputes them.
napi_value DenseStackBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 9);
    const auto [batch, inDim, ls] = stackCall(a, true);
    const size_t L = ls.size();
    const float* x = a.f32(4, batch * inDim);
    const int64_t hidden = hiddenFloats(ls, batch);
    const float* acts = L > 1 ? a.f32(5, hidden, true) : nullptr;
    const float* dy = a.f32(6, batch * ls.back().units);
    float* dx = a.f32(7, batch * inDim, true);
    std::vector<float*> dW(L, nullptr), db(L, nullptr);
    napi_valuetype gt;
    napi_typeof(env, a.argv[8], &gt);
    if (gt != napi_null && gt != napi_undefined) {
      size_t len = 0;
      const double* g = f64Array(a, 8, &len);
      if (len != 2 * L) throw JsError("advtrain native: a dense stack's grads must hold 2 offsets per layer");
      for (size_t l = 0; l < L; ++l) {
        dW[l] = a.at(g[2 * l], ls[l].in * ls[l].units);
        if (g[2 * l + 1] >= 0) db[l] = a.at(g[2 * l + 1], ls[l].units);
      }
    }
    const bool weights = dW[0] != nullptr;
    if (!weights && !dx) return undefinedValue(env);
    if (L > 1 && !acts) {  // recompute the activations (the forward's buffer was not kept)
      float* buf = scratchmem::get<float, RecomputeTag>(static_cast<size_t>(hidden + batch * ls.back().units));
      forward(ls, batch, x, buf + hidden, buf);
      acts = buf;
    }
    // Phase 1: every layer's dz (the hidden ones into scratch laid out as acts), and dx.
    const std::vector<int64_t> h = hiddenOffsets(ls, batch);
    float* dz = L > 1 ? scratchmem::get<float, GradTag>(static_cast<size_t>(hidden)) : nullptr;
    auto dzOf = [&](size_t l) -> const float* { return l + 1 == L ? dy : dz + h[l + 1]; };
    backwardRows(ls, batch, inDim, acts, dy, dx, dz);
    // Phase 2: each layer's kernel and bias gradient, a reduction over the rows (threaded per product).
    if (weights) {
      for (size_t l = 0; l < L; ++l) {
        const float* in = l == 0 ? x : acts + h[l];
        matMulRun(in, dzOf(l), nullptr, dW[l], 1, 1, ls[l].in, batch, ls[l].units, true, false, false);
        if (db[l]) sumRowsRun(dzOf(l), batch, ls[l].units, db[l]);
      }
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
