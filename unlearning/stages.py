"""The depths at which a class can hide: each shipped architecture's main stages, read in one pass.

Why: the headline probe reads only the penultimate features, right after the place ``erase``
edits; a class removed there can survive one stage lower. The audit at every depth and the
one-shot mode that erases at every stage both need the same list of stages and the same reading
of them, so it is said once here.

Each stage's output is reduced to one vector per image: convolution maps [N, C, H, W] are
global-average-pooled to [N, C]; transformer tokens [N, T, D] become the mean token (the shipped
ViT has no class token and pools by the mean; a model with ``cls_token`` gives its class token);
anything else is flattened. Names run from the input side to the output side and reach
"penultimate" (the classifier layer's input, what the headline probe reads) last, except where the
network has fewer than three hidden depths below it: the paper's MLP (pixels, one hidden pre-activation,
its sigmoid) is read at its logits too, after the penultimate, so that it is audited at four depths as
every other shipped model is (its logits are a distinct readout: 10 numbers, what a user of the model sees).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .device import inference_batch, pick_device
from .layers import _runner, block_names, classifier_layer

PENULTIMATE = "penultimate"
LOGITS = "logits"


@dataclass(frozen=True)
class Stage:
    """Where one depth is read: a module's output (or input, ``read_input``), then ``after``."""
    name: str
    module: str
    read_input: bool = False
    after: Callable[[torch.Tensor], torch.Tensor] | None = None


def _net(model: nn.Module) -> tuple[nn.Module, str]:
    net = getattr(model, "net", model)
    return net, ("net." if net is not model else "")


def _stages(model: nn.Module) -> list[Stage]:
    """The stages before the penultimate features, per architecture (a generic fallback for the rest)."""
    from .models import MLP, CifarResNet, SmallCNN, VisionTransformer

    net, p = _net(model)
    if isinstance(net, MLP):
        # one hidden layer: the (normalised) pixels, the hidden pre-activation, then the sigmoid (penultimate),
        # then the logits (``_stages_after``)
        return [Stage("input", p + "fc1", read_input=True), Stage("fc1 pre-activation", p + "fc1")]
    if isinstance(net, SmallCNN):
        return [Stage("conv block 1", p + "features.2"), Stage("conv block 2", p + "features.6"),
                Stage("hidden pre-activation", p + "head.1")]
    if isinstance(net, CifarResNet):
        # layer3 pooled is the penultimate itself; the stem's ReLU is not a module, so it is applied here
        return [Stage("stem", p + "bn1", after=torch.relu), Stage("stage 1", p + "layer1"),
                Stage("stage 2", p + "layer2")]
    if isinstance(net, VisionTransformer):
        # the last block's mean token, layer-normed, is the penultimate
        return [Stage("patch embedding", p + "patch_embed")] + [
            Stage(f"block {i + 1}", f"{p}blocks.{i}") for i in range(len(net.blocks) - 1)]
    if all(hasattr(net, f"layer{i}") for i in (1, 2, 3, 4)):  # torchvision ResNets
        return [Stage(f"stage {i}", f"{p}layer{i}") for i in (1, 2, 3)]
    names = block_names(model)[:-1]  # every parameter-holding block but the classifier
    return [Stage(n, n) for n in names[-4:]]


def _stages_after(model: nn.Module) -> list[Stage]:
    """The stages after the penultimate features: only where fewer than three depths lie below it."""
    from .models import MLP

    net, p = _net(model)
    if isinstance(net, MLP):  # no further hidden depth exists; the logits are the fourth distinct readout
        return [Stage(LOGITS, p + "fc2")]
    return []


def stage_names(model: nn.Module) -> list[str]:
    """The depths probed, input side first: those below "penultimate", it, then any after it (``_stages_after``)."""
    return [s.name for s in _stages(model)] + [PENULTIMATE] + [s.name for s in _stages_after(model)]


def _pool(x: torch.Tensor, class_token: bool) -> torch.Tensor:
    """[N, C, H, W] -> mean over space; [N, T, D] -> class token or mean token; else flattened."""
    if x.dim() == 4:
        return x.mean(dim=(2, 3))
    if x.dim() == 3:
        return x[:, 0] if class_token else x.mean(1)
    return x.flatten(1)


@torch.no_grad()
def stage_features(model: nn.Module, images: torch.Tensor, device: str | torch.device | None = None,
                   batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """Each stage's pooled output for ``images``, as float [N, C] tensors on the CPU, in one
    batched forward pass (so every depth of one model costs one feature pass)."""
    dev = pick_device(device)
    runner = _runner(model, dev)
    stages = _stages(runner) + _stages_after(runner)
    modules = dict(runner.named_modules())
    _, head = classifier_layer(runner, images[:1].to(dev))
    class_token = hasattr(_net(runner)[0], "cls_token")
    box: dict[str, torch.Tensor] = {}

    def keep(stage: Stage):
        def hook(m, a, o):
            x = a[0] if stage.read_input else o
            box[stage.name] = _pool(stage.after(x) if stage.after else x, class_token).float().cpu()
        return hook

    handles = [modules[s.module].register_forward_hook(keep(s)) for s in stages]
    handles.append(head.register_forward_hook(lambda m, a, o: box.__setitem__(PENULTIMATE, a[0].flatten(1).float().cpu())))
    got: dict[str, list[torch.Tensor]] = {n: [] for n in stage_names(runner)}
    try:
        bs = batch_size or inference_batch(dev)
        for i in range(0, len(images), bs):
            box.clear()
            runner(images[i:i + bs].to(dev))
            for n in got:
                got[n].append(box[n])
    finally:
        for h in handles:
            h.remove()
    return {n: torch.cat(v) if v else torch.empty(0) for n, v in got.items()}
