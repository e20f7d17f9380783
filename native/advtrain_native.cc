// advtrain native engine: hot TF.js kernels (NHWC float32) on oneDNN, reading and writing the
// tfjs wasm backend's heap in place (no copies); and the element-wise rest of a training step
// (ReLU and its gradient, bias adds, the Adam / SGD / momentum updates) and the embedding look-up
// and its gradient (gather, unsorted segment sum) as multithreaded loops.
//
// Every entry point takes the wasm heap (a Uint8Array over the wasm memory) and byte offsets into
// it, checks that every tensor lies inside the heap, and computes. oneDNN primitives are created
// once per shape and cached: oneDNN picks its own (blocked) layouts for convolutions and we reorder
// from/to the plain NHWC / HWIO layouts tfjs uses.
//
// This file registers the entry points (ops.h); each op family lives in its own file, as the wasm
// kernels do in src/engine/wasm-kernels/: matmul.cc, dense_stack.cc, cross_entropy.cc, conv.cc
// (with few_channel_conv_grad.h and sparse_conv_grad.h), pooling.cc, elementwise.cc,
// reductions.cc, embeddings.cc, optimizers.cc, fab_step.cc (FAB's host-side step, on JS arrays)
// and runtime.cc (threads, denormals, cache, version); common.h and primitive_cache.h hold what
// they share.

#include "ops.h"

namespace advtrain {
namespace {

napi_value Init(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"conv2d", Conv2D},
      {"conv2dBackpropInput", Conv2DBackpropInput},
      {"conv2dBackpropFilter", Conv2DBackpropFilter},
      {"matMul", MatMul},
      {"denseStackForward", DenseStackForward},
      {"denseStackBackward", DenseStackBackward},
      {"denseStackCrossEntropy", DenseStackCrossEntropy},
      {"softmaxCrossEntropy", SoftmaxCrossEntropy},
      {"softmaxCrossEntropyGrad", SoftmaxCrossEntropyGrad},
      {"maxPool", MaxPool},
      {"maxPoolGrad", MaxPoolGrad},
      {"sumRows", SumRows},
      {"sumTrailing", SumTrailing},
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
      {"fabStep", FabStep},
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
}  // namespace advtrain

NAPI_MODULE(NODE_GYP_MODULE_NAME, advtrain::Init)
