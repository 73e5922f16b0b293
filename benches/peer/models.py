"""The peer benchmark's models: the architecture families users bring, built
from the real libraries' classes (torchvision, Hugging Face transformers)
with random, seeded weights; reduced configs for the transformers, and
default shapes that keep one fp32 forward on 2 cores around 50 ms or less
where the architecture allows (GFLOP counted by torch's FlopCounterMode,
2 per multiply-add; convnext_tiny is kept whole, 8.9 GFLOP per image).

    family   model         library       saved as  default shape  GFLOP  second shape  GFLOP
    cnn      resnet18      torchvision   trace     2x3x224x224    7.3    1x3x224x224   3.6
    cnn      mobilenet     torchvision   script    8x3x224x224    0.9    1x3x224x224   0.1
             (mobilenet_v3_small)
    cnn      efficientnet  torchvision   trace     1x3x224x224    0.8    4x3x224x224   3.1
             (efficientnet_b0)
    cnn      convnext      torchvision   trace     1x3x224x224    8.9    2x3x224x224   17.8
             (convnext_tiny)
    encoder  bert          transformers  trace     8x128 + mask   7.0    1x32 + mask   0.2
             (BertForSequenceClassification, 4 layers x 256, 4 heads: logits)
    encoder  distilbert    transformers  trace     1x32 + mask    0.15   8x128 + mask  5.2
             (DistilBertModel, 3 layers x 256, 4 heads: last_hidden_state)
    decoder  gpt2          transformers  trace     4x64 ids       0.2    1x32 ids      0.03
             (GPT2Model, 2 layers x 128, 4 heads, use_cache=False: last_hidden_state)
    vit      vit           transformers  trace     2x3x224x224    1.75   1x3x224x224   0.9
             (ViTForImageClassification, 4 layers x 192, 3 heads, patch 16: logits)

Each model is named by the `--input-shape` values ipex-tune takes for it
(`4x3x224x224` floats, `8x128:int30522` int64 ids below 30522, `8x128:int2` a
0/1 mask), and its example inputs are generated the way ipex-tune's generic
suite generates them (src/suite/inputs.rs): the suite's seed (20261128), then
one tensor per input in order, `randn` for floats and `randint(high)` for
`:intN`, from the same libtorch generator. So the peer's recipes, its
accuracy check and ipex-tune's trials see the very same tensors, the
attention mask included (random 0/1 under `:int2`, not all ones).

Every model's forward takes positional tensors and returns ONE tensor
(logits or last_hidden_state): ipex-tune compares outputs.
"""
import torch
import torch.nn as nn

# ipex-tune's generic suite seed (src/suite/mod.rs default_seed) and the
# weights' seed (each model seeded on its own, so a model's weights do not
# depend on which other models were built before it).
INPUT_SEED = 20261128
WEIGHT_SEED = 20261129


class Encoder(nn.Module):
    """An HF encoder called with (input_ids, attention_mask); returns its first
    output (logits of a ...ForSequenceClassification, else last_hidden_state)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]


class Decoder(nn.Module):
    """An HF decoder called with input_ids only; returns last_hidden_state."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids)[0]


class Vision(nn.Module):
    """An HF vision model called with pixel_values; returns its logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values)[0]


def resnet18():
    from torchvision.models import resnet18

    return resnet18(weights=None)


def mobilenet():
    from torchvision.models import mobilenet_v3_small

    return mobilenet_v3_small(weights=None)


def efficientnet():
    from torchvision.models import efficientnet_b0

    return efficientnet_b0(weights=None)


def convnext():
    from torchvision.models import convnext_tiny

    return convnext_tiny(weights=None)


def bert():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, num_labels=2, torchscript=True,
                        attn_implementation="eager")
    return Encoder(BertForSequenceClassification(config))


def distilbert():
    from transformers import DistilBertConfig, DistilBertModel

    config = DistilBertConfig(vocab_size=30522, dim=256, n_layers=3, n_heads=4, hidden_dim=1024,
                              torchscript=True, attn_implementation="eager")
    return Encoder(DistilBertModel(config))


def gpt2():
    from transformers import GPT2Config, GPT2Model

    config = GPT2Config(vocab_size=50257, n_positions=256, n_embd=128, n_layer=2, n_head=4,
                        use_cache=False, torchscript=True, attn_implementation="eager")
    return Decoder(GPT2Model(config))


def vit():
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=224, patch_size=16, num_channels=3, hidden_size=192,
                       num_hidden_layers=4, num_attention_heads=3, intermediate_size=768,
                       num_labels=1000, torchscript=True, attn_implementation="eager")
    return Vision(ViTForImageClassification(config))


def text(batch, seq, vocab, mask=True):
    shapes = [f"{batch}x{seq}:int{vocab}"]
    return shapes + [f"{batch}x{seq}:int2"] if mask else shapes


def image(batch):
    return [f"{batch}x3x224x224"]


# name -> (family, builder, how it is saved, library, [default shapes, second shapes])
MODELS = {
    "resnet18": ("cnn", resnet18, "trace", "torchvision", [image(2), image(1)]),
    "mobilenet": ("cnn", mobilenet, "script", "torchvision", [image(8), image(1)]),
    "efficientnet": ("cnn", efficientnet, "trace", "torchvision", [image(1), image(4)]),
    "convnext": ("cnn", convnext, "trace", "torchvision", [image(1), image(2)]),
    "bert": ("encoder", bert, "trace", "transformers", [text(8, 128, 30522), text(1, 32, 30522)]),
    "distilbert": ("encoder", distilbert, "trace", "transformers", [text(1, 32, 30522), text(8, 128, 30522)]),
    "gpt2": ("decoder", gpt2, "trace", "transformers", [text(4, 64, 50257, mask=False), text(1, 32, 50257, mask=False)]),
    "vit": ("vit", vit, "trace", "transformers", [image(2), image(1)]),
}


def entries(names, all_shapes=False):
    """(model name, --input-shape values) for each name: its default shape,
    and its second one with all_shapes."""
    out = []
    for name in names:
        if name not in MODELS:
            raise SystemExit(f"unknown model {name}; expected one of {', '.join(MODELS)}")
        shapes = MODELS[name][4]
        out += [(name, s) for s in (shapes if all_shapes else shapes[:1])]
    return out


def label(name, shapes):
    """The model's name with its shape, e.g. `bert 8x128`, `resnet18 4x3x224x224`."""
    return f"{name} {shapes[0].split(':')[0]}"


def file_stem(name, shapes):
    return f"{name}-{shapes[0].split(':')[0]}"


def calibrate_batch_norm(model, batches=2, batch=4):
    """Sets every BatchNorm's running statistics to those of its actual
    inputs (standard normal images), as training leaves them. With the
    initial statistics (mean 0, variance 1) a randomly initialized
    mobilenet_v3_small outputs values of 1e-9 and efficientnet_b0 of 1e-14:
    activations vanish layer after layer, int8 quantizes everything to zero,
    and absolute tolerances mean nothing. Recalibrated, the outputs are of order
    1e-2 (mobilenet's classifier is initialized with std 0.01) to 1. Only the BatchNorms run in
    training mode (dropout and stochastic depth stay off)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
        m.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch, 3, 224, 224))
    for m in norms:
        m.eval()
    return model


def build(name):
    """The model in eval mode, weights seeded (BatchNorm statistics
    calibrated). ImportError when its library is missing."""
    torch.manual_seed(WEIGHT_SEED)
    return calibrate_batch_norm(MODELS[name][1]().eval())


def inputs(shapes):
    """The tensors ipex-tune's generic suite makes for these --input-shape values
    (src/suite/inputs.rs `batches`: one batch, seeded with the suite's seed,
    inputs generated in order)."""
    torch.manual_seed(INPUT_SEED)
    out = []
    for text in shapes:
        dims, _, kind = text.partition(":")
        size = [int(d) for d in dims.split("x")]
        if kind in ("", "float"):
            out.append(torch.randn(size))
        elif kind.startswith("int"):
            out.append(torch.randint(int(kind[3:] or 100), size))
        else:
            raise SystemExit(f"--input-shape {text}: unknown kind {kind}")
    return tuple(out)


def save_mode(name):
    return MODELS[name][2]


def library(name):
    return MODELS[name][3]


def to_torchscript(name, module, example):
    """The model as its users ship it: traced on the example inputs, or scripted."""
    with torch.no_grad():
        if save_mode(name) == "script":
            return torch.jit.script(module)
        return torch.jit.trace(module, example, strict=False)
