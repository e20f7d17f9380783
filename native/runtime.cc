// Threads, denormals, the primitive cache, oneDNN's verbose mode and version: the engine's settings.
#include "common.h"
#include "ops.h"
#include "primitive_cache.h"

namespace advtrain {

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

}  // namespace advtrain
