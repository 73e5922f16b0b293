"""The peer benchmark's models (random weights, seeded): a ResNet-18-style
CNN at 224x224, a BERT-style encoder on integer token ids (HF transformers),
and a GPT-2-style decoder (HF transformers). Each comes with its example
inputs and the `--input-shape` that gives ipex-tune the same shapes."""
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    """torchvision's resnet18 layout (BasicBlock x [2, 2, 2, 2]), 1000 classes."""

    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
            blocks.append(BasicBlock(cin, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class HfWrapper(nn.Module):
    """An HF model called with (input_ids, attention_mask), returning logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]


def bert():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, num_labels=2, torchscript=True,
                        attn_implementation="eager")
    return HfWrapper(BertForSequenceClassification(config))


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=50257, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                        torchscript=True, attn_implementation="eager")
    return HfWrapper(GPT2LMHeadModel(config))


def all_models():
    """name -> (module, example inputs, ipex-tune --input-shape values)."""
    torch.manual_seed(20261129)
    ids = lambda vocab: torch.randint(0, vocab, (2, 64))
    mask = torch.ones(2, 64, dtype=torch.long)
    return {
        "resnet18": (ResNet18(), (torch.randn(4, 3, 224, 224),), ["4x3x224x224"]),
        "bert": (bert(), (ids(30522), mask), ["2x64:int30522", "2x64:int2"]),
        "gpt2": (gpt2(), (ids(50257), mask), ["2x64:int50257", "2x64:int2"]),
    }
