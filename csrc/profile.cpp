// Per-op timings (a RecordFunction observer) and per-node instrumentation
// of a graph, for `ipex-tune profile`.
#include "internal.h"

#include <ATen/record_function.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <tuple>
#include <vector>

using namespace itn;

namespace {

struct OpTiming {
  int64_t calls = 0;
  int64_t total_ns = 0;
  std::string out_shapes = "[]";
};

// Start time of an op, carried from the start callback to the end callback.
struct OpStart : at::ObserverContext {
  std::chrono::steady_clock::time_point start;
  bool top_level = false;
};

std::mutex profile_mutex;
// (name, shapes text, dtypes text) -> timing
std::map<std::tuple<std::string, std::string, std::string>, OpTiming> profile_ops;
std::optional<at::CallbackHandle> profile_handle;
// Depth of operator calls on this thread: only depth-0 calls are the
// graph's own ops (an aten::linear's inner addmm is part of the linear).
thread_local int profile_depth = 0;

std::string shapes_of(c10::ArrayRef<c10::IValue> values) {
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (const auto& value : values) {
    if (!value.isTensor()) continue;
    const auto& t = value.toTensor();
    out << (first ? "" : ",") << "[";
    if (t.defined()) {
      auto sizes = t.sizes();
      for (size_t i = 0; i < sizes.size(); ++i) out << (i ? "," : "") << sizes[i];
    }
    out << "]";
    first = false;
  }
  out << "]";
  return out.str();
}

std::string dtypes_text(const at::RecordFunction& fn) {
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (const auto& input : fn.inputs()) {
    if (!input.isTensor()) continue;
    const auto& t = input.toTensor();
    out << (first ? "" : ",") << json_escape(t.defined() ? std::string(c10::toString(t.scalar_type())) : "undefined");
    first = false;
  }
  out << "]";
  return out.str();
}

bool is_record_op(const at::RecordFunction& fn) {
  std::string name(fn.name());
  return name.rfind("profiler::_record_function", 0) == 0;
}

std::unique_ptr<at::ObserverContext> profile_enter(const at::RecordFunction& fn) {
  // The instrumentation's own enter/exit calls are not the model's ops.
  if (is_record_op(fn)) return nullptr;
  auto ctx = std::make_unique<OpStart>();
  ctx->top_level = profile_depth == 0;
  ++profile_depth;
  ctx->start = std::chrono::steady_clock::now();
  return ctx;
}

void profile_exit(const at::RecordFunction& fn, at::ObserverContext* raw) {
  auto end = std::chrono::steady_clock::now();
  auto* ctx = static_cast<OpStart*>(raw);
  if (!ctx) return;
  --profile_depth;
  if (!ctx->top_level) return;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(end - ctx->start).count();
  auto key = std::make_tuple(std::string(fn.name()), shapes_of(fn.inputs()), dtypes_text(fn));
  std::lock_guard<std::mutex> lock(profile_mutex);
  auto& timing = profile_ops[key];
  if (timing.calls == 0) timing.out_shapes = shapes_of(fn.outputs());
  timing.calls += 1;
  timing.total_ns += ns;
}

}  // namespace

int itn_profile_start(void) {
  return guarded<int>(-1, [&]() {
    std::lock_guard<std::mutex> lock(profile_mutex);
    TORCH_CHECK(!profile_handle.has_value(), "a profile is already running");
    profile_ops.clear();
    profile_handle = at::addGlobalCallback(at::RecordFunctionCallback(profile_enter, profile_exit)
                                               .needsInputs(true)
                                               .needsOutputs(true)
                                               .scopes({at::RecordScope::FUNCTION,
                                                        at::RecordScope::USER_SCOPE}));
    return 0;
  });
}

char* itn_profile_stop_json(void) {
  return guarded<char*>(nullptr, [&]() {
    std::lock_guard<std::mutex> lock(profile_mutex);
    TORCH_CHECK(profile_handle.has_value(), "no profile is running");
    at::removeCallback(*profile_handle);
    profile_handle.reset();
    std::ostringstream out;
    out << "[";
    bool first = true;
    for (const auto& [key, timing] : profile_ops) {
      out << (first ? "" : ",") << "{\"name\":" << json_escape(std::get<0>(key))
          << ",\"shapes\":" << std::get<1>(key) << ",\"dtypes\":" << std::get<2>(key)
          << ",\"out_shapes\":" << timing.out_shapes << ",\"calls\":" << timing.calls
          << ",\"total_ns\":" << timing.total_ns << "}";
      first = false;
    }
    out << "]";
    profile_ops.clear();
    return dup_string(out.str());
  });
}

itn_module* itn_module_instrument_nodes(const itn_module* m, const char* method) {
  return guarded<itn_module*>(nullptr, [&]() {
    auto copy = m->module.clone();
    auto graph = copy.get_method(method).graph();
    auto enter = c10::Symbol::fromQualString("profiler::_record_function_enter_new");
    auto exit = c10::Symbol::fromQualString("profiler::_record_function_exit");
    std::vector<torch::jit::Node*> nodes(graph->nodes().begin(), graph->nodes().end());
    int index = 0;
    for (auto* node : nodes) {
      auto kind = node->kind();
      if (kind == c10::prim::Constant || kind == c10::prim::GetAttr || kind == c10::prim::ListConstruct ||
          kind == c10::prim::TupleConstruct || kind == c10::prim::ListUnpack || kind == c10::prim::TupleUnpack ||
          kind == c10::prim::Return) {
        continue;
      }
      torch::jit::Value* record = nullptr;
      {
        torch::jit::WithInsertPoint before(node);
        auto name = graph->insertConstant(std::string(kind.toQualString()) + "#" + std::to_string(index++));
        record = graph->insert(enter, {name});
      }
      {
        torch::jit::WithInsertPoint after(node->next());
        graph->insert(exit, {record});
      }
    }
    return new itn_module{copy, m->run_autocast};
  });
}
