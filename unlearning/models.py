"""Classifiers by name. Every model takes raw [0, 1] pixels and normalises them itself.

Architectures: ``mlp`` (the paper's input-1000-classes sigmoid MLP), ``cnn`` (a small ReLU CNN
with batch norm), ``resnet8`` / ``resnet20`` (He et al.'s CIFAR residual networks, widths
16-32-64: 78 k / 272 k parameters), ``resnet18`` (ResNet-18 with a small-image stem), ``vit`` (a
small vision transformer: 16 patches, four pre-norm encoder blocks of width 64, mean pooling, a
linear head), and ``tv:<name>`` for any torchvision classifier, built untrained and adapted to the
input channels, the class count and the input size (resized inside the model where the network
needs more pixels).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class ModelError(ValueError):
    """An architecture is unknown or does not fit the data it is asked to classify."""


class Normalize(nn.Module):
    """Per-channel (x - mean) / std; statistics are rebuilt from metadata, never learnt or saved."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(-1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """``normalize`` then ``net``: so that images and mnemonic codes share one input space."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


class MLP(nn.Module):
    """The paper's MNIST model: flatten, Linear(in, 1000), sigmoid, Linear(1000, classes)."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, hidden: int = 1000):
        super().__init__()
        self.fc1 = nn.Linear(math.prod(input_shape), hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.sigmoid(self.fc1(x.flatten(1))))


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head; small enough to train on the CPU in seconds."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 32):
        super().__init__()
        c = input_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 16, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ChannelAdapter(nn.Module):
    """Repeat a grey channel to the three an ImageNet-style network expects (no parameters)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x


def _resnet18_small(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """ResNet-18 with a 3x3 stride-1 stem and no max-pool, the usual choice for 28-32 px images."""
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet (depth 6n + 2): a 3x3 stem, three stages of n blocks at widths
    w, 2w, 4w (strides 1, 2, 2), global average pooling, one linear layer."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, depth: int = 20, width: int = 16):
        super().__init__()
        if (depth - 2) % 6 or depth < 8:
            raise ModelError(f"a CIFAR ResNet has depth 6n + 2 (8, 14, 20, ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, c = [], width
        for i, w in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(c, w, 2 if (i > 0 and j == 0) else 1))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Attention(nn.Module):
    """Multi-head self-attention written out (no fused kernel), so vmap and per-sample gradients see
    plain matrix products."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ModelError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def patch_size_for(height: int, width: int, max_tokens: int = 16) -> int:
    """The smallest patch side dividing both sides that gives at most ``max_tokens`` patches
    (28 px: 7, 32 px: 8, 8 px: 2); the largest common divisor when none does."""
    common = [p for p in range(1, min(height, width) + 1) if height % p == 0 and width % p == 0]
    fitting = [p for p in common if (height // p) * (width // p) <= max_tokens]
    return fitting[0] if fitting else common[-1]


class VisionTransformer(nn.Module):
    """A small ViT (Dosovitskiy et al.) for small images: non-overlapping patches embedded by a
    strided convolution, learnt position embeddings, pre-norm encoder blocks, a final layer norm,
    mean pooling over the patches and one linear layer whose output is the logits."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, dim: int = 64, depth: int = 4,
                 heads: int = 4, mlp_dim: int = 128, patch: int | None = None):
        super().__init__()
        c, h, w = input_shape
        patch = patch or patch_size_for(h, w)
        if h % patch or w % patch:
            raise ModelError(f"patch size {patch} does not divide the input {h}x{w}")
        self.patch_embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, (h // patch) * (w // patch), dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        return self.head(self.norm(self.blocks(tokens)).mean(1))


def _resnet8(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    return CifarResNet(input_shape, num_classes, depth=8)


def _resnet20(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    return CifarResNet(input_shape, num_classes, depth=20)


class Resize(nn.Module):
    """Bilinear resize to a fixed size, for networks that cannot take the data's own (no parameters)."""

    def __init__(self, size: tuple[int, int]):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"


# Sides tried, smallest first, when a torchvision network cannot take the data's own size (a stack of
# poolings shrinks 28 px to nothing; MaxViT's window partitions need 224).
RESIZE_SIDES = (32, 64, 96, 128, 160, 224, 299)


def _fits(net: nn.Module, shape: Sequence[int]) -> str | None:
    """None if ``net`` takes one zero input of ``shape`` (eval mode), else the reason it does not."""
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, *shape))
    except (RuntimeError, AssertionError, ValueError, IndexError) as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None


def _torchvision(name: str, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """A torchvision classifier for ``input_shape``: grey repeated to three channels, and resized
    inside the model where the network cannot take the data's size.

    ViTs are built for the data: ``image_size`` is the side rounded up to a multiple of the patch
    (28 px and vit_b_16: 32 px, four patches). Other networks are tried at the data's own size, then
    at ``RESIZE_SIDES``; the first that works is kept. The choice depends only on the name and the
    input shape, so a checkpoint rebuilds the same network.
    """
    import torchvision.models as tvm

    if name not in tvm.list_models(module=tvm):
        raise ModelError(f"unknown torchvision classifier {name!r}")
    channels, height, width = (int(s) for s in input_shape)
    if channels not in (1, 3):
        raise ModelError(f"torchvision classifiers take 1 (repeated) or 3 channels; {name} cannot take {channels}")
    kwargs: dict = {}
    if name.startswith("vit_"):
        patch = int(name.rsplit("_", 1)[1])
        kwargs["image_size"] = patch * math.ceil(max(height, width) / patch)
    try:
        net = tvm.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as e:
        raise ModelError(f"torchvision model {name!r} cannot be built for {num_classes} classes: {e}") from None
    stages: list[nn.Module] = [ChannelAdapter(3)] if channels != 3 else []
    if "image_size" in kwargs:
        side = kwargs["image_size"]
        if (height, width) != (side, side):
            stages.append(Resize((side, side)))
    elif (reason := _fits(net, (3, height, width))) is not None:
        side = next((s for s in RESIZE_SIDES if s > max(height, width) and _fits(net, (3, s, s)) is None), None)
        if side is None:
            raise ModelError(f"torchvision model {name!r} cannot take {height}x{width} inputs ({reason}), "
                             f"nor any resize up to {RESIZE_SIDES[-1]} px")
        stages.append(Resize((side, side)))
    return nn.Sequential(*stages, net) if stages else net


ARCHITECTURES = {
    "mlp": MLP,
    "cnn": SmallCNN,
    "resnet8": _resnet8,
    "resnet20": _resnet20,
    "resnet18": _resnet18_small,
    "vit": VisionTransformer,
}


def check_arch(arch: object) -> None:
    """ModelError unless ``arch`` names a known architecture; checked from metadata before anything is built."""
    if not isinstance(arch, str) or not arch:
        raise ModelError(f"the architecture must be a name, got {arch!r}")
    if arch in ARCHITECTURES:
        return
    if arch.startswith("tv:"):
        import torchvision.models as tvm

        if arch[3:] in tvm.list_models(module=tvm):
            return
        raise ModelError(f"unknown torchvision classifier {arch[3:][:80]!r}")
    raise ModelError(f"unknown architecture {arch[:80]!r}; choose one of {sorted(ARCHITECTURES)} or 'tv:<torchvision name>'")


def build_model(arch: str, input_shape: Sequence[int], num_classes: int,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Classifier:
    """A freshly initialised classifier; raises ModelError on an unknown name or a shape it cannot take."""
    if len(input_shape) != 3 or any(int(s) < 1 for s in input_shape):
        raise ModelError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    if num_classes < 2:
        raise ModelError(f"a classifier needs at least two classes, got {num_classes}")
    channels = input_shape[0]
    mean = tuple(mean) if mean is not None else (0.0,) * channels
    std = tuple(std) if std is not None else (1.0,) * channels
    if len(mean) != channels or len(std) != channels:
        raise ModelError(f"mean/std need {channels} values for {channels} channels, got {len(mean)}/{len(std)}")
    if arch.startswith("tv:"):
        net = _torchvision(arch[3:], input_shape, num_classes)
    elif arch in ARCHITECTURES:
        net = ARCHITECTURES[arch](tuple(input_shape), num_classes)
    else:
        raise ModelError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)} or 'tv:<torchvision name>'")
    model = Classifier(net, mean, std)
    with torch.no_grad():  # fail now, with a clear message, if the input shape does not fit
        try:
            out = model.eval()(torch.zeros(2, *input_shape))
        except (RuntimeError, AssertionError) as e:
            raise ModelError(f"{arch} cannot take inputs of shape {tuple(input_shape)}: {e}") from None
    if out.shape != (2, num_classes):
        raise ModelError(f"{arch} produced outputs of shape {tuple(out.shape)}, expected (2, {num_classes})")
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
