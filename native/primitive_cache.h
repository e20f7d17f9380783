// The oneDNN primitive cache (one primitive per shape, created at its first call) and Port, a
// tensor in tfjs's layout with the reorder to and from the layout a primitive prefers.
#pragma once

#include "common.h"

#include <memory>
#include <unordered_map>

namespace advtrain {

struct Entry {
  virtual ~Entry() = default;
};

inline std::unordered_map<std::string, std::unique_ptr<Entry>> cache;

// Activation layout the convolutions run in: false = NHWC as tfjs stores it (no reorders),
// true = whatever oneDNN prefers (blocked), with reorders from/to NHWC around each call.
inline bool actAny = false;

inline std::string keyOf(std::initializer_list<int64_t> xs) {
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


}  // namespace advtrain
