"""Where a classifier's layers are, and what flows through them: the classifier layer, its input
(the penultimate features), and the outputs of the main blocks (for layer-wise comparisons)."""
from __future__ import annotations

import torch
from torch import nn

from .device import inference_batch, pick_device


def classifier_layer(model: nn.Module, example: torch.Tensor) -> tuple[str, nn.Linear]:
    """(name, module) of the linear layer whose output is the model's output (its logits).

    Found by running ``example`` through the model and watching every ``nn.Linear``; raises
    ValueError when the logits come from anything else (a convolution, an operation after the
    last linear layer, a linear layer applied to tokens).
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda m, a, o, n=n: outputs.__setitem__(n, o))
               for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            logits = model.eval()(example)
    finally:
        for h in handles:
            h.remove()
    for name, out in outputs.items():
        if out is logits and logits.dim() == 2:
            return name, dict(model.named_modules())[name]
    raise ValueError("the classifier-layer modes need a model whose logits are the output of a linear layer "
                     "(nn.Linear); this one has none at its end. Use mode 'paper'.")


@torch.no_grad()
def features_and_logits(model: nn.Module, layer: nn.Module, images: torch.Tensor, device: torch.device,
                        batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs of ``layer``, logits) for ``images``, in batches (default: the device's ``inference_batch``)."""
    batch_size = batch_size or inference_batch(device)
    feats, logits = [], []
    box: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda m, a, o: box.__setitem__("h", a[0]))
    try:
        for i in range(0, len(images), batch_size):
            logits.append(model(images[i:i + batch_size].to(device)).float())
            feats.append(box["h"].float())
    finally:
        handle.remove()
    if not feats:
        return torch.empty(0), torch.empty(0)
    return torch.cat(feats), torch.cat(logits)


def _runner(model: nn.Module, dev: torch.device) -> nn.Module:
    """The model itself when it lives on ``dev``, else a temporary copy there (a shared model never moves)."""
    import copy

    p = next(model.parameters(), None)
    model.eval()
    return model if p is None or p.device.type == dev.type else copy.deepcopy(model).to(dev).eval()


def penultimate(model: nn.Module, images: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """The classifier layer's input for each image (on the CPU): what a linear probe reads."""
    dev = pick_device(device)
    runner = _runner(model, dev)
    _, layer = classifier_layer(runner, images[:1].to(dev))
    return features_and_logits(runner, layer, images, dev)[0].cpu()


def block_names(model: nn.Module) -> list[str]:
    """The layers compared layer by layer: each parameter-holding child of the network (a residual
    block counts as one), in forward order, ending with the classifier layer."""
    net = getattr(model, "net", model)
    prefix = "net." if net is not model else ""
    names = []
    for name, child in net.named_children():
        if isinstance(child, nn.Sequential) and len(child) and not any(p is not None for p in child._parameters.values()):
            for sub, m in child.named_children():
                if any(True for _ in m.parameters()):
                    names.append(f"{prefix}{name}.{sub}")
        elif any(True for _ in child.parameters()):
            names.append(prefix + name)
    return names


@torch.no_grad()
def layer_outputs(model: nn.Module, images: torch.Tensor, device: str | torch.device | None = None,
                  names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Each block's output for ``images`` (flattened per image, on the CPU), plus "penultimate"."""
    dev = pick_device(device)
    runner = _runner(model, dev)
    names = names or block_names(runner)
    modules = dict(runner.named_modules())
    got: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    handles = [modules[n].register_forward_hook(lambda m, a, o, n=n: got[n].append(o.flatten(1).float().cpu()))
               for n in names]
    try:
        _, layer = classifier_layer(runner, images[:1].to(dev))
        for n in names:
            got[n].clear()
        feats, _ = features_and_logits(runner, layer, images, dev)
    finally:
        for h in handles:
            h.remove()
    out = {n: torch.cat(v) for n, v in got.items() if v}
    out["penultimate"] = feats.flatten(1).cpu()
    return out
