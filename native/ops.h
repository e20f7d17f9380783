// The entry points of the native engine, one per JS function of the addon (registered in
// advtrain_native.cc), grouped by the file that defines them.
#pragma once

#include <node_api.h>

namespace advtrain {

// matmul.cc
napi_value MatMul(napi_env env, napi_callback_info info);

// dense_stack.cc
napi_value DenseStackForward(napi_env env, napi_callback_info info);
napi_value DenseStackBackward(napi_env env, napi_callback_info info);
napi_value DenseStackCrossEntropy(napi_env env, napi_callback_info info);

// cross_entropy.cc
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info);
napi_value SoftmaxCrossEntropyGrad(napi_env env, napi_callback_info info);

// conv.cc
napi_value Conv2D(napi_env env, napi_callback_info info);
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info);
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info);
napi_value ConvGradStats(napi_env env, napi_callback_info info);

// pooling.cc
napi_value MaxPool(napi_env env, napi_callback_info info);
napi_value MaxPoolGrad(napi_env env, napi_callback_info info);
napi_value AvgPool(napi_env env, napi_callback_info info);
napi_value AvgPoolGrad(napi_env env, napi_callback_info info);

// elementwise.cc
napi_value Relu(napi_env env, napi_callback_info info);
napi_value ReluGrad(napi_env env, napi_callback_info info);
napi_value AddBias(napi_env env, napi_callback_info info);

// reductions.cc
napi_value SumRows(napi_env env, napi_callback_info info);
napi_value SumTrailing(napi_env env, napi_callback_info info);
napi_value ReduceMax(napi_env env, napi_callback_info info);
napi_value MaxGrad(napi_env env, napi_callback_info info);

// embeddings.cc
napi_value Gather(napi_env env, napi_callback_info info);
napi_value UnsortedSegmentSum(napi_env env, napi_callback_info info);

// optimizers.cc
napi_value AdamUpdate(napi_env env, napi_callback_info info);
napi_value SgdUpdate(napi_env env, napi_callback_info info);

// fab_step.cc
napi_value FabStep(napi_env env, napi_callback_info info);

// runtime.cc
napi_value SetThreads(napi_env env, napi_callback_info info);
napi_value GetThreads(napi_env env, napi_callback_info info);
napi_value SetFlushDenormals(napi_env env, napi_callback_info info);
napi_value GetFlushDenormals(napi_env env, napi_callback_info info);
napi_value ClearCache(napi_env env, napi_callback_info info);
napi_value SetVerbose(napi_env env, napi_callback_info info);
napi_value SetLayout(napi_env env, napi_callback_info info);
napi_value CacheSize(napi_env env, napi_callback_info info);
napi_value Info(napi_env env, napi_callback_info info);

}  // namespace advtrain
