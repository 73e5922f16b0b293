// Where IPEX's int8 recipe puts quantize/dequantize pairs, on the graph
// libtorch's graph-mode quantization converted (see the comment below).
#include <torch/csrc/jit/passes/remove_mutation.h>
#include "internal.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/remove_dropout.h>

#include <vector>

using namespace itn;

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
//     observes it;
//  5. silu becomes x * sigmoid(x), the swish oneDNN Graph fuses into a conv.
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
    // Into a convolution through any reshape, and into a linear through any
    // reshape when the value comes from an op without an int8 output (a
    // norm): ConvNeXt's LayerNorm2d is permute -> layer_norm -> permute
    // before its downsampling convolutions and its classifier (permute ->
    // flatten -> linear); with the int8 permute between them, oneDNN Graph
    // left those four convolutions and the classifier in fp32 (0.80x of
    // IPEX's Python int8 recipe on ConvNeXt-Tiny).
    //
    // Each use of the reshaped value either goes that way or is an fp32 op:
    // ConvNeXt's LayerNorm2d output feeds the block's depthwise conv and its
    // residual add; the add then reads the fp32 value (drop_fp32_only_pairs),
    // as in IPEX's graph, and the conv its own quantize.
    const bool from_fp32_op = !int8_output(x->node());
    for (auto* dq : dequantizes) {
      for (const auto& use : dq->output()->uses()) {
        const bool into_int8 = is_kind(use.user, {"aten::matmul", "aten::bmm"}) ||
                               is_kind(use.user, {"aten::conv1d", "aten::conv2d", "aten::conv3d",
                                                  "aten::_convolution"}) ||
                               ((only_reshapes || from_fp32_op) && is_kind(use.user, {"aten::linear"}));
        towards_int8 = towards_int8 && (into_int8 || !int8_compute(use.user));
      }
    }
    sinkable = sinkable && towards_int8;
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

// Whether the add's operand other than `offset` is a convolution's output
// (directly, or through its quantize/dequantize pair). Where it is anything
// else (ConvNeXt's layer-scale mul), IPEX's add recipe keeps both operands
// fp32.
bool other_operand_is_conv(const torch::jit::Node* add, size_t offset) {
  if (offset > 1) return false;
  auto* other = add->input(1 - offset);
  auto* behind = quantized_from(other);
  auto* producer = (behind != nullptr ? behind : other)->node();
  // An unfolded batch norm is folded into its conv before the kernels run.
  if (is_kind(producer, {"aten::batch_norm"})) producer = producer->input(0)->node();
  return is_kind(producer, {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::_convolution"});
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
    // with an int8 output, so the add reads it quantized, when the add's
    // other operand is a convolution's output (IPEX's add recipe: the conv
    // takes the add as a post-op and the identity as its int8 input).
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
                            (is_add(use.user) && ((identity && other_operand_is_conv(use.user, use.offset)) ||
                                                  add_keeps_second_gemm(use.user, use.offset, x)));
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
    // Through the ops that leave probabilities as they are on the way to
    // the matmul: ViT's softmax(x, dtype=float32).to(query.dtype) traces an
    // aten::to there, which kept the attention out of oneDNN Graph's int8
    // partition (the score and value matmuls ran in fp32: 0.72x of IPEX's
    // Python int8 recipe on a 4-layer ViT).
    auto* probs = softmax->output();
    while (probs->uses().size() == 1 &&
           is_kind(probs->uses()[0].user, {"aten::to", "aten::contiguous", "aten::dropout"}) &&
           probs->uses()[0].offset == 0) {
      probs = probs->uses()[0].user->output();
    }
    std::vector<torch::jit::Node*> matmuls;
    for (const auto& use : probs->uses()) {
      if (is_kind(use.user, {"aten::matmul", "aten::bmm"})) matmuls.push_back(use.user);
    }
    if (matmuls.empty()) continue;
    torch::jit::WithInsertPoint guard(probs->node()->next());
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

// oneDNN Graph fuses "conv -> sigmoid -> mul" (swish) into the conv's int8
// partition and has no op for aten::silu, which libtorch's graph keeps
// (IPEX's Python recipe traces nn.SiLU as x * sigmoid(x)). Left as silu,
// every EfficientNet conv ended its partition in fp32, ran the silu
// outside and quantized again: 0.80x of IPEX's Python int8 recipe on
// EfficientNet-B0. silu(x) is x * sigmoid(x) exactly.
void decompose_silu(torch::jit::Block* block) {
  std::vector<torch::jit::Node*> silus;
  for (auto* node : block->nodes()) {
    for (auto* inner : node->blocks()) decompose_silu(inner);
    if (is_kind(node, {"aten::silu"})) silus.push_back(node);
  }
  auto* graph = block->owningGraph();
  for (auto* silu : silus) {
    torch::jit::WithInsertPoint guard(silu);
    auto* x = silu->input(0);
    auto* sigmoid = graph->insertNode(graph->create(c10::Symbol::aten("sigmoid"), {x}));
    sigmoid->output()->setType(x->type());
    auto* mul = graph->insertNode(graph->create(c10::Symbol::aten("mul"), {sigmoid->output(), x}));
    mul->output()->setType(silu->output()->type());
    silu->output()->replaceAllUsesWith(mul->output());
    silu->destroy();
  }
}

}  // namespace

void itn::place_int8_like_ipex(std::shared_ptr<torch::jit::Graph>& graph) {
  // Inference dropout (train=False, kept by tracing) would hide the pairs and
  // the softmax -> matmul edge behind an identity op.
  torch::jit::removeDropout(graph);
  constant_qparams_for_requantize(*graph);
  pool_between_quantize_pairs(*graph);
  sink_quantize_through_shape_ops(*graph);
  drop_fp32_only_pairs(*graph);
  quantize_softmax_into_matmul(*graph);
  fold_constant_dequantizes(*graph);
  // Traced nn.SiLU(inplace=True) is silu_: made functional where that is
  // safe (nothing else reads the overwritten value: the conv output's own
  // quantize, dead once its pair is dropped, must go first), then
  // decomposed.
  torch::jit::EliminateDeadCode(graph);
  torch::jit::RemoveTensorMutation(graph, [](torch::jit::Node* n) { return is_kind(n, {"aten::silu_"}); });
  decompose_silu(graph->block());
  torch::jit::EliminateDeadCode(graph);
}
