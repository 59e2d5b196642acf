"""Diagonal Fisher information on the mnemonic codes, split into forgotten and remaining classes.

For each class c, g_c is the gradient of CE(model(code_c), c). The forget Fisher is the mean of
g_c**2 over the forgotten classes, the remain Fisher the mean over the rest, each plus 1e-16.
The squared per-class gradients come from ``sqgrad.accumulate_sq_grad_sums``: closed forms for
linear, convolution and batch-norm layers (no per-sample gradient is materialised), vmap for the rest.
Codes go through in micro-batches of ``chunk_size`` and the squared gradients are summed as they
arrive, so memory is bounded by ``chunk_size`` x #parameters at most.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch._dynamo  # noqa: F401  torch.func imports it lazily on first use (~0.9 s); pay that at import
from torch import nn

from ..device import pick_device
from ..inputs import check_classes, model_dtype  # noqa: F401  check_classes lived here; kept importable
from .sqgrad import accumulate_sq_grad_sums

EPS = 1e-16


@dataclass(frozen=True)
class FisherPair:
    """Per-parameter-tensor diagonal Fishers (same names as ``model.named_parameters()``)."""

    forget: dict[str, torch.Tensor]
    remain: dict[str, torch.Tensor]


def code_fisher(model: nn.Module, codes: torch.Tensor, forget_classes: Sequence[int],
                device: str | torch.device | None = None, chunk_size: int = 16,
                on_retry: Callable[[str], None] | None = None, strategy: str = "auto") -> FisherPair:
    """Forget / remain diagonal Fishers of ``model`` on its codes, batched and chunked.

    The model is used in eval mode (batch-norm running statistics as trained) and is not changed.
    Out of memory halves the chunk and starts again (``on_retry`` hears about it), down to one code.
    ``strategy``: "auto" (closed forms where a layer has one, vmap elsewhere) or "vmap" (vmap for all).
    """
    dev = pick_device(device)
    num_classes = len(codes)
    forget = check_classes(forget_classes, num_classes)
    if not isinstance(codes, torch.Tensor) or not codes.is_floating_point():
        raise ValueError(f"codes must be a floating-point tensor, got {getattr(codes, 'dtype', type(codes).__name__)}")
    codes = codes.to(model_dtype(model))  # the codes follow the model's dtype, never the other way
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    was_training = model.training
    model.eval()
    params = {n: p.detach().to(dev) for n, p in model.named_parameters()}
    buffers = {n: b.detach().to(dev) for n, b in model.named_buffers()}
    is_forget = torch.zeros(num_classes, dtype=torch.bool)
    is_forget[forget] = True
    sums = {n: torch.empty((2, *p.shape), dtype=p.dtype, device=dev) for n, p in params.items()}  # [forget, remain]
    labels = torch.arange(num_classes)
    try:
        # functional_call needs the module's own tensors on the same device as the inputs
        model_dev = next(model.parameters()).device
        runner = model if model_dev == dev else _moved_copy(model, dev)
        while True:
            try:
                for t in sums.values():
                    t.zero_()
                for start in range(0, num_classes, chunk_size):
                    sl = slice(start, start + chunk_size)
                    wf = is_forget[sl].to(dev, torch.float32)
                    accumulate_sq_grad_sums(runner, params, buffers, codes[sl].to(dev), labels[sl].to(dev),
                                            torch.stack([wf, 1.0 - wf]), sums, strategy=strategy)
                break
            except RuntimeError as e:  # torch.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(e) or chunk_size == 1:
                    raise
                chunk_size = max(1, chunk_size // 2)
                free_cache(dev)
                if on_retry is not None:
                    on_retry(f"out of memory on {dev.type}; retrying with {chunk_size} codes at a time")
    finally:
        model.train(was_training)
    counts = torch.tensor([len(forget), num_classes - len(forget)], dtype=torch.float32, device=dev)
    for n, s in sums.items():  # mean + EPS, in place
        s.div_(counts.view(2, *([1] * (s.dim() - 1)))).add_(EPS)
    return FisherPair({n: s[0] for n, s in sums.items()}, {n: s[1] for n, s in sums.items()})


def is_out_of_memory(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def is_device_fault(e: BaseException) -> bool:
    """An error of the accelerator itself (memory, driver, kernel), worth retrying on the CPU."""
    text = str(e)
    return is_out_of_memory(e) or (isinstance(e, RuntimeError) and any(
        k in text for k in ("CUDA", "cuDNN", "CUBLAS", "cublas", "MPS", "HIP", "device-side")))


def free_cache(device: torch.device) -> None:
    if device.type == "cuda" and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def _moved_copy(model: nn.Module, device: torch.device) -> nn.Module:
    import copy

    return copy.deepcopy(model).to(device).eval()


def code_fisher_loop(model: nn.Module, codes: torch.Tensor, forget_classes: Sequence[int],
                     device: str | torch.device | None = None) -> FisherPair:
    """The reference implementation's per-class backward loop; kept to check and time the batched path."""
    import copy

    dev = pick_device(device)
    forget = set(check_classes(forget_classes, len(codes)))
    work = copy.deepcopy(model).to(dev).eval()
    sum_f = {n: torch.zeros_like(p) for n, p in work.named_parameters()}
    sum_r = {n: torch.zeros_like(p) for n, p in work.named_parameters()}
    for c in range(len(codes)):
        work.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(work(codes[c:c + 1].to(dev)), torch.tensor([c], device=dev))
        loss.backward()
        target = sum_f if c in forget else sum_r
        for n, p in work.named_parameters():
            target[n] += p.grad.square()
    n_f, n_r = len(forget), len(codes) - len(forget)
    return FisherPair({n: s / n_f + EPS for n, s in sum_f.items()},
                      {n: s / n_r + EPS for n, s in sum_r.items()})
