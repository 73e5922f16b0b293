// Graph-mode quantization: the layers the int8 fallback can keep fp32,
// the rewrites that make a model quantizable as IPEX's recipe sees it
// (HF Conv1D as linear, attribute branches folded, the query scaling after
// the score matmul), dynamic int8, and static int8's prepare and convert.
#include "internal.h"

#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/quantization/finalize.h>
#include <torch/csrc/jit/passes/quantization/insert_observers.h>
#include <torch/csrc/jit/passes/quantization/insert_quant_dequant.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <tuple>
#include <unordered_set>
#include <vector>

using namespace itn;

extern "C" {

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

// The module as graph-mode quantization observes it, as Python's
// prepare_jit: conv-bn folded first, then the rewrites that make it
// quantizable the way IPEX's recipe sees it, then observers. Finalize (like
// Python's convert_jit) only rewrites `forward`.
torch::jit::Module observe(const itn_module* m, const char* method, const itn_module* activation_observer,
                           const itn_module* weight_observer, const char* fp32_layers,
                           torch::jit::QuantType type) {
  TORCH_CHECK(std::strcmp(method, "forward") == 0,
              "graph-mode quantization rewrites only `forward`, not the method '", method, "'");
  auto module = torch::jit::FoldConvBatchNorm(m->module);
  addmm_to_linear(module);
  // Only static int8 quantizes the matmul's operands (dynamic int8 keeps
  // matmuls fp32), so only it needs the scaling moved.
  if (type == torch::jit::QuantType::STATIC) scale_after_matmul(module);
  fold_attribute_branches(module);
  auto qconfig = qconfig_keeping_fp32(activation_observer, weight_observer, fp32_layers);
  return torch::jit::InsertObservers(module, method, qconfig, /*inplace=*/false, type);
}

}  // namespace

itn_module* itn_quantize_dynamic(const itn_module* m, const char* method, const itn_module* activation_observer,
                                 const itn_module* weight_observer, const char* fp32_layers) {
  return guarded<itn_module*>(nullptr, [&]() {
    auto observed = observe(m, method, activation_observer, weight_observer, fp32_layers,
                            torch::jit::QuantType::DYNAMIC);
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
    auto observed = observe(m, method, activation_observer, weight_observer, fp32_layers,
                            torch::jit::QuantType::STATIC);
    return new itn_module{std::move(observed)};
  });
}

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

}  // extern "C"
