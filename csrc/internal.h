// What the shim's files share (not part of the C ABI, which is shim.h): the
// module handle, the error protection every entry point runs in, strings
// handed to Rust, and graph lookups. Each csrc/*.cpp owns one concern:
//   module.cpp         loading, running, saving; the error message; threads
//   inspect.cpp        what a model is: schemas, graph facts, input hints
//   passes.cpp         the frozen-graph passes, dtypes and layouts, fusers
//   quantize.cpp       graph-mode quantization: prepare, calibrate, convert
//   int8_like_ipex.cpp where IPEX's int8 recipe puts quantize/dequantize
//   profile.cpp        per-op timings and per-node instrumentation
//   aoti.cpp           the inductor backend: AOTInductor packages, loaded and run
#pragma once
#include "shim.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

struct itn_module {
  torch::jit::Module module;
  // Undefined, or the dtype CPU autocast runs every call in
  // (itn_module_set_run_autocast).
  at::ScalarType run_autocast = at::ScalarType::Undefined;
};

namespace itn {

// The message of the last failed call on this thread (module.cpp).
extern thread_local std::string last_error;

// A malloc'd copy, freed by the caller with itn_string_free.
inline char* dup_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, s.c_str(), s.size() + 1);
  }
  return out;
}

// Runs `f`, turning every C++ exception into the thread-local error message
// and `on_error` as the return value.
template <typename T, typename F>
T guarded(T on_error, F&& f) {
  try {
    last_error.clear();
    return f();
  } catch (const c10::Error& e) {
    // what_without_backtrace keeps the message to what the user can act on.
    last_error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return on_error;
}

// A JSON string literal of `s`.
std::string json_escape(const std::string& s);

inline torch::jit::Method method_of(const torch::jit::Module& m, const char* name) {
  auto found = m.find_method(name);
  TORCH_CHECK(found.has_value(), "the model has no method '", name, "'");
  return *found;
}

inline std::shared_ptr<torch::jit::Graph> inlined_graph(const torch::jit::Module& m, const char* method) {
  auto graph = method_of(m, method).graph()->copy();
  torch::jit::Inline(*graph);
  return graph;
}

// IPEX's int8 placement of quantize/dequantize pairs on a converted graph
// (int8_like_ipex.cpp), applied by quantize.cpp's convert.
void place_int8_like_ipex(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace itn
