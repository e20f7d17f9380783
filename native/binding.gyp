{
  "targets": [
    {
      "target_name": "advtrain_native",
      "sources": [
        "advtrain_native.cc",
        "matmul.cc",
        "dense_stack.cc",
        "cross_entropy.cc",
        "conv.cc",
        "pooling.cc",
        "elementwise.cc",
        "reductions.cc",
        "embeddings.cc",
        "optimizers.cc",
        "fab_step.cc",
        "runtime.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fopenmp"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
