// The frozen-graph passes a config applies: dtypes (bf16 casts, the bf16
// weights of autocast), layouts (channels-last weights and inputs, as IPEX's
// recipe has them), freezing's numerics on any method, dropout removal,
// oneDNN prepacking, and the JIT fusers.
#include "internal.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/frozen_concat_linear.h>
#include <torch/csrc/jit/passes/frozen_conv_add_relu_fusion.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_transpose.h>
#include <torch/csrc/jit/passes/frozen_ops_to_mkldnn.h>
#include <torch/csrc/jit/passes/graph_rewrite_helper.h>
#include <torch/csrc/jit/passes/onednn_graph_fuser.h>
#include <torch/csrc/jit/passes/remove_dropout.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <limits>
#include <vector>

using namespace itn;

// Declared here because the PyPI wheel does not ship
// torch/csrc/jit/codegen/fuser/interface.h, though libtorch_cpu.so exports them.
namespace torch::jit {
TORCH_API bool canFuseOnCPU();
TORCH_API void overrideCanFuseOnCPU(bool value);
}  // namespace torch::jit

namespace {

// The largest finite value of a floating dtype.
double finite_max(at::ScalarType dtype) {
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
bool clamp_constants_to_range(torch::jit::Graph& graph, at::ScalarType dtype) {
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

// The index of `node`'s `dtype` argument when it is a constant naming
// `named` (a traced `.to(torch.float32)`, a factory's dtype).
std::optional<size_t> dtype_argument_naming(const torch::jit::Node* node, at::ScalarType named) {
  const auto* schema = node->maybeSchema();
  if (!schema) return std::nullopt;
  auto index = schema->argumentIndexWithName("dtype");
  if (!index || *index >= node->inputs().size()) return std::nullopt;
  auto value = torch::jit::toIValue(node->input(*index));
  if (!value || !value->isInt() || value->toInt() != static_cast<int64_t>(named)) return std::nullopt;
  return index;
}

// HF builds its additive attention mask in the model's dtype:
// (1 - mask.to(self.dtype)) * torch.finfo(self.dtype).min. IPEX's bf16
// recipe traces after ipex.optimize cast the weights, so there self.dtype is
// bf16 and so is the mask, and IPEX's fused attention (bert_flash_mha) takes
// bf16 scores and a bf16 mask; handed the fp32 mask of a graph traced in
// fp32 it aborted ("expected scalar type BFloat16"). A `.to(float32)` whose
// result meets finfo(float32).min within a few ops is that idiom, and
// becomes `.to(dtype)`. Runs before the constant is clamped to `dtype`.
bool masks_in_dtype(torch::jit::Graph& graph, at::ScalarType dtype) {
  const double float32_lowest = -static_cast<double>(std::numeric_limits<float>::max());
  auto is_float32_lowest = [&](torch::jit::Value* v) {
    if (v->node()->kind() != c10::prim::Constant) return false;
    auto value = torch::jit::toIValue(v);
    if (!value) return false;
    if (value->isDouble()) return value->toDouble() <= float32_lowest * 0.99;
    if (value->isTensor() && value->toTensor().numel() == 1 && value->toTensor().is_floating_point()) {
      return value->toTensor().item<double>() <= float32_lowest * 0.99;
    }
    return false;
  };
  // Whether `v` meets the constant within `depth` ops downstream.
  std::function<bool(torch::jit::Value*, int)> meets_lowest = [&](torch::jit::Value* v, int depth) {
    if (depth == 0) return false;
    for (const auto& use : v->uses()) {
      for (auto* input : use.user->inputs()) {
        if (is_float32_lowest(input)) return true;
      }
      for (auto* output : use.user->outputs()) {
        if (meets_lowest(output, depth - 1)) return true;
      }
    }
    return false;
  };
  bool changed = false;
  std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* block) {
    for (auto* node : block->nodes()) {
      for (auto* inner : node->blocks()) walk(inner);
      if (node->kind() != c10::Symbol::aten("to")) continue;
      auto index = dtype_argument_naming(node, at::kFloat);
      if (!index || !meets_lowest(node->output(), 3)) continue;
      torch::jit::WithInsertPoint guard(node);
      node->replaceInput(*index, graph.insertConstant(static_cast<int64_t>(dtype)));
      changed = true;
    }
  };
  walk(graph.block());
  return changed;
}

}  // namespace

extern "C" {

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
        if (auto index = dtype_argument_naming(node, at::kFloat)) {
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

// Whether `kind` is one of the ops CPU autocast runs in its lower precision
// (autocast_mode.cpp's lower_precision_fp list, the ones traced graphs hold).
bool autocast_lowers(c10::Symbol kind) {
  static const std::unordered_set<c10::Symbol> ops = {
      c10::Symbol::aten("linear"),           c10::Symbol::aten("conv1d"),           c10::Symbol::aten("conv2d"),
      c10::Symbol::aten("conv3d"),           c10::Symbol::aten("conv_transpose1d"), c10::Symbol::aten("conv_transpose2d"),
      c10::Symbol::aten("conv_transpose3d"), c10::Symbol::aten("matmul"),           c10::Symbol::aten("mm"),
      c10::Symbol::aten("bmm"),              c10::Symbol::aten("addmm"),            c10::Symbol::aten("baddbmm"),
      c10::Symbol::aten("addbmm"),           c10::Symbol::aten("prelu"),
  };
  return ops.count(kind) > 0;
}

// Ops whose floating output has their first input's dtype (shape and layout
// ops, activations, norms with a reduced input and fp32 affine parameters).
bool keeps_input_dtype(c10::Symbol kind) {
  static const std::unordered_set<c10::Symbol> ops = [] {
    std::unordered_set<c10::Symbol> out;
    for (const char* name :
         {"view", "reshape", "permute", "transpose", "t", "contiguous", "flatten", "squeeze", "unsqueeze", "slice",
          "select", "expand", "expand_as", "narrow", "clone", "detach", "dropout", "relu", "relu_", "relu6",
          "gelu", "silu", "silu_", "sigmoid", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "tanh",
          "hardtanh", "hardtanh_", "leaky_relu", "elu", "softmax", "log_softmax", "layer_norm", "batch_norm",
          "group_norm", "max_pool2d", "max_pool3d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
          "mean", "pad", "constant_pad_nd", "pixel_shuffle", "roll", "chunk", "split", "unbind",
          "channel_shuffle", "upsample_nearest2d", "upsample_bilinear2d", "dropout_", "feature_dropout"}) {
      out.insert(c10::Symbol::aten(name));
    }
    return out;
  }();
  return ops.count(kind) > 0;
}

// Elementwise ops whose result has the dtype of their tensor operands when
// those agree (scalars do not promote a tensor).
bool elementwise(c10::Symbol kind) {
  static const std::unordered_set<c10::Symbol> ops = [] {
    std::unordered_set<c10::Symbol> out;
    for (const char* name : {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "rsub", "masked_fill",
                             "where", "maximum", "minimum", "cat", "stack"}) {
      out.insert(c10::Symbol::aten(name));
    }
    return out;
  }();
  return ops.count(kind) > 0;
}

// The graph `torch.autocast(dtype)` + trace records from a model whose
// conv/linear/embedding weights ipex.optimize(dtype=bf16) cast (IPEX's bf16
// recipe), made from a graph traced in fp32:
// - the frozen weights of linear, 2-D/3-D (transposed) convolution and
//   embedding ops in `dtype` (IPEX_WEIGHT_CONVERT_MODULE_CPU), and the other
//   constant operands of the ops autocast lowers (HF's Conv1D weights, an
//   addmm's bias): the recorded cast of a frozen constant is folded;
// - a cast to `dtype` before each other operand of those ops, unless it
//   already holds `dtype` (the output of a lowered op, through shape ops,
//   activations and norms): the trace records a cast only where autocast
//   made one. So IPEX's patterns see what they see in the Python recipe
//   (linear -> add, q/k/v -> matmul -> softmax -> matmul for its fused
//   attention), and its prepacked linear and convolution, which do not cast
//   their input, get `dtype`;
// - HF's attention mask in the model's dtype (masks_in_dtype) and
//   finfo(float32) constants clamped to `dtype`'s range.
// The module then runs under CPU autocast (itn_module_set_run_autocast), as
// the recipe calls it. The JIT autocast pass wrote casts before and after
// every op instead, which hid IPEX's patterns (HF BERT: 17 unfused linears
// and no fused attention, 0.71x of the recipe).
int itn_pass_autocast_as_traced(itn_module* m, const char* method, int scalar_type) {
  return guarded<int>(-1, [&]() {
    auto graph = method_of(m->module, method).graph();
    const auto dtype = static_cast<at::ScalarType>(scalar_type);
    const std::string before = graph->toString();
    masks_in_dtype(*graph, dtype);
    clamp_constants_to_range(*graph, dtype);
    // A traced convolution is aten::_convolution, which autocast does not
    // lower (only its deprecated overload); as conv2d/conv3d it does, and
    // IPEX's fusions match it.
    torch::jit::graph_rewrite_helper::replaceConvolutionWithAtenConv(graph);

    const auto embedding = c10::Symbol::aten("embedding");
    const auto to = c10::Symbol::aten("to");
    std::unordered_set<const torch::jit::Value*> reduced;
    std::unordered_map<const torch::jit::Value*, torch::jit::Value*> cast_of;
    auto is_tensor = [](const torch::jit::Value* v) { return v->type()->kind() == c10::TypeKind::TensorType; };
    auto constant_tensor = [](torch::jit::Value* v) -> std::optional<at::Tensor> {
      if (v->node()->kind() != c10::prim::Constant) return std::nullopt;
      auto value = torch::jit::toIValue(v);
      if (!value || !value->isTensor()) return std::nullopt;
      return value->toTensor();
    };
    // The operand as `dtype`: a folded constant, the value itself when it
    // holds `dtype`, or one cast per value, right after its definition.
    auto lowered = [&](torch::jit::Node* user, size_t index) {
      auto* v = user->input(index);
      if (!is_tensor(v) || reduced.count(v)) return;
      if (auto t = constant_tensor(v)) {
        if (!t->is_floating_point() || t->scalar_type() == dtype) return;
        torch::jit::WithInsertPoint guard(user);
        user->replaceInput(index, graph->insertConstant(t->to(dtype)));
        return;
      }
      auto found = cast_of.find(v);
      if (found == cast_of.end()) {
        torch::jit::WithInsertPoint guard(v->node()->next());
        auto* cast = graph->insert(to, {v, static_cast<int64_t>(dtype), false, false, c10::IValue()});
        reduced.insert(cast);
        found = cast_of.emplace(v, cast).first;
      }
      user->replaceInput(index, found->second);
    };
    std::function<void(torch::jit::Block*)> walk = [&](torch::jit::Block* block) {
      for (auto* node : block->nodes()) {
        for (auto* inner : node->blocks()) walk(inner);
        const auto kind = node->kind();
        if (autocast_lowers(kind)) {
          for (size_t i = 0; i < node->inputs().size(); ++i) lowered(node, i);
          for (auto* out : node->outputs()) reduced.insert(out);
        } else if (kind == embedding) {
          if (auto weight = constant_tensor(node->input(0)); weight && weight->is_floating_point()) {
            if (weight->scalar_type() != dtype) {
              torch::jit::WithInsertPoint guard(node);
              node->replaceInput(0, graph->insertConstant(weight->to(dtype)));
            }
            reduced.insert(node->output());
          }
        } else if (kind == to) {
          if (dtype_argument_naming(node, dtype)) {
            reduced.insert(node->output());
          }
        } else if (keeps_input_dtype(kind) || kind == c10::prim::ListUnpack) {
          if (!node->inputs().empty() && reduced.count(node->input(0))) {
            for (auto* out : node->outputs()) reduced.insert(out);
          }
        } else if (kind == c10::prim::ListConstruct) {
          const bool all = std::all_of(node->inputs().begin(), node->inputs().end(),
                                       [&](const torch::jit::Value* v) { return reduced.count(v) > 0; });
          if (all && !node->inputs().empty()) reduced.insert(node->output());
        } else if (elementwise(kind)) {
          bool any = false;
          bool all = true;
          for (auto* v : node->inputs()) {
            const bool tensor = is_tensor(v) || v->type()->kind() == c10::TypeKind::ListType;
            if (!tensor) continue;
            // A bool mask or an index does not decide the result's dtype.
            if (auto t = constant_tensor(v); t && (!t->is_floating_point() || t->dim() == 0)) continue;
            if (kind == c10::Symbol::aten("masked_fill") && v == node->input(1)) continue;
            if (kind == c10::Symbol::aten("where") && v == node->input(0)) continue;
            any = true;
            all = all && reduced.count(v) > 0;
          }
          if (any && all) reduced.insert(node->output());
        }
      }
    };
    walk(graph->block());
    torch::jit::EliminateDeadCode(graph);
    return graph->toString() != before ? 1 : 0;
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

}  // extern "C"
