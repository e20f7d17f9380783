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

// Forward: logits into `out`, hidden activations (after the ReLU) one after the other into `acts`.
void forward(const std::vector<Layer>& ls, int64_t batch, const float* x, float* out, float* acts) {
  const float* in = x;
  float* h = acts;
  for (size_t l = 0; l < ls.size(); ++l) {
    const Layer& L = ls[l];
    float* y = l + 1 == ls.size() ? out : h;
    matMulRun(in, L.w, L.b, y, 1, 1, batch, L.in, L.units, false, false, L.relu);
    in = y;
    h += l + 1 == ls.size() ? 0 : batch * L.units;
  }
}

// g *= step(h): tfjs's ReLU gradient from the layer's output (h > 0 exactly where its input is > 0;
// NaN passes NaN, as tfjs's step does).
void maskRelu(float* g, const float* h, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = h[i];
    g[i] *= v > 0.f ? 1.f : (v != v ? v : 0.f);
  }
}

struct GradTag {};
struct RecomputeTag {};

}  // namespace

// denseStackForward(heap, desc, batch, inDim, x, out, acts): logits [batch, units of the last
// layer] into out and the hidden activations into acts (batch × units floats per hidden layer).
napi_value DenseStackForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a(env, info, 7);
    const int64_t batch = a.i(2), inDim = a.i(3);
    if (batch <= 0) throw JsError("advtrain native: bad dense stack batch");
    const std::vector<Layer> ls = layersOf(a, 1, inDim);
    const float* x = a.f32(4, batch * inDim);
    float* out = a.f32(5, batch * ls.back().units);
    float* acts = ls.size() > 1 ? a.f32(6, hiddenFloats(ls, batch)) : nullptr;
    forward(ls, batch, x, out, acts);
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
    const int64_t batch = a.i(2), inDim = a.i(3);
    if (batch <= 0) throw JsError("advtrain native: bad dense stack batch");
    const std::vector<Layer> ls = layersOf(a, 1, inDim);
    const size_t L = ls.size();
    if (ls.back().relu) throw JsError("advtrain native: a dense stack ending in a ReLU has no backward here");
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
    // Where each layer's input lies: x, then the hidden activations.
    std::vector<const float*> inputs(L);
    {
      const float* h = acts;
      inputs[0] = x;
      for (size_t l = 1; l < L; ++l) {
        inputs[l] = h;
        h += batch * ls[l - 1].units;
      }
    }
    int64_t widest = 0;
    for (const Layer& l : ls) widest = std::max(widest, l.units);
    // Two scratch gradients, ping-pong: g holds the gradient of layer l's pre-activation.
    float* gA = scratchmem::get<float, GradTag>(static_cast<size_t>(2 * batch * widest));
    float* gB = gA + batch * widest;
    const float* g = dy;
    for (size_t l = L; l-- > 0;) {
      const Layer& Ly = ls[l];
      if (weights) {
        matMulRun(inputs[l], g, nullptr, dW[l], 1, 1, Ly.in, batch, Ly.units, true, false, false);
        if (db[l]) sumRowsRun(g, batch, Ly.units, db[l]);
      }
      if (l == 0) {
        if (dx) matMulRun(g, Ly.w, nullptr, dx, 1, 1, batch, Ly.units, Ly.in, false, true, false);
        break;
      }
      float* next = g == gA ? gB : gA;
      matMulRun(g, Ly.w, nullptr, next, 1, 1, batch, Ly.units, Ly.in, false, true, false);
      if (ls[l - 1].relu) maskRelu(next, inputs[l], batch * Ly.in);
      g = next;
    }
    return undefinedValue(env);
  });
}

}  // namespace advtrain
