// Implementation of csrc/shim.h. See the header for the conventions.
#include "shim.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/Config.h>
#include <ATen/Context.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/jit/passes/autocast.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_concat_linear.h>
#include <torch/csrc/jit/passes/frozen_conv_add_relu_fusion.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_transpose.h>
#include <torch/csrc/jit/passes/frozen_ops_to_mkldnn.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/onednn_graph_fuser.h>
#include <torch/csrc/jit/passes/quantization/finalize.h>
#include <torch/csrc/jit/passes/quantization/insert_observers.h>
#include <torch/csrc/jit/passes/quantization/insert_quant_dequant.h>
#include <torch/csrc/jit/passes/remove_dropout.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>
#include <ATen/record_function.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <algorithm>
#include <functional>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <sstream>

#include <caffe2/serialize/inline_container.h>
#include <string>
#include <unordered_set>
#include <vector>

// Declared here because the PyPI wheel does not ship
// torch/csrc/jit/codegen/fuser/interface.h, though libtorch_cpu.so exports them.
namespace torch::jit {
TORCH_API bool canFuseOnCPU();
TORCH_API void overrideCanFuseOnCPU(bool value);
}  // namespace torch::jit

struct itn_module {
  torch::jit::Module module;
};

namespace {

thread_local std::string last_error;

char* dup_string(const std::string& s) {
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

std::string json_escape(const std::string& s) {
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

torch::jit::Method method_of(const torch::jit::Module& m, const char* name) {
  auto found = m.find_method(name);
  TORCH_CHECK(found.has_value(), "the model has no method '", name, "'");
  return *found;
}

std::shared_ptr<torch::jit::Graph> inlined_graph(const torch::jit::Module& m, const char* method) {
  auto graph = method_of(m, method).graph()->copy();
  torch::jit::Inline(*graph);
  return graph;
}

// Ops that read tensor *values* into a scalar the interpreter can branch on.
// A branch whose condition flows from one of these is data-dependent control
// flow; conditions computed from sizes, dims, dtypes, attributes (such as
// `training`) or None checks are shape/structure guards instead.
bool reads_tensor_values(const torch::jit::Node* n) {
  static const std::unordered_set<std::string> readers = {
      "aten::Bool", "aten::Int", "aten::Float", "aten::item", "aten::is_nonzero",
      "aten::equal", "aten::allclose", "aten::ScalarImplicit", "aten::tolist"};
  if (readers.count(n->kind().toQualString()) == 0) {
    return false;
  }
  for (const auto* input : n->inputs()) {
    if (input->type()->isSubtypeOf(*c10::TensorType::get())) {
      return true;
    }
  }
  return false;
}

bool depends_on_tensor_values(const torch::jit::Value* v, std::unordered_set<const torch::jit::Value*>& seen) {
  if (!seen.insert(v).second) {
    return false;
  }
  const torch::jit::Node* producer = v->node();
  if (reads_tensor_values(producer)) {
    return true;
  }
  // Block parameters (loop-carried values) have the block's owning node as
  // producer (prim::Param); follow nothing further there.
  if (producer->kind() == c10::prim::Param) {
    return false;
  }
  for (const auto* input : producer->inputs()) {
    if (depends_on_tensor_values(input, seen)) {
      return true;
    }
  }
  return false;
}

// A branch only there to raise (dimension checks, unsupported-argument guards
// in scripted library modules).
bool block_only_raises(const torch::jit::Block* b) {
  for (const auto* n : b->nodes()) {
    if (n->kind() == c10::prim::RaiseException) {
      return true;
    }
  }
  return false;
}

struct GraphFacts {
  std::map<std::string, int64_t> ops;
  int64_t if_count = 0;
  int64_t loop_count = 0;
  int64_t raise_only_if_count = 0;
  int64_t data_dependent_if_count = 0;
  int64_t data_dependent_loop_count = 0;
  int64_t nodes = 0;
  int64_t max_block_depth = 0;
};

void collect_facts(const torch::jit::Block* block, GraphFacts& facts, int64_t depth) {
  facts.max_block_depth = std::max(facts.max_block_depth, depth);
  for (const auto* n : block->nodes()) {
    facts.nodes += 1;
    facts.ops[n->kind().toQualString()] += 1;
    if (n->kind() == c10::prim::If) {
      facts.if_count += 1;
      bool raises = false;
      for (const auto* b : n->blocks()) {
        raises = raises || block_only_raises(b);
      }
      if (raises) {
        facts.raise_only_if_count += 1;
      } else {
        std::unordered_set<const torch::jit::Value*> seen;
        if (depends_on_tensor_values(n->input(0), seen)) {
          facts.data_dependent_if_count += 1;
        }
      }
    } else if (n->kind() == c10::prim::Loop) {
      facts.loop_count += 1;
      // prim::Loop(max_trip_count, initial_condition, ...): a loop is
      // data-dependent if its trip count or its continuation condition (the
      // body's first output) reads tensor values.
      std::unordered_set<const torch::jit::Value*> seen;
      bool data_dependent = depends_on_tensor_values(n->input(0), seen) ||
                            depends_on_tensor_values(n->input(1), seen);
      if (!data_dependent && !n->blocks().empty()) {
        data_dependent = depends_on_tensor_values(n->blocks()[0]->outputs()[0], seen);
      }
      if (data_dependent) {
        facts.data_dependent_loop_count += 1;
      }
    }
    for (const auto* b : n->blocks()) {
      collect_facts(b, facts, depth + 1);
    }
  }
}

std::string graph_facts_json(const torch::jit::Graph& graph) {
  GraphFacts facts;
  collect_facts(graph.block(), facts, 0);
  std::ostringstream out;
  out << "{\"ops\":{";
  bool first = true;
  for (const auto& [kind, count] : facts.ops) {
    out << (first ? "" : ",") << json_escape(kind) << ":" << count;
    first = false;
  }
  out << "},\"control_flow\":{"
      << "\"if\":" << facts.if_count << ",\"loop\":" << facts.loop_count
      << ",\"raise_only_if\":" << facts.raise_only_if_count
      << ",\"data_dependent_if\":" << facts.data_dependent_if_count
      << ",\"data_dependent_loop\":" << facts.data_dependent_loop_count
      << ",\"max_block_depth\":" << facts.max_block_depth << "},\"nodes\":" << facts.nodes
      << ",\"inputs\":[";
  first = true;
  for (const auto* v : graph.inputs()) {
    out << (first ? "" : ",") << json_escape(v->type()->str());
    first = false;
  }
  out << "]}";
  return out.str();
}

std::string schema_json(const std::string& name, const c10::FunctionSchema& schema) {
  std::ostringstream out;
  out << "{\"name\":" << json_escape(name) << ",\"arguments\":[";
  bool first = true;
  for (const auto& arg : schema.arguments()) {
    if (arg.name() == "self") {
      continue;
    }
    out << (first ? "" : ",") << "{\"name\":" << json_escape(arg.name())
        << ",\"type\":" << json_escape(arg.type()->annotation_str())
        << ",\"has_default\":" << (arg.default_value().has_value() ? "true" : "false") << "}";
    first = false;
  }
  out << "],\"returns\":[";
  first = true;
  for (const auto& ret : schema.returns()) {
    out << (first ? "" : ",") << json_escape(ret.type()->annotation_str());
    first = false;
  }
  std::ostringstream text;
  text << schema;
  out << "],\"schema\":" << json_escape(text.str()) << "}";
  return out.str();
}

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
  } else {
    TORCH_CHECK(false, "unsupported output type ", v.tagKind(),
                ": ipex-tune compares tensor outputs (a tensor, or tuples/lists of tensors)");
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
        add(entry.value(), 0, entry.key().toStringRef());
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

char* itn_module_methods_json(const itn_module* m) {
  return guarded<char*>(nullptr, [&]() {
    std::ostringstream out;
    out << "[";
    bool first = true;
    for (const auto& method : m->module.get_methods()) {
      out << (first ? "" : ",") << schema_json(method.name(), method.function().getSchema());
      first = false;
    }
    out << "]";
    return dup_string(out.str());
  });
}

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

char* itn_module_graph_facts_json(const itn_module* m, const char* method) {
  return guarded<char*>(nullptr, [&]() { return dup_string(graph_facts_json(*inlined_graph(m->module, method))); });
}

// What the model says about its inputs' sizes: the sizes a traced graph
// recorded for each input, and what its first consumer (after pass-through
// ops) fixes: the feature size of an LSTM/GRU or linear layer, the channels
// of a convolution, the vocabulary of an embedding. Weights are read from a
// frozen copy, where they are constants.
namespace {

c10::optional<at::Tensor> const_tensor(torch::jit::Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (iv && iv->isTensor()) return iv->toTensor();
  return c10::nullopt;
}

struct InputHint {
  std::string consumer;
  int64_t dim = 0;  // 0: none; -1 last dim; 1 channels
  int64_t size = -1;
  int64_t bound = -1;
};

InputHint first_consumer_hint(torch::jit::Value* input) {
  static const std::unordered_set<std::string> pass = {"aten::to", "aten::contiguous", "aten::dropout",
                                                       "aten::detach", "aten::clone", "aten::type_as",
                                                       "aten::float"};
  std::vector<torch::jit::Value*> frontier{input};
  for (size_t k = 0; k < frontier.size() && k < 64; ++k) {
    for (const auto& use : frontier[k]->uses()) {
      auto* n = use.user;
      const std::string kind = n->kind().toQualString();
      InputHint h;
      h.consumer = kind;
      if (pass.count(kind) != 0 && use.offset == 0) {
        frontier.push_back(n->output());
        continue;
      }
      if ((kind == "aten::embedding" || kind == "aten::embedding_bag") && use.offset == 1) {
        if (auto w = const_tensor(n->input(0))) {
          h.bound = w->size(0);
          return h;
        }
      } else if ((kind == "aten::lstm" || kind == "aten::gru" || kind == "aten::rnn_tanh" ||
                  kind == "aten::rnn_relu") &&
                 use.offset == 0 && n->inputs().size() > 2) {
        // The weights: a constant Tensor[] after freezing, or a list of
        // constants. weight_ih_l0 is [gates x hidden, input_size].
        c10::optional<at::Tensor> w;
        if (auto list = torch::jit::toIValue(n->input(2)); list && list->isTensorList() &&
                                                             !list->toTensorList().empty()) {
          w = list->toTensorList().get(0);
        } else if (auto* params = n->input(2)->node();
                   params->kind() == c10::prim::ListConstruct && !params->inputs().empty()) {
          w = const_tensor(params->input(0));
        }
        if (w && w->dim() == 2) {
          h.dim = -1;
          h.size = w->size(1);
          return h;
        }
      } else if (kind == "aten::linear" && use.offset == 0) {
        if (auto w = const_tensor(n->input(1)); w && w->dim() == 2) {
          h.dim = -1;
          h.size = w->size(1);
          return h;
        }
      } else if ((kind == "aten::conv1d" || kind == "aten::conv2d" || kind == "aten::conv3d" ||
                  kind == "aten::_convolution") &&
                 use.offset == 0) {
        const size_t groups_at = kind == "aten::_convolution" ? 8 : 6;
        auto w = const_tensor(n->input(1));
        auto groups = n->inputs().size() > groups_at ? torch::jit::toIValue(n->input(groups_at)) : c10::nullopt;
        if (w && w->dim() >= 3) {
          h.dim = 1;
          h.size = w->size(1) * (groups && groups->isInt() ? groups->toInt() : 1);
          return h;
        }
      } else if (kind == "aten::matmul" && use.offset == 0) {
        if (auto w = const_tensor(n->input(1)); w && w->dim() == 2) {
          h.dim = -1;
          h.size = w->size(0);
          return h;
        }
      }
    }
  }
  return InputHint{};
}

std::string input_hints_json(const torch::jit::Module& module, const char* method) {
  // Sizes from the method as loaded (a module loaded with its traced
  // shapes has them there; freezing clones the graph without them).
  const auto loaded_inputs = module.get_method(method).graph()->inputs();
  auto frozen = torch::jit::freeze_module(module, {method});
  auto graph = frozen.get_method(method).graph();
  std::ostringstream out;
  out << "[";
  const auto inputs = graph->inputs();
  for (size_t i = 1; i < inputs.size(); ++i) {
    auto* v = inputs[i];
    if (i > 1) out << ",";
    out << "{\"index\":" << (i - 1) << ",\"sizes\":";
    auto* loaded = i < loaded_inputs.size() ? loaded_inputs[i] : v;
    auto tensor_type = loaded->type()->cast<c10::TensorType>();
    auto sizes = tensor_type ? tensor_type->sizes().concrete_sizes() : c10::nullopt;
    if (sizes) {
      out << "[";
      for (size_t d = 0; d < sizes->size(); ++d) out << (d ? "," : "") << (*sizes)[d];
      out << "]";
    } else {
      out << "null";
    }
    const auto hint = first_consumer_hint(v);
    out << ",\"consumer\":";
    if (hint.consumer.empty() || (hint.size < 0 && hint.bound < 0)) {
      out << "null";
    } else {
      out << "\"" << hint.consumer << "\"";
    }
    out << ",\"dim\":";
    if (hint.size >= 0) out << hint.dim << ",\"size\":" << hint.size; else out << "null,\"size\":null";
    out << ",\"bound\":";
    if (hint.bound >= 0) out << hint.bound; else out << "null";
    out << "}";
  }
  out << "]";
  return out.str();
}

}  // namespace

char* itn_module_input_hints_json(const itn_module* m, const char* method) {
  return guarded<char*>(nullptr, [&]() { return dup_string(input_hints_json(m->module, method)); });
}

char* itn_module_graph_text(const itn_module* m, const char* method, int inlined) {
  return guarded<char*>(nullptr, [&]() {
    auto graph = inlined ? inlined_graph(m->module, method) : method_of(m->module, method).graph();
    return dup_string(graph->toString());
  });
}

char* itn_last_executed_graph_text(void) {
  return guarded<char*>(nullptr, [&]() {
    auto graph = torch::jit::lastExecutedOptimizedGraph();
    TORCH_CHECK(graph != nullptr, "no graph has been executed on this thread");
    return dup_string(graph->toString());
  });
}

int itn_module_run(itn_module* m, const char* method, itn_tensor* inputs, int n_inputs, itn_tensor** outputs,
                   int* n_outputs, char** structure) {
  return guarded<int>(-1, [&]() {
    torch::NoGradGuard no_grad;
    std::vector<c10::IValue> stack;
    stack.reserve(n_inputs);
    for (int i = 0; i < n_inputs; ++i) {
      stack.emplace_back(*static_cast<at::Tensor*>(inputs[i]));
    }
    auto result = method_of(m->module, method)(std::move(stack));
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

int itn_module_to_dtype(itn_module* m, int scalar_type) {
  return guarded<int>(-1, [&]() {
    // Floating-point parameters and buffers only, as Python's Module.to(dtype)
    // does. libtorch's Module::to(dtype) casts every tensor, integer buffers
    // included (HF BERT's position_ids and token_type_ids), and an embedding
    // then fails on bf16 indices.
    auto dtype = static_cast<at::ScalarType>(scalar_type);
    auto cast = [&](const at::Tensor& t) {
      if (t.is_floating_point() && t.scalar_type() != dtype) {
        t.set_data(t.to(dtype));
      }
    };
    for (const auto& p : m->module.parameters(/*recurse=*/true)) cast(p);
    for (const auto& b : m->module.buffers(/*recurse=*/true)) cast(b);
    return 0;
  });
}

// What ipex.optimize (and IPEX's quantization prepare) does first on every
// CPU model (auto_channels_last): the weights of 2-D and 3-D convolutions
// and transposed convolutions in channels-last memory. Frozen, they are
// channels-last constants, so IPEX's prepacked convolutions run in NHWC and
// hand NHWC on from layer to layer; with NCHW weights each convolution of
// MobileNetV3-small reordered its activations (2 cores, AMX host: 564 vs
// 1095 samples/s in fp32, the same graph otherwise). Only the memory layout
// changes, never a value.
int itn_module_conv_weights_channels_last(itn_module* m) {
  return guarded<int>(-1, [&]() {
    bool changed = false;
    for (const auto& named : m->module.named_modules()) {
      const auto type = named.value.type()->name();
      if (!type) continue;
      const std::string name = type->name();
      const bool conv = name == "Conv2d" || name == "Conv3d" || name == "ConvTranspose2d" || name == "ConvTranspose3d";
      if (!conv || !named.value.hasattr("weight")) continue;
      auto value = named.value.attr("weight");
      if (!value.isTensor()) continue;
      const auto& weight = value.toTensor();
      if (!weight.is_floating_point() || (weight.dim() != 4 && weight.dim() != 5)) continue;
      const auto format = weight.dim() == 4 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::ChannelsLast3d;
      if (weight.is_contiguous(format)) continue;
      weight.set_data(weight.contiguous(format));
      changed = true;
    }
    return changed ? 1 : 0;
  });
}

// The largest finite value of a floating dtype.
static double finite_max(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::max());
    case at::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::max());
    default:
      return static_cast<double>(std::numeric_limits<float>::max());
  }
}

// Finite constants beyond `dtype`'s range (HF's mask value, a 0-dim tensor or
// float torch.finfo(torch.float32).min) would overflow it: rounded to -inf
// (and 0 * -inf is NaN) or, filled into a bf16 tensor by masked_fill,
// rejected ("value cannot be converted to type at::BFloat16 without
// overflow"). They become the dtype's own extremes, as
// finfo(bfloat16).min had the model been traced in bf16 (IPEX's bf16 recipe
// traces under autocast, so its graph holds that value). Tensor constants
// keep their own dtype here; the caller casts them if it wants to.
static bool clamp_constants_to_range(torch::jit::Graph& graph, at::ScalarType dtype) {
  const double limit = finite_max(dtype);
  bool changed = false;
  std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* block) {
    for (auto* node : block->nodes()) {
      for (auto* inner : node->blocks()) walk(inner);
      if (node->kind() != c10::prim::Constant || !node->hasAttribute(c10::attr::value)) continue;
      torch::jit::WithInsertPoint guard(node);
      if (node->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
        const auto& t = node->t(c10::attr::value);
        if (!t.is_floating_point()) continue;
        const auto finite = t.isfinite();
        if (!(finite & (t.abs() > limit)).any().item<bool>()) continue;
        auto in_range = at::where(finite, t.clamp(-limit, limit), t);
        node->output()->replaceAllUsesWith(graph.insertConstant(in_range));
        changed = true;
      } else if (node->output()->type()->kind() == c10::TypeKind::FloatType) {
        const double v = node->f(c10::attr::value);
        if (std::isfinite(v) && std::abs(v) > limit) {
          node->output()->replaceAllUsesWith(graph.insertConstant(std::copysign(limit, v)));
          changed = true;
        }
      }
    }
  };
  walk(graph.block());
  return changed;
}

// The rest of a pure bf16 graph: after freezing, floating tensor constants
// (frozen weights the module cast did not reach, traced constants) become
// `scalar_type`, and constant `dtype` arguments that name float32 (a traced
// `.to(torch.float32)`, e.g. HF's attention-mask arithmetic) name
// `scalar_type` instead. Without it a traced fp32 graph mixes dtypes and
// fails ("expected m1 and m2 to have the same dtype").
int itn_pass_cast_constants(itn_module* m, const char* method, int scalar_type) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    const auto dtype = static_cast<at::ScalarType>(scalar_type);
    bool changed = clamp_constants_to_range(*graph, dtype);
    std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* block) {
      for (auto* node : block->nodes()) {
        for (auto* inner : node->blocks()) walk(inner);
        if (node->kind() == c10::prim::Constant && node->hasAttribute(c10::attr::value) &&
            node->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
          const auto& t = node->t(c10::attr::value);
          if (t.is_floating_point() && t.scalar_type() != dtype) {
            torch::jit::WithInsertPoint guard(node);
            auto* cast = graph->insertConstant(t.to(dtype));
            node->output()->replaceAllUsesWith(cast);
            changed = true;
          }
          continue;
        }
        if (node->kind() == c10::prim::Constant) continue;
        const auto* schema = node->maybeSchema();
        if (!schema) continue;
        auto index = schema->argumentIndexWithName("dtype");
        if (!index || *index >= node->inputs().size()) continue;
        auto value = torch::jit::toIValue(node->input(*index));
        if (value && value->isInt() && value->toInt() == static_cast<int64_t>(at::kFloat)) {
          torch::jit::WithInsertPoint guard(node);
          node->replaceInput(*index, graph->insertConstant(static_cast<int64_t>(dtype)));
          changed = true;
        }
      }
    };
    walk(graph->block());
    torch::jit::EliminateDeadCode(graph);
    return changed ? 1 : 0;
  });
}

// CPU autocast as the Python recipe gets it from torch.autocast + trace: the
// JIT autocast pass inserts casts to `scalar_type` before the ops of the
// lower-precision list (conv, linear, matmul, ...) and back to fp32 where the
// policy wants it. The pass reads CPU autocast from thread-local state, as
// the profiling executor does, so it is set around the call. Constant
// propagation then folds the casts of frozen weights into bf16 constants:
// weights are converted once, not on every call.
int itn_pass_autocast(itn_module* m, const char* method, int scalar_type) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    const std::string before = graph->toString();
    // The ops autocast runs in bf16 meet the mask constants in bf16
    // (DistilBERT's masked_fill of bf16 scores with finfo(float32).min).
    clamp_constants_to_range(*graph, static_cast<at::ScalarType>(scalar_type));
    const bool was_enabled = at::autocast::is_autocast_enabled(at::kCPU);
    const auto was_dtype = at::autocast::get_autocast_dtype(at::kCPU);
    const bool was_mode = torch::jit::setAutocastMode(true);
    at::autocast::set_autocast_enabled(at::kCPU, true);
    at::autocast::set_autocast_dtype(at::kCPU, static_cast<at::ScalarType>(scalar_type));
    auto restore = [&]() {
      at::autocast::set_autocast_enabled(at::kCPU, was_enabled);
      at::autocast::set_autocast_dtype(at::kCPU, was_dtype);
      torch::jit::setAutocastMode(was_mode);
    };
    try {
      torch::jit::Autocast(graph);
    } catch (...) {
      restore();
      throw;
    }
    restore();
    torch::jit::ConstantPropagation(graph);
    torch::jit::EliminateDeadCode(graph);
    return graph->toString() != before ? 1 : 0;
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

int itn_pass_remove_dropout(itn_module* m, const char* method) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    auto before = graph->toString();
    torch::jit::removeDropout(graph);
    return graph->toString() != before ? 1 : 0;
  });
}

// IPEX's recipe feeds its prepacked channels-last convolutions an NCHW
// image and converts it first (an aten::copy_ to channels-last in the
// Python recipe's profile); the same prepacked convolution in a frozen graph
// took the NCHW input as it came and ran MobileNetV3-small's stem slower
// (1050 vs 1105 samples/s for the same module with a channels-last input).
// Each graph input a conv2d reads is converted in the graph, guarded by its
// rank (conv2d also takes unbatched 3-D input, which has no channels-last).
int itn_pass_channels_last_inputs(itn_module* m, const char* method) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    bool changed = false;
    for (auto* input : graph->inputs()) {
      std::vector<torch::jit::Use> convs;
      for (const auto& use : input->uses()) {
        const auto kind = use.user->kind();
        if (use.offset == 0 && (kind == c10::Symbol::aten("conv2d") || kind == c10::Symbol::aten("_convolution"))) {
          convs.push_back(use);
        }
      }
      if (convs.empty()) continue;
      torch::jit::WithInsertPoint guard(graph->block()->nodes().front());
      auto* rank = graph->insert(c10::Symbol::aten("dim"), {input});
      auto* four = graph->insertConstant(static_cast<int64_t>(4));
      auto* is_4d = graph->insert(c10::Symbol::aten("eq"), {rank, four});
      auto* branch = graph->insertNode(graph->create(c10::prim::If, {is_4d}, 1));
      auto* then_block = branch->addBlock();
      auto* else_block = branch->addBlock();
      {
        torch::jit::WithInsertPoint inside(then_block);
        auto* format = graph->insertConstant(static_cast<int64_t>(at::MemoryFormat::ChannelsLast));
        auto* converted = graph->insert(c10::Symbol::aten("contiguous"), {input},
                                        {torch::jit::NamedValue("memory_format", format)});
        then_block->registerOutput(converted);
      }
      else_block->registerOutput(input);
      branch->output()->setType(input->type());
      for (const auto& use : convs) use.user->replaceInput(use.offset, branch->output());
      changed = true;
    }
    return changed ? 1 : 0;
  });
}

// The numerics part of torch::jit::freeze (OptimizeFrozenGraph), applied to any
// method. torch::jit::freeze runs it on `forward` only, which is why conv-bn
// folding silently does not happen for a custom entry method.
int itn_pass_fold_conv_bn(itn_module* m, const char* method) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    bool any = false;
    bool changed = true;
    while (changed) {
      changed = torch::jit::FoldFrozenConvBatchnorm(graph);
      changed |= torch::jit::FoldFrozenConvAddOrSub(graph);
      changed |= torch::jit::FoldFrozenConvMulOrDiv(graph);
      changed |= torch::jit::FoldFrozenLinearBatchnorm(graph);
      any |= changed;
    }
    any |= torch::jit::FrozenConcatLinear(graph);
    return any ? 1 : 0;
  });
}

// The oneDNN part of torch::jit::optimize_for_inference: conv-add-relu fusion,
// conversion of frozen conv/linear weights to prepacked MKLDNN tensors, and
// linear transposition.
int itn_pass_mkldnn_prepack(itn_module* m, const char* method) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    auto before = graph->toString();
    torch::jit::FuseFrozenConvAddRelu(graph);
    torch::jit::ConvertFrozenOpsToMKLDNN(graph);
    torch::jit::FrozenLinearTranspose(graph);
    return graph->toString() != before ? 1 : 0;
  });
}

int itn_set_texpr_fuser(int enabled) {
  return guarded<int>(-1, [&]() {
    int previous = torch::jit::tensorExprFuserEnabled() ? 1 : 0;
    torch::jit::setTensorExprFuserEnabled(enabled != 0);
    // The TensorExpr fuser only fuses on CPU when CPU fusion is allowed.
    torch::jit::overrideCanFuseOnCPU(enabled != 0);
    return previous;
  });
}

int itn_texpr_fuser_enabled(void) {
  return guarded<int>(-1, [&]() { return torch::jit::tensorExprFuserEnabled() ? 1 : 0; });
}

int itn_can_fuse_on_cpu(void) {
  return guarded<int>(-1, [&]() { return torch::jit::canFuseOnCPU() ? 1 : 0; });
}

int itn_set_onednn_fuser(int enabled) {
  return guarded<int>(-1, [&]() {
    // Registers (or clears) libtorch's oneDNN Graph (LLGA) fusion pass as a
    // pre-pass of the profiling graph executor, as Python's
    // torch.jit.enable_onednn_fusion does.
    return torch::jit::RegisterLlgaFuseGraph::setEnabled(enabled != 0) ? 1 : 0;
  });
}

int itn_onednn_fuser_enabled(void) {
  return guarded<int>(-1, [&]() { return torch::jit::RegisterLlgaFuseGraph::isEnabled() ? 1 : 0; });
}

namespace {

// The qconfig map of graph-mode quantization: one qconfig for the whole
// module, and None (ops stay fp32) for each named layer. libtorch looks a
// submodule up by its qualified name, else inherits its parent's entry.
torch::jit::QConfigDict qconfig_keeping_fp32(const itn_module* activation_observer,
                                             const itn_module* weight_observer, const char* fp32_layers) {
  torch::jit::QConfigDict qconfig;
  qconfig.emplace("", std::make_tuple(activation_observer->module, weight_observer->module));
  std::istringstream names(fp32_layers == nullptr ? "" : fp32_layers);
  for (std::string name; std::getline(names, name);) {
    if (!name.empty()) qconfig[name] = std::nullopt;
  }
  return qconfig;
}

bool calls_quantizable_op(const torch::jit::Block* block) {
  for (const auto* node : block->nodes()) {
    const std::string kind = node->kind().toQualString();
    // What libtorch's graph-mode quantization quantizes on its own (not
    // only when its inputs are int8): a module holding one of these is a
    // layer that can be kept fp32. Norms count: quantized::layer_norm ran
    // in BERT's LayerNorm modules, which the fallback could not keep fp32
    // while they were missing here.
    for (const char* op : {"aten::linear", "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution",
                           "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d",
                           "aten::matmul", "aten::bmm", "aten::addmm", "aten::lstm", "aten::gru",
                           "aten::embedding_bag", "aten::embedding", "aten::layer_norm", "aten::group_norm",
                           "aten::instance_norm", "aten::batch_norm", "aten::hardswish", "aten::elu",
                           "aten::leaky_relu"}) {
      if (kind == op) return true;
    }
    for (const auto* inner : node->blocks()) {
      if (calls_quantizable_op(inner)) return true;
    }
  }
  return false;
}

}  // namespace

char* itn_quantizable_layers_json(const itn_module* m) {
  return guarded<char*>(nullptr, [&]() {
    std::ostringstream out;
    out << "[";
    bool first = true;
    for (const auto& named : m->module.named_modules()) {
      if (named.name.empty()) continue;  // the whole model: not a fallback
      bool quantizable = false;
      for (const auto& method : named.value.get_methods()) {
        quantizable = quantizable || calls_quantizable_op(method.graph()->block());
      }
      if (!quantizable) continue;
      out << (first ? "" : ",") << json_escape(named.name);
      first = false;
    }
    out << "]";
    return dup_string(out.str());
  });
}

namespace {

// Hugging Face's Conv1D (GPT-2's attention and MLP projections) computes
// addmm(bias, x, weight) with a (in, out) weight. libtorch's graph-mode
// quantization quantizes only aten::linear's weight (its isWeight), so such
// a layer stayed fp32: its input was quantized and dequantized for nothing
// and the layer ran as an fp32 mm (GPT-2 int8 under IPEX: 4 fp32 mm per
// block behind layer_norm -> quantize -> dequantize). As
// linear(x, weight.t().contiguous(), bias) it is an ordinary linear layer:
// quantized (per output channel), kept fp32 by the fallback as any other,
// and, once frozen, the transposed weight is a constant. Only where the
// weight and bias are the module's own 2-D and 1-D tensors and beta = alpha
// = 1 (what linear computes).
bool is_constant_one(torch::jit::Value* v) {
  auto value = torch::jit::toIValue(v);
  return value && ((value->isInt() && value->toInt() == 1) || (value->isDouble() && value->toDouble() == 1.0));
}

std::optional<at::Tensor> own_tensor(const torch::jit::Module& module, torch::jit::Value* self, torch::jit::Value* v) {
  auto* node = v->node();
  if (node->kind() != c10::prim::GetAttr || node->input(0) != self) return std::nullopt;
  const auto name = node->s(c10::attr::name);
  if (!module.hasattr(name)) return std::nullopt;
  auto value = module.attr(name);
  if (!value.isTensor()) return std::nullopt;
  return value.toTensor();
}

// Scripted modules branch on their own attributes: torchvision's
// InvertedResidual `if self.use_res_connect: result += input`, Conv2d's
// `if self.padding_mode != "zeros"`, None checks of optional submodules and
// tensors. Graph-mode quantization keeps those branches (InsertObservers
// constant-propagates but attributes are not constants) and refuses an `if`
// whose branches return values observed differently: with a layer kept fp32
// by the int8 fallback, MobileNetV3-small's residual `if` ("branches for `if`
// should return values that are observed consistently"). What freezing
// would do, without freezing (quantization needs the submodules): an
// attribute read whose value is a bool, int, float, string or None, the same
// in every instance of the module's type and never assigned, becomes that
// constant, and constant propagation removes the branch. Where instances
// differ (use_res_connect), the call is inlined into the caller, where the
// read is a path from the caller's own instance, until it folds (at the top
// module at worst, which has one instance). Calls of other submodules stay
// calls, so per-layer qconfigs still apply.
std::optional<std::vector<std::string>> attribute_path(torch::jit::Value* v, torch::jit::Value* self) {
  std::vector<std::string> path;
  while (v != self) {
    auto* node = v->node();
    if (node->kind() != c10::prim::GetAttr) return std::nullopt;
    path.push_back(node->s(c10::attr::name));
    v = node->input(0);
  }
  std::reverse(path.begin(), path.end());
  return path;
}

std::optional<c10::IValue> primitive_attribute(const torch::jit::Module& module, const std::vector<std::string>& path) {
  c10::IValue value = module._ivalue();
  for (const auto& name : path) {
    if (!value.isObject() || !value.toObject()->type()->hasAttribute(name)) return std::nullopt;
    value = value.toObject()->getAttr(name);
  }
  if (value.isBool() || value.isInt() || value.isDouble() || value.isString() || value.isNone()) return value;
  return std::nullopt;
}

bool same_primitive(const c10::IValue& a, const c10::IValue& b) {
  if (a.isBool() && b.isBool()) return a.toBool() == b.toBool();
  if (a.isInt() && b.isInt()) return a.toInt() == b.toInt();
  if (a.isDouble() && b.isDouble()) return a.toDouble() == b.toDouble();
  if (a.isString() && b.isString()) return a.toStringRef() == b.toStringRef();
  return a.isNone() && b.isNone();
}

void collect_nodes(torch::jit::Block* block, c10::Symbol kind, std::vector<torch::jit::Node*>& out) {
  for (auto* node : block->nodes()) {
    if (node->kind() == kind) out.push_back(node);
    for (auto* inner : node->blocks()) collect_nodes(inner, kind, out);
  }
}

// Whether `v` is computed (without reading tensors) from a primitive
// attribute of the graph's module.
bool from_attribute(torch::jit::Value* v, torch::jit::Value* self, const torch::jit::Module& module, int depth = 0) {
  if (depth > 16 || v->type()->kind() == c10::TypeKind::TensorType) return false;
  if (auto path = attribute_path(v, self)) return primitive_attribute(module, *path).has_value();
  for (auto* input : v->node()->inputs()) {
    if (from_attribute(input, self, module, depth + 1)) return true;
  }
  return false;
}

void fold_attribute_branches(torch::jit::Module& root) {
  std::unordered_set<std::string> assigned;
  for (const auto& named : root.named_modules()) {
    for (const auto& method : named.value.get_methods()) {
      std::vector<torch::jit::Node*> sets;
      collect_nodes(method.graph()->block(), c10::prim::SetAttr, sets);
      for (auto* set : sets) assigned.insert(set->s(c10::attr::name));
    }
  }
  for (int round = 0; round < 64; ++round) {
    std::vector<std::pair<const c10::ClassType*, std::vector<torch::jit::Module>>> types;
    for (const auto& named : root.named_modules()) {
      const auto* type = named.value.type().get();
      auto it = std::find_if(types.begin(), types.end(), [&](const auto& t) { return t.first == type; });
      if (it == types.end()) {
        types.emplace_back(type, std::vector<torch::jit::Module>{named.value});
      } else {
        it->second.push_back(named.value);
      }
    }
    bool progress = false;
    std::vector<std::pair<const c10::ClassType*, std::string>> to_inline;
    for (const auto& [type, instances] : types) {
      for (const auto& method : instances.front().get_methods()) {
        auto graph = method.graph();
        auto* self = graph->inputs()[0];
        std::vector<torch::jit::Node*> reads;
        collect_nodes(graph->block(), c10::prim::GetAttr, reads);
        bool folded = false;
        for (auto* read : reads) {
          auto path = attribute_path(read->output(), self);
          if (!path || assigned.count(path->back())) continue;
          std::optional<c10::IValue> value;
          bool same = true;
          for (const auto& instance : instances) {
            auto v = primitive_attribute(instance, *path);
            same = same && v && (!value || same_primitive(*value, *v));
            if (!same) break;
            value = v;
          }
          if (!same || !value) continue;
          torch::jit::WithInsertPoint guard(read);
          auto* constant = graph->insertConstant(*value);
          read->output()->replaceAllUsesWith(constant);
          folded = true;
        }
        if (folded) {
          torch::jit::ConstantPropagation(graph);
          torch::jit::EliminateDeadCode(graph);
          progress = true;
        }
        std::vector<torch::jit::Node*> ifs;
        collect_nodes(graph->block(), c10::prim::If, ifs);
        for (auto* branch : ifs) {
          if (from_attribute(branch->input(0), self, instances.front())) {
            to_inline.emplace_back(type, method.name());
            break;
          }
        }
      }
    }
    std::unordered_set<const torch::jit::Graph*> seen;
    for (const auto& [type, instances] : types) {
      for (const auto& method : instances.front().get_methods()) {
        auto graph = method.graph();
        if (!seen.insert(graph.get()).second) continue;
        std::vector<torch::jit::Node*> calls;
        collect_nodes(graph->block(), c10::prim::CallMethod, calls);
        for (auto* call : calls) {
          auto callee = call->input(0)->type()->cast<c10::ClassType>();
          if (!callee) continue;
          const auto name = call->s(c10::attr::name);
          bool wanted = std::any_of(to_inline.begin(), to_inline.end(),
                                    [&](const auto& t) { return t.first == callee.get() && t.second == name; });
          if (!wanted) continue;
          torch::jit::inlineCallTo(call, &torch::jit::toGraphFunction(callee->getMethod(name)));
          progress = true;
        }
      }
    }
    if (!progress) break;
  }
}

int addmm_to_linear(torch::jit::Module& root) {
  int rewritten = 0;
  std::unordered_set<const torch::jit::Graph*> done;
  for (const auto& named : root.named_modules()) {
    const auto& module = named.value;
    for (const auto& method : module.get_methods()) {
      auto graph = method.graph();
      if (!done.insert(graph.get()).second) continue;  // a type shared by several instances
      auto* self = graph->inputs()[0];
      std::vector<torch::jit::Node*> addmms;
      for (auto* node : graph->nodes()) {
        if (node->kind() != c10::Symbol::aten("addmm") || node->inputs().size() != 5) continue;
        auto bias = own_tensor(module, self, node->input(0));
        auto weight = own_tensor(module, self, node->input(2));
        if (!bias || !weight || bias->dim() != 1 || weight->dim() != 2 || !is_constant_one(node->input(3)) ||
            !is_constant_one(node->input(4))) {
          continue;
        }
        addmms.push_back(node);
      }
      for (auto* addmm : addmms) {
        torch::jit::WithInsertPoint guard(addmm);
        auto* t = graph->insert(c10::Symbol::aten("t"), {addmm->input(2)});
        auto* contiguous = graph->insert(c10::Symbol::aten("contiguous"), {t});
        auto* linear = graph->insert(c10::Symbol::aten("linear"), {addmm->input(1), contiguous, addmm->input(0)});
        linear->setType(addmm->output()->type());
        linear->node()->copyMetadata(addmm);
        addmm->output()->replaceAllUsesWith(linear);
        addmm->destroy();
        ++rewritten;
      }
    }
  }
  return rewritten;
}

// DistilBERT (and other encoders written the same way) scales the query
// before the score matmul, matmul(q / sqrt(d), k^T); BERT, GPT-2 and ViT
// scale the scores after it. The first form leaves the query fp32 for the
// matmul (libtorch observes the linear's output, not the division's), so
// the scores run as an fp32 matmul beside oneDNN Graph's int8 attention
// partition, and IPEX's masked_fill -> llga::Select rewrite is left outside
// any partition, where nothing can run it ("Could not run 'llga::Select'").
// A scalar factor commutes with the matmul: matmul(q, k^T) / sqrt(d) is the
// form IPEX's int8 attention pattern matches (matmul -> div -> select ->
// softmax -> matmul) and both operands are linear outputs, quantized.
// A number, or a 0-dim tensor constant (how a trace records `x / math.sqrt(d)`).
bool is_scalar_constant(torch::jit::Value* v) {
  if (v->type()->isSubtypeOf(*c10::NumberType::get())) return true;
  auto value = torch::jit::toIValue(v);
  return value && value->isTensor() && value->toTensor().dim() == 0;
}

int scale_after_matmul(torch::jit::Module& root) {
  int rewritten = 0;
  std::unordered_set<const torch::jit::Graph*> done;
  for (const auto& named : root.named_modules()) {
    for (const auto& method : named.value.get_methods()) {
      auto graph = method.graph();
      if (!done.insert(graph.get()).second) continue;
      std::vector<std::pair<torch::jit::Node*, size_t>> scaled;  // matmul, operand
      for (auto* node : graph->nodes()) {
        if (node->kind() != c10::Symbol::aten("matmul")) continue;
        for (size_t i = 0; i < 2; ++i) {
          auto* factor = node->input(i)->node();
          const bool scalar_scale =
              (factor->kind() == c10::Symbol::aten("div") || factor->kind() == c10::Symbol::aten("mul")) &&
              factor->inputs().size() == 2 && is_scalar_constant(factor->input(1));
          if (scalar_scale && node->input(i)->uses().size() == 1) {
            scaled.emplace_back(node, i);
            break;
          }
        }
      }
      for (auto [matmul, i] : scaled) {
        auto* factor = matmul->input(i)->node();
        matmul->replaceInput(i, factor->input(0));
        torch::jit::WithInsertPoint guard(matmul->next());
        auto* after = graph->insertNode(graph->create(factor->kind(), {matmul->output(), factor->input(1)}));
        after->output()->setType(matmul->output()->type());
        after->copyMetadata(factor);
        matmul->output()->replaceAllUsesWith(after->output());
        after->replaceInput(0, matmul->output());
        factor->destroy();
        ++rewritten;
      }
    }
  }
  return rewritten;
}

}  // namespace

itn_module* itn_quantize_dynamic(const itn_module* m, const char* method, const itn_module* activation_observer,
                                 const itn_module* weight_observer, const char* fp32_layers) {
  return guarded<itn_module*>(nullptr, [&]() {
    // Finalize (like Python's convert_dynamic_jit) only rewrites `forward`.
    TORCH_CHECK(std::strcmp(method, "forward") == 0,
                "graph-mode quantization rewrites only `forward`, not the method '", method, "'");
    auto module = torch::jit::FoldConvBatchNorm(m->module);
    addmm_to_linear(module);
    fold_attribute_branches(module);
    auto qconfig = qconfig_keeping_fp32(activation_observer, weight_observer, fp32_layers);
    auto observed =
        torch::jit::InsertObservers(module, method, qconfig, /*inplace=*/false, torch::jit::QuantType::DYNAMIC);
    auto quantized =
        torch::jit::InsertQuantDeQuant(observed, method, /*inplace=*/true, /*debug=*/false, torch::jit::QuantType::DYNAMIC);
    auto finalized = torch::jit::Finalize(quantized, torch::jit::QuantType::DYNAMIC, {});
    auto graph = finalized.get_method(method).graph();
    torch::jit::ConstantPropagation(graph);
    torch::jit::EliminateDeadCode(graph);
    return new itn_module{std::move(finalized)};
  });
}

itn_module* itn_quantize_static_prepare(const itn_module* m, const char* method,
                                        const itn_module* activation_observer,
                                        const itn_module* weight_observer, const char* fp32_layers) {
  return guarded<itn_module*>(nullptr, [&]() {
    TORCH_CHECK(std::strcmp(method, "forward") == 0,
                "graph-mode quantization rewrites only `forward`, not the method '", method, "'");
    // As Python's prepare_jit: fold conv-bn first, then observe.
    auto module = torch::jit::FoldConvBatchNorm(m->module);
    addmm_to_linear(module);
    scale_after_matmul(module);
    fold_attribute_branches(module);
    auto qconfig = qconfig_keeping_fp32(activation_observer, weight_observer, fp32_layers);
    auto observed =
        torch::jit::InsertObservers(module, method, qconfig, /*inplace=*/false, torch::jit::QuantType::STATIC);
    return new itn_module{std::move(observed)};
  });
}

// Where IPEX's int8 recipe puts quantize/dequantize pairs, applied to the
// graph libtorch's graph-mode quantization makes (which observes the output of
// every op it can quantize and lets int8 tensors flow through reshapes and
// pooling). IPEX's recipe (quantization/_recipe.py) instead quantizes the
// *inputs* of its int8 compute ops (conv, linear, matmul, pooling) and keeps
// the rest in fp32, so that oneDNN Graph fuses "dequantize -> linear ->
// gelu/add -> quantize" into one int8 kernel and the attention block into its
// int8 MHA partition. Measured on a 4-layer HF BERT (2 cores, AVX512-VNNI):
// 1.7x the throughput of the graph as observed, and the same oneDNN
// primitive list as IPEX's Python recipe. The rewrites, in order:
//  1. max pooling runs between a dequantize and a quantize (int8 pooling);
//  2. quantizes of matmul inputs sink below the reshapes (view, permute,
//     transpose) that lead to the matmul, as IPEX's graph has them;
//  3. a quantize->dequantize pair whose dequantized value feeds no int8
//     compute op is removed (linear -> gelu, linear -> residual add,
//     layer_norm -> residual add), except where IPEX's add recipe keeps an
//     add operand quantized (ResNet's identity; the second of two convs);
//  4. a softmax output feeding a matmul gets the fixed quantization PyTorch
//     gives softmax (scale 1/256, zero point 0, quint8), as IPEX's recipe
//     observes it.
// Removing a pair only skips a rounding step (the result is closer to fp32);
// the softmax pair rounds probabilities to 1/256.
namespace {

bool is_kind(const torch::jit::Node* n, std::initializer_list<const char*> names) {
  const std::string kind = n->kind().toQualString();
  for (const char* name : names) {
    if (kind == name) return true;
  }
  return false;
}

bool int8_compute(const torch::jit::Node* n) {
  return is_kind(n, {"aten::linear", "aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution",
                     "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d",
                     "aten::matmul", "aten::bmm", "aten::addmm", "aten::max_pool2d", "aten::max_pool3d",
                     "aten::avg_pool2d", "aten::avg_pool3d", "aten::adaptive_avg_pool2d",
                     "aten::adaptive_avg_pool3d", "aten::embedding_bag"});
}

bool int8_output(const torch::jit::Node* n) {
  return int8_compute(n) || is_kind(n, {"aten::relu", "aten::relu_", "aten::add", "aten::add_"});
}

bool is_add(const torch::jit::Node* n) { return is_kind(n, {"aten::add", "aten::add_"}); }

bool feeds(const torch::jit::Value* v, bool (*pred)(const torch::jit::Node*)) {
  for (const auto& use : v->uses()) {
    if (pred(use.user)) return true;
  }
  return false;
}

// libtorch max-pools the int8 tensor itself (quantization passes through);
// oneDNN Graph's int8 pooling wants dequantize -> max_pool -> quantize. Max
// pooling commutes with quantization, so the same scale and zero point hold.
void pool_between_quantize_pairs(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> pools;
  for (auto* node : graph.nodes()) {
    if (is_kind(node, {"aten::max_pool2d", "aten::max_pool3d"}) &&
        is_kind(node->input(0)->node(), {"aten::quantize_per_tensor"})) {
      pools.push_back(node);
    }
  }
  for (auto* pool : pools) {
    auto* q = pool->input(0)->node();
    {
      torch::jit::WithInsertPoint guard(pool);
      auto* dq = graph.insertNode(graph.create(c10::Symbol::aten("dequantize"), {q->output()}));
      dq->output()->setType(c10::TensorType::get());
      pool->replaceInput(0, dq->output());
    }
    torch::jit::WithInsertPoint guard(pool->next());
    auto* requant = graph.insertNode(graph.create(c10::Symbol::aten("quantize_per_tensor"),
                                                  {pool->output(), q->input(1), q->input(2), q->input(3)}));
    requant->output()->setType(c10::TensorType::get());
    pool->output()->replaceAllUsesWith(requant->output());
    requant->replaceInput(0, pool->output());
  }
}

bool is_shape_op(const torch::jit::Node* n) {
  return is_kind(n, {"aten::view", "aten::reshape", "aten::permute", "aten::transpose", "aten::contiguous",
                     "aten::flatten", "aten::squeeze", "aten::unsqueeze", "aten::t"});
}

// libtorch quantizes an op's output where it is produced and reshapes the
// int8 tensor (view, permute, transpose) on its way to the dequantize; IPEX's
// recipe reshapes in fp32 and quantizes right before the dequantize, the form
// oneDNN Graph's int8 attention pattern matches. Sinks the quantizes of
// matmul inputs that way.
void sink_quantize_through_shape_ops(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> quantizes;
  for (auto* node : graph.nodes()) {
    if (is_kind(node, {"aten::quantize_per_tensor"})) quantizes.push_back(node);
  }
  for (auto* q : quantizes) {
    auto* x = q->input(0);
    if (x->node()->kind() == c10::prim::Constant) continue;
    std::vector<torch::jit::Node*> heads;        // shape ops reading q directly
    std::vector<torch::jit::Node*> dequantizes;  // dequantizes after a shape op
    std::vector<torch::jit::Value*> frontier{q->output()};
    bool sinkable = true;
    bool only_reshapes = true;
    while (!frontier.empty() && sinkable) {
      auto* value = frontier.back();
      frontier.pop_back();
      for (const auto& use : value->uses()) {
        auto* user = use.user;
        if (is_shape_op(user) && use.offset == 0) {
          only_reshapes = only_reshapes && is_kind(user, {"aten::flatten", "aten::view", "aten::reshape"});
          if (value == q->output()) heads.push_back(user);
          frontier.push_back(user->output());
        } else if (is_kind(user, {"aten::dequantize"})) {
          if (value != q->output()) dequantizes.push_back(user);
        } else if (!is_kind(user, {"aten::size"})) {
          sinkable = false;  // an int8 consumer other than a reshape
          break;
        }
      }
    }
    // Towards matmuls (the attention), and through flattens and views into
    // a linear: a CNN's classifier (an int8 flatten keeps oneDNN Graph from
    // taking the linear, measured on ResNet-18) and Hugging Face's Conv1D
    // (GPT-2: layer_norm -> view(-1, n) -> linear, where the int8 view kept
    // every linear out of oneDNN Graph's int8 partitions). Elsewhere, e.g.
    // BERT's permute -> contiguous -> view before its attention output
    // linear, the int8 reshape is what IPEX's fusions expect, and a moved
    // quantize breaks them. Also where the reshaped value feeds no int8 op
    // at all (GPT-2's linear -> view -> gelu, the last layer_norm -> view ->
    // output): the pair then sits right before its dequantize, and
    // drop_fp32_only_pairs removes it.
    bool towards_int8 = true;
    bool fp32_only = true;
    for (auto* dq : dequantizes) {
      for (const auto& use : dq->output()->uses()) {
        towards_int8 = towards_int8 && (is_kind(use.user, {"aten::matmul", "aten::bmm"}) ||
                                        (only_reshapes && is_kind(use.user, {"aten::linear"})));
        fp32_only = fp32_only && !int8_compute(use.user);
      }
    }
    sinkable = sinkable && (towards_int8 || fp32_only);
    if (!sinkable || heads.empty()) continue;
    for (auto* head : heads) head->replaceInput(0, x);
    // Sizes read from the int8 tensor read the same from the fp32 one, and
    // would otherwise keep a dead quantize running.
    std::vector<torch::jit::Node*> sizes;
    for (const auto& use : q->output()->uses()) {
      if (is_kind(use.user, {"aten::size"})) sizes.push_back(use.user);
    }
    for (auto* size : sizes) size->replaceInput(0, x);
    for (auto* dq : dequantizes) {
      torch::jit::WithInsertPoint guard(dq);
      auto* requant = graph.insertNode(graph.create(
          c10::Symbol::aten("quantize_per_tensor"), {dq->input(0), q->input(1), q->input(2), q->input(3)}));
      requant->output()->setType(c10::TensorType::get());
      dq->replaceInput(0, requant->output());
    }
  }
}

// The fp32 value behind a dequantize of an activation (nullptr otherwise).
torch::jit::Value* quantized_from(torch::jit::Value* v) {
  auto* node = v->node();
  if (!is_kind(node, {"aten::dequantize"})) return nullptr;
  auto* q = node->input(0)->node();
  return is_kind(q, {"aten::quantize_per_tensor"}) ? q->input(0) : nullptr;
}

// IPEX's add recipe: for "conv/linear + conv/linear -> add" one operand is
// fused into its producer's kernel as a post-op (kept fp32: operand 0) and
// the other (operand 1) stays quantized.
bool add_keeps_second_gemm(const torch::jit::Node* add, size_t offset, const torch::jit::Value* x) {
  if (offset != 1 || !int8_compute(x->node())) return false;
  auto* first = add->input(0);
  auto* behind = quantized_from(first);
  return int8_compute((behind != nullptr ? behind : first)->node());
}

void drop_fp32_only_pairs(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> quantizes;
  for (auto* node : graph.nodes()) {
    if (is_kind(node, {"aten::quantize_per_tensor"})) quantizes.push_back(node);
  }
  for (auto* q : quantizes) {
    auto* x = q->input(0);
    if (x->node()->kind() == c10::prim::Constant) continue;  // a weight
    std::vector<torch::jit::Node*> dequantizes;
    bool int8_elsewhere = false;
    for (const auto& use : q->output()->uses()) {
      if (is_kind(use.user, {"aten::dequantize"})) {
        dequantizes.push_back(use.user);
        int8_elsewhere = int8_elsewhere || feeds(use.user->output(), int8_compute);
      } else if (!is_kind(use.user, {"aten::size"})) {
        int8_elsewhere = true;  // reshaped in int8 on its way to an int8 op
      }
    }
    // ResNet's identity: in int8 anyway for the next conv, and from an op
    // with an int8 output, so the add reads it quantized.
    const bool identity = int8_elsewhere && int8_output(x->node());
    // A global average pool of a value that stays fp32 for its other users
    // (MobileNetV3's squeeze-excitation: the block's activation feeds the
    // pool and the channel scaling) pools the fp32 value, as IPEX's recipe
    // does, and its small output is quantized: libtorch quantized and
    // dequantized the whole feature map for the pool alone (9 of 10 SE
    // blocks of MobileNetV3-small).
    // Two rounds: the fp32 users first, then the pools if x is fp32 anyway.
    for (int round = 0; round < 2; ++round) {
      bool fp32_elsewhere = false;
      for (const auto& use : x->uses()) fp32_elsewhere = fp32_elsewhere || use.user != q;
      for (auto*& dq : dequantizes) {
        if (dq == nullptr) continue;
        auto* value = dq->output();
        // Per use: one dequantize may feed a linear (kept) and a residual add.
        std::vector<torch::jit::Node*> fp32_users;
        for (const auto& use : value->uses()) {
          const bool fp32_pool = round == 1 && fp32_elsewhere &&
                                 is_kind(use.user, {"aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d"});
          const bool keep = (int8_compute(use.user) && !fp32_pool) ||
                            (is_add(use.user) && (identity || add_keeps_second_gemm(use.user, use.offset, x)));
          if (!keep) fp32_users.push_back(use.user);
        }
        for (auto* user : fp32_users) user->replaceInputWith(value, x);
        if (!value->hasUses()) {
          dq->destroy();
          dq = nullptr;
        }
      }
    }
    // Sizes read from the int8 tensor read the same from the fp32 one (a
    // scripted pool's dimension check), and would keep a dead quantize.
    bool only_sizes = true;
    for (const auto& use : q->output()->uses()) only_sizes = only_sizes && is_kind(use.user, {"aten::size"});
    if (only_sizes) q->output()->replaceAllUsesWith(x);
  }
}

void quantize_softmax_into_matmul(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> softmaxes;
  for (auto* node : graph.nodes()) {
    if (is_kind(node, {"aten::softmax"})) softmaxes.push_back(node);
  }
  for (auto* softmax : softmaxes) {
    auto* probs = softmax->output();
    std::vector<torch::jit::Node*> matmuls;
    for (const auto& use : probs->uses()) {
      if (is_kind(use.user, {"aten::matmul", "aten::bmm"})) matmuls.push_back(use.user);
    }
    if (matmuls.empty()) continue;
    torch::jit::WithInsertPoint guard(softmax->next());
    auto* scale = graph.insertConstant(1.0 / 256.0);
    auto* zero_point = graph.insertConstant(static_cast<int64_t>(0));
    auto* dtype = graph.insertConstant(static_cast<int64_t>(at::kQUInt8));
    auto* q = graph.insertNode(graph.create(c10::Symbol::aten("quantize_per_tensor"),
                                            {probs, scale, zero_point, dtype}));
    q->output()->setType(c10::TensorType::get());
    auto* dq = graph.insertNode(graph.create(c10::Symbol::aten("dequantize"), {q->output()}));
    dq->output()->setType(c10::TensorType::get());
    for (auto* matmul : matmuls) matmul->replaceInputWith(probs, dq->output());
  }
}

// libtorch requantizes the output of an op that keeps its input's
// quantization (average pooling) with the input's qparams read at run time:
// quantize_per_tensor(y, q_scale(q), q_zero_point(q), dtype(q)). oneDNN
// Graph needs constant qparams to take the dequantize that follows into an
// int8 partition; without them ResNet's classifier ran as an fp32 linear on a
// weight dequantized at every call. Where q itself was quantized with
// constants, those constants are the values read at run time.
void constant_qparams_for_requantize(torch::jit::Graph& graph) {
  for (auto* node : graph.nodes()) {
    if (!is_kind(node, {"aten::quantize_per_tensor"}) || node->inputs().size() != 4) continue;
    auto* scale = node->input(1)->node();
    auto* zero_point = node->input(2)->node();
    auto* dtype = node->input(3)->node();
    if (!is_kind(scale, {"aten::q_scale"}) || !is_kind(zero_point, {"aten::q_zero_point"}) ||
        !is_kind(dtype, {"prim::dtype"})) {
      continue;
    }
    auto* source = scale->input(0);
    if (zero_point->input(0) != source || dtype->input(0) != source) continue;
    auto* q = source->node();
    if (!is_kind(q, {"aten::quantize_per_tensor"}) || q->inputs().size() != 4) continue;
    bool constant = true;
    for (size_t i = 1; i < 4; ++i) constant = constant && q->input(i)->node()->kind() == c10::prim::Constant;
    if (!constant) continue;
    for (size_t i = 1; i < 4; ++i) node->replaceInput(i, q->input(i));
  }
}

// libtorch observes every tensor input of a layer_norm (and the other norms
// it quantizes) as an activation, weight and bias too, so the frozen graph
// dequantizes their per-tensor int8 constants on every call; IPEX's recipe
// keeps norms in fp32. A dequantized constant that feeds no int8 op becomes
// the fp32 constant it computes (the same values, once).
void fold_constant_dequantizes(torch::jit::Graph& graph) {
  std::vector<torch::jit::Node*> dequantizes;
  for (auto* node : graph.nodes()) {
    if (!is_kind(node, {"aten::dequantize"}) || node->input(0)->node()->kind() != c10::prim::Constant) continue;
    bool fp32_only = true;
    for (const auto& use : node->output()->uses()) fp32_only = fp32_only && !int8_compute(use.user);
    if (fp32_only) dequantizes.push_back(node);
  }
  for (auto* dq : dequantizes) {
    auto value = torch::jit::toIValue(dq->input(0));
    if (!value || !value->isTensor()) continue;
    torch::jit::WithInsertPoint guard(dq);
    auto* constant = graph.insertConstant(value->toTensor().dequantize());
    dq->output()->replaceAllUsesWith(constant);
    dq->destroy();
  }
}

void place_int8_like_ipex(std::shared_ptr<torch::jit::Graph>& graph) {
  // Inference dropout (train=False, kept by tracing) would hide the pairs and
  // the softmax -> matmul edge behind an identity op.
  torch::jit::removeDropout(graph);
  constant_qparams_for_requantize(*graph);
  pool_between_quantize_pairs(*graph);
  sink_quantize_through_shape_ops(*graph);
  drop_fp32_only_pairs(*graph);
  quantize_softmax_into_matmul(*graph);
  fold_constant_dequantizes(*graph);
  torch::jit::EliminateDeadCode(graph);
}

}  // namespace

// `qdq` = 0: libtorch's own int8 ops (Finalize: quantized::linear/conv with
// packed weights, fbgemm/oneDNN). `qdq` = 1: the quantize/dequantize graph
// IPEX's Python `convert` produces, frozen: quantize_per_tensor/dequantize
// pairs around fp32 ops with quantized weight constants, which IPEX's JIT
// fusion passes (IPEX loaded) turn into its own int8 kernels.
itn_module* itn_quantize_static_convert(const itn_module* observed, const char* method, int qdq) {
  return guarded<itn_module*>(nullptr, [&]() {
    auto module = observed->module.deepcopy();
    auto quantized = torch::jit::InsertQuantDeQuant(module, method, /*inplace=*/true, /*debug=*/qdq != 0,
                                                    torch::jit::QuantType::STATIC);
    auto finalized = qdq != 0 ? torch::jit::freeze_module(quantized, {method})
                              : torch::jit::Finalize(quantized, torch::jit::QuantType::STATIC, {});
    auto graph = finalized.get_method(method).graph();
    torch::jit::ConstantPropagation(graph);
    if (qdq != 0) place_int8_like_ipex(graph);
    torch::jit::EliminateDeadCode(graph);
    return new itn_module{std::move(finalized)};
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

// ---- per-op profile --------------------------------------------------------

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
    return new itn_module{copy};
  });
}
