// Loading, running and saving modules; the error message every entry point
// leaves; the build facts; libtorch's thread count.
#include "internal.h"

#include <dlfcn.h>

#include <ATen/Config.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/jit/passes/autocast.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <sstream>
#include <vector>

using namespace itn;

thread_local std::string itn::last_error;

std::string itn::json_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

namespace {

void flatten_outputs(const c10::IValue& v, std::vector<at::Tensor>& tensors, std::string& structure) {
  if (v.isTensor()) {
    tensors.push_back(v.toTensor());
    structure += "tensor";
  } else if (v.isTuple() || v.isList()) {
    const bool tuple = v.isTuple();
    structure += tuple ? "tuple(" : "list(";
    std::vector<c10::IValue> elements;
    if (tuple) {
      const auto& els = v.toTupleRef().elements();
      elements.assign(els.begin(), els.end());
    } else {
      auto list = v.toList();
      for (size_t i = 0; i < list.size(); ++i) {
        elements.push_back(list.get(i));
      }
    }
    for (size_t i = 0; i < elements.size(); ++i) {
      if (i > 0) {
        structure += ",";
      }
      flatten_outputs(elements[i], tensors, structure);
    }
    structure += ")";
  } else if (v.isGenericDict()) {
    // In the dict's order (insertion order, as Python made it): Hugging
    // Face's ModelOutput traced with return_dict, a detector's boxes/scores.
    structure += "dict(";
    bool first = true;
    for (const auto& entry : v.toGenericDict()) {
      if (!first) structure += ",";
      first = false;
      std::ostringstream key;
      if (entry.key().isString()) {
        key << entry.key().toStringRef();
      } else {
        key << entry.key();
      }
      // The structure's own punctuation cannot appear in a key.
      std::string name = key.str();
      for (auto& c : name) {
        if (c == '(' || c == ')' || c == ',' || c == ':') c = '_';
      }
      structure += name + ":";
      flatten_outputs(entry.value(), tensors, structure);
    }
    structure += ")";
  } else if (v.isNone()) {
    // An absent optional output (a scripted model's None cache): no tensor.
    structure += "none";
  } else {
    TORCH_CHECK(false, "unsupported output type ", v.tagKind(),
                ": ipex-tune compares tensor outputs (a tensor, or tuples, lists and dicts of them)");
  }
}

std::string named_tensors_json(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (const auto& [name, t] : tensors) {
    out << (first ? "" : ",") << "{\"name\":" << json_escape(name)
        << ",\"dtype\":" << json_escape(c10::toString(t.scalar_type())) << ",\"numel\":" << t.numel()
        << ",\"bytes\":" << t.numel() * static_cast<int64_t>(t.element_size()) << "}";
    first = false;
  }
  out << "]";
  return out.str();
}

// The call every itn_module_run makes (itn_set_call_arguments); empty:
// the input tensors are the arguments. One plan per process: a trial child
// runs one model's entry method.
struct CallSlot {
  enum Kind { Tensor, Value, Default, List, Tuple, Dict } kind = Value;
  c10::IValue value;
  // List and Tuple: how many of the inputs; Dict: the keys, one input each.
  size_t count = 0;
  std::vector<std::string> keys;
};
std::vector<CallSlot> call_slots;

std::vector<c10::IValue> call_stack(const c10::FunctionSchema& schema, itn_tensor* inputs, int n_inputs) {
  const auto& args = schema.arguments();
  const size_t first = !args.empty() && args[0].name() == "self" ? 1 : 0;
  TORCH_CHECK(args.size() - first == call_slots.size(), "the call has ", call_slots.size(),
              " argument(s); the method takes ", args.size() - first);
  std::vector<c10::IValue> stack;
  stack.reserve(call_slots.size());
  int next = 0;
  for (size_t i = 0; i < call_slots.size(); ++i) {
    const auto& slot = call_slots[i];
    switch (slot.kind) {
      case CallSlot::Tensor:
        TORCH_CHECK(next < n_inputs, "the call needs more input tensors than the ", n_inputs, " given");
        stack.emplace_back(*static_cast<at::Tensor*>(inputs[next++]));
        break;
      case CallSlot::Default: {
        const auto& arg = args[first + i];
        TORCH_CHECK(arg.default_value().has_value(), "argument '", arg.name(), "' has no default");
        stack.push_back(*arg.default_value());
        break;
      }
      case CallSlot::Value:
        stack.push_back(slot.value);
        break;
      case CallSlot::List:
      case CallSlot::Tuple:
      case CallSlot::Dict: {
        const size_t count = slot.kind == CallSlot::Dict ? slot.keys.size() : slot.count;
        TORCH_CHECK(next + static_cast<int>(count) <= n_inputs, "the call needs more input tensors than the ",
                    n_inputs, " given");
        std::vector<at::Tensor> items;
        for (size_t k = 0; k < count; ++k) {
          items.push_back(*static_cast<at::Tensor*>(inputs[next++]));
        }
        if (slot.kind == CallSlot::List) {
          stack.emplace_back(c10::List<at::Tensor>(items));
        } else if (slot.kind == CallSlot::Tuple) {
          stack.emplace_back(c10::ivalue::Tuple::create(std::vector<c10::IValue>(items.begin(), items.end())));
        } else {
          c10::Dict<std::string, at::Tensor> dict;
          for (size_t k = 0; k < count; ++k) {
            dict.insert(slot.keys[k], items[k]);
          }
          stack.emplace_back(dict);
        }
        break;
      }
    }
  }
  TORCH_CHECK(next == n_inputs, "the call takes ", next, " input tensor(s); ", n_inputs, " given");
  return stack;
}

}  // namespace

extern "C" {

const char* itn_last_error(void) { return last_error.empty() ? nullptr : last_error.c_str(); }

void itn_string_free(char* s) { std::free(s); }

char* itn_torch_build_json(void) {
  return guarded<char*>(nullptr, [&]() {
    std::ostringstream out;
    out << "{\"version\":" << json_escape(TORCH_VERSION)
        << ",\"version_major\":" << TORCH_VERSION_MAJOR << ",\"version_minor\":" << TORCH_VERSION_MINOR
        << ",\"mkldnn\":" << (at::hasMKLDNN() ? "true" : "false") << ",\"mkl\":" << (at::hasMKL() ? "true" : "false")
        << ",\"openmp\":" << (AT_PARALLEL_OPENMP ? "true" : "false")
        << ",\"cuda_compiled\":" << (at::hasCUDA() ? "true" : "false")
        << ",\"num_threads\":" << at::get_num_threads() << ",\"num_interop_threads\":" << at::get_num_interop_threads()
        << ",\"config\":" << json_escape(at::show_config()) << ",\"parallel_info\":" << json_escape(at::get_parallel_info())
        << "}";
    return dup_string(out.str());
  });
}

char* itn_libtorch_path(void) {
  return guarded<char*>(nullptr, [&]() {
    Dl_info info;
    // Any function defined in libtorch_cpu.so locates it.
    void* symbol = reinterpret_cast<void*>(&torch::jit::Inline);
    TORCH_CHECK(dladdr(symbol, &info) != 0 && info.dli_fname != nullptr, "dladdr failed for libtorch_cpu");
    return dup_string(info.dli_fname);
  });
}

itn_module* itn_module_load(const char* path) {
  return guarded<itn_module*>(nullptr, [&]() {
    auto module = torch::jit::load(path, at::kCPU);
    module.eval();
    return new itn_module{std::move(module)};
  });
}

itn_module* itn_module_load_with_shapes(const char* path) {
  return guarded<itn_module*>(nullptr, [&]() {
    // restore_shapes: the example inputs torch.jit.trace stored with the
    // module (traced_inputs.pkl, PyTorch >= 2.0) become the graph's input
    // types, e.g. 1x3x224x224 for a CNN whose adaptive pooling takes any size.
    // Only traced modules have them (libtorch warns on stderr otherwise).
    const bool traced = caffe2::serialize::PyTorchStreamReader(std::string(path)).hasRecord("traced_inputs.pkl");
    torch::jit::ExtraFilesMap extra_files;
    auto module = torch::jit::import_ir_module(std::make_shared<torch::jit::CompilationUnit>(), std::string(path),
                                               at::kCPU, extra_files, /*load_debug_files=*/true,
                                               /*restore_shapes=*/traced);
    module.eval();
    return new itn_module{std::move(module)};
  });
}

itn_module* itn_module_load_bytes(const char* data, size_t len) {
  return guarded<itn_module*>(nullptr, [&]() {
    std::istringstream stream(std::string(data, len));
    auto module = torch::jit::load(stream, at::kCPU);
    module.eval();
    return new itn_module{std::move(module)};
  });
}

// A file written by Python's torch.save: a tensor, a list/tuple of tensors
// (one batch), a list of such lists (several batches), or a dict of
// argument name -> tensor (one batch). Flattened into tensors, each with its
// batch index and name ("" when unnamed); `names` is newline-joined.
int itn_load_tensor_file(const char* data, size_t len, itn_tensor** tensors, int** batch_of, char** names,
                         int* n) {
  return guarded<int>(-1, [&]() {
    std::vector<char> bytes(data, data + len);
    auto value = torch::jit::pickle_load(bytes);
    std::vector<at::Tensor> found;
    std::vector<int> batches;
    std::string joined;
    auto add = [&](const c10::IValue& v, int batch, const std::string& name) {
      TORCH_CHECK(v.isTensor(), "expected tensors, found a ", v.tagKind());
      found.push_back(v.toTensor());
      batches.push_back(batch);
      joined += name + "\n";
    };
    auto items = [](const c10::IValue& v) -> c10::optional<std::vector<c10::IValue>> {
      if (v.isList()) return v.toListRef().vec();
      if (v.isTuple()) return v.toTupleRef().elements().vec();
      return c10::nullopt;
    };
    if (value.isTensor()) {
      add(value, 0, "");
    } else if (value.isGenericDict()) {
      for (const auto& entry : value.toGenericDict()) {
        TORCH_CHECK(entry.key().isString(), "dict keys must be argument names");
        const std::string& name = entry.key().toStringRef();
        // A List/Tuple/Dict argument's tensors: "name.0", "name.key", as
        // the suite names the elements of such an argument.
        if (auto elements = items(entry.value())) {
          for (size_t k = 0; k < elements->size(); ++k) {
            add((*elements)[k], 0, name + "." + std::to_string(k));
          }
        } else if (entry.value().isGenericDict()) {
          for (const auto& inner : entry.value().toGenericDict()) {
            TORCH_CHECK(inner.key().isString(), "the keys of argument '", name, "' must be strings");
            add(inner.value(), 0, name + "." + inner.key().toStringRef());
          }
        } else {
          add(entry.value(), 0, name);
        }
      }
    } else if (auto outer = items(value)) {
      const bool nested = !outer->empty() && items((*outer)[0]).has_value();
      for (size_t b = 0; b < outer->size(); ++b) {
        if (nested) {
          auto inner = items((*outer)[b]);
          TORCH_CHECK(inner, "batch ", b, " is not a list of tensors");
          for (const auto& t : *inner) add(t, static_cast<int>(b), "");
        } else {
          add((*outer)[b], 0, "");
        }
      }
    } else {
      TORCH_CHECK(false, "expected a tensor, a list of tensors, a list of lists or a dict; found a ",
                  value.tagKind());
    }
    auto* out = static_cast<itn_tensor*>(std::malloc(sizeof(itn_tensor) * std::max<size_t>(found.size(), 1)));
    auto* of = static_cast<int*>(std::malloc(sizeof(int) * std::max<size_t>(found.size(), 1)));
    TORCH_CHECK(out != nullptr && of != nullptr, "out of memory");
    for (size_t i = 0; i < found.size(); ++i) {
      out[i] = new at::Tensor(found[i]);
      of[i] = batches[i];
    }
    *tensors = out;
    *batch_of = of;
    *names = dup_string(joined);
    *n = static_cast<int>(found.size());
    return 0;
  });
}

void itn_module_free(itn_module* m) { delete m; }

char* itn_module_tensors_json(const itn_module* m) {
  return guarded<char*>(nullptr, [&]() {
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& p : m->module.named_parameters(/*recurse=*/true)) {
      params.emplace_back(p.name, p.value);
    }
    std::vector<std::pair<std::string, at::Tensor>> buffers;
    for (const auto& b : m->module.named_buffers(/*recurse=*/true)) {
      buffers.emplace_back(b.name, b.value);
    }
    return dup_string("{\"parameters\":" + named_tensors_json(params) + ",\"buffers\":" + named_tensors_json(buffers) +
                      "}");
  });
}

int itn_set_call_arguments(const char* plan) {
  return guarded<int>(-1, [&]() {
    std::vector<CallSlot> slots;
    std::istringstream lines(plan);
    for (std::string line; std::getline(lines, line);) {
      const auto space = line.find(' ');
      const std::string kind = line.substr(0, space);
      const std::string text = space == std::string::npos ? "" : line.substr(space + 1);
      CallSlot slot;
      if (kind == "tensor") {
        slot.kind = CallSlot::Tensor;
      } else if (kind == "default") {
        slot.kind = CallSlot::Default;
      } else if (kind == "int") {
        slot.value = static_cast<int64_t>(std::stoll(text));
      } else if (kind == "float") {
        slot.value = std::stod(text);
      } else if (kind == "bool") {
        slot.value = text == "1";
      } else if (kind == "str") {
        slot.value = text;
      } else if (kind == "none") {
        slot.value = c10::IValue();
      } else if (kind == "list" || kind == "tuple") {
        slot.kind = kind == "list" ? CallSlot::List : CallSlot::Tuple;
        slot.count = static_cast<size_t>(std::stoull(text));
      } else if (kind == "dict") {
        slot.kind = CallSlot::Dict;
        std::istringstream keys(text);
        for (std::string key; keys >> key;) {
          slot.keys.push_back(key);
        }
      } else {
        TORCH_CHECK(false, "call argument '", line,
                    "': expected tensor, default, int, float, bool, str, none, list, tuple or dict");
      }
      slots.push_back(std::move(slot));
    }
    call_slots = std::move(slots);
    return 0;
  });
}

// CPU autocast around one call, as `with torch.autocast("cpu", dtype)`:
// every op dispatches through the autocast policy (IPEX's, for its own ops,
// when its library is loaded). The JIT's autocast pass stays off meanwhile,
// so the executor does not also write casts into the graph.
class RunAutocast {
 public:
  explicit RunAutocast(at::ScalarType dtype) : active_(dtype != at::ScalarType::Undefined) {
    if (!active_) return;
    was_enabled_ = at::autocast::is_autocast_enabled(at::kCPU);
    was_dtype_ = at::autocast::get_autocast_dtype(at::kCPU);
    was_jit_pass_ = torch::jit::setAutocastMode(false);
    at::autocast::set_autocast_enabled(at::kCPU, true);
    at::autocast::set_autocast_dtype(at::kCPU, dtype);
  }
  ~RunAutocast() {
    if (!active_) return;
    at::autocast::set_autocast_enabled(at::kCPU, was_enabled_);
    at::autocast::set_autocast_dtype(at::kCPU, was_dtype_);
    torch::jit::setAutocastMode(was_jit_pass_);
  }
  RunAutocast(const RunAutocast&) = delete;
  RunAutocast& operator=(const RunAutocast&) = delete;

 private:
  bool active_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
  bool was_jit_pass_ = true;
};

int itn_module_set_run_autocast(itn_module* m, int scalar_type) {
  return guarded<int>(-1, [&]() {
    m->run_autocast = static_cast<at::ScalarType>(scalar_type);
    return 0;
  });
}

int itn_module_run(itn_module* m, const char* method, itn_tensor* inputs, int n_inputs, itn_tensor** outputs,
                   int* n_outputs, char** structure) {
  return guarded<int>(-1, [&]() {
    c10::NoGradGuard no_grad;
    RunAutocast autocast(m->run_autocast);
    auto function = method_of(m->module, method);
    std::vector<c10::IValue> stack;
    if (call_slots.empty()) {
      stack.reserve(n_inputs);
      for (int i = 0; i < n_inputs; ++i) {
        stack.emplace_back(*static_cast<at::Tensor*>(inputs[i]));
      }
    } else {
      stack = call_stack(function.function().getSchema(), inputs, n_inputs);
    }
    auto result = function(std::move(stack));
    std::vector<at::Tensor> tensors;
    std::string shape;
    flatten_outputs(result, tensors, shape);
    auto* out = static_cast<itn_tensor*>(std::malloc(sizeof(itn_tensor) * std::max<size_t>(tensors.size(), 1)));
    TORCH_CHECK(out != nullptr, "out of memory");
    for (size_t i = 0; i < tensors.size(); ++i) {
      out[i] = new at::Tensor(std::move(tensors[i]));
    }
    *outputs = out;
    *n_outputs = static_cast<int>(tensors.size());
    *structure = dup_string(shape);
    return 0;
  });
}

itn_module* itn_module_freeze(const itn_module* m, const char* method) {
  return guarded<itn_module*>(nullptr, [&]() {
    TORCH_CHECK(!m->module.hasattr("training") || !m->module.is_training(),
                "freezing needs a module in eval mode");
    std::vector<std::string> preserved;
    // freeze_module keeps `forward` and the methods named here; everything
    // else is inlined or dropped. A custom entry method (the Known Issues'
    // `inference` example) must be preserved explicitly.
    if (std::strcmp(method, "forward") != 0) {
      preserved.emplace_back(method);
    }
    return new itn_module{torch::jit::freeze_module(m->module, preserved)};
  });
}

int itn_module_save(const itn_module* m, const char* path) {
  return guarded<int>(-1, [&]() {
    m->module.save(path);
    return 0;
  });
}

int itn_module_copy_attributes(const itn_module* from, itn_module* to, const char* paths) {
  return guarded<int>(-1, [&]() {
    // Each dotted path's value in `from`, deep-copied into the same path of
    // `to`; a path `to` does not have (a pass folded it away) is skipped.
    const auto owner = [](c10::intrusive_ptr<c10::ivalue::Object> object, const std::vector<std::string>& names)
        -> c10::intrusive_ptr<c10::ivalue::Object> {
      for (size_t i = 0; i + 1 < names.size(); ++i) {
        if (!object->type()->hasAttribute(names[i])) return {};
        auto next = object->getAttr(names[i]);
        if (!next.isObject()) return {};
        object = next.toObject();
      }
      return object->type()->hasAttribute(names.back()) ? object : c10::intrusive_ptr<c10::ivalue::Object>();
    };
    int copied = 0;
    std::istringstream lines(paths);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      std::vector<std::string> names;
      std::istringstream parts(line);
      for (std::string name; std::getline(parts, name, '.');) names.push_back(name);
      auto source = owner(from->module._ivalue(), names);
      auto target = owner(to->module._ivalue(), names);
      if (!source || !target) continue;
      target->setAttr(names.back(), source->getAttr(names.back()).deepcopy());
      copied += 1;
    }
    return copied;
  });
}

int itn_set_num_threads(int n) {
  return guarded<int>(-1, [&]() {
    at::set_num_threads(n);
    return 0;
  });
}

int itn_get_num_threads(void) {
  return guarded<int>(-1, [&]() { return at::get_num_threads(); });
}

}  // extern "C"
