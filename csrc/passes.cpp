// The frozen-graph passes a config applies: dtypes (bf16 casts, autocast),
// layouts (channels-last weights and inputs, as IPEX's recipe has them),
// freezing's numerics on any method, dropout removal, oneDNN prepacking, and
// the JIT fusers.
#include "internal.h"

#include <ATen/autocast_mode.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/csrc/jit/passes/autocast.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/frozen_concat_linear.h>
#include <torch/csrc/jit/passes/frozen_conv_add_relu_fusion.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_transpose.h>
#include <torch/csrc/jit/passes/frozen_ops_to_mkldnn.h>
#include <torch/csrc/jit/passes/onednn_graph_fuser.h>
#include <torch/csrc/jit/passes/remove_dropout.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <cmath>
#include <functional>
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
