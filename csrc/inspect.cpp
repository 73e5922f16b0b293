// What a model is, read without running it: method schemas, the op
// histogram and control flow of a graph, what the model says about its
// inputs' sizes, and graph text.
#include "internal.h"

#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <unordered_set>
#include <vector>

using namespace itn;

namespace {

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
  // Attributes the method assigns (prim::SetAttr), as dotted paths from
  // self: state a stateful model keeps between calls.
  std::vector<std::string> assigned;
};

// "sub.h" for prim::SetAttr[name="h"](prim::GetAttr[name="sub"](self), v);
// empty when the object is not reached from self by attribute reads.
std::string assigned_path(const torch::jit::Node* set_attr) {
  std::string path = set_attr->s(c10::attr::name);
  const torch::jit::Value* object = set_attr->input(0);
  while (object->node()->kind() == c10::prim::GetAttr) {
    path = object->node()->s(c10::attr::name) + "." + path;
    object = object->node()->input(0);
  }
  const bool from_self = object->node()->kind() == c10::prim::Param && object->offset() == 0;
  return from_self ? path : std::string();
}

void collect_facts(const torch::jit::Block* block, GraphFacts& facts, int64_t depth) {
  facts.max_block_depth = std::max(facts.max_block_depth, depth);
  for (const auto* n : block->nodes()) {
    facts.nodes += 1;
    facts.ops[n->kind().toQualString()] += 1;
    if (n->kind() == c10::prim::SetAttr) {
      const std::string path = assigned_path(n);
      if (!path.empty() && std::find(facts.assigned.begin(), facts.assigned.end(), path) == facts.assigned.end()) {
        facts.assigned.push_back(path);
      }
    }
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
      << ",\"assigned_attributes\":[";
  first = true;
  for (const auto& path : facts.assigned) {
    out << (first ? "" : ",") << json_escape(path);
    first = false;
  }
  out << "],\"inputs\":[";
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
        << ",\"has_default\":" << (arg.default_value().has_value() ? "true" : "false");
    if (arg.default_value().has_value()) {
      std::ostringstream value;
      value << *arg.default_value();
      out << ",\"default\":" << json_escape(value.str());
    }
    out << "}";
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

}  // namespace

extern "C" {

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

char* itn_module_graph_facts_json(const itn_module* m, const char* method) {
  return guarded<char*>(nullptr, [&]() { return dup_string(graph_facts_json(*inlined_graph(m->module, method))); });
}

}  // extern "C"

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
      // Returned by a branch of an if: the if's output may be the input
      // itself (a scripted nn.LSTM unsqueezes unbatched input in one
      // branch and returns it as it is in the other, then runs aten::lstm
      // on the if's output).
      if (n->kind() == c10::prim::Return && n->owningBlock() != nullptr &&
          n->owningBlock()->owningNode() != nullptr &&
          n->owningBlock()->owningNode()->kind() == c10::prim::If) {
        frontier.push_back(n->owningBlock()->owningNode()->output(use.offset));
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

extern "C" {

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

}  // extern "C"
