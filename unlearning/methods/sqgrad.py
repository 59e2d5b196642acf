"""Weighted sums of per-sample squared gradients, without materialising what need not be.

For a batch x_1..x_B with labels y_i and weight rows W[k, i], this computes, for every parameter
theta, S_k = sum_i W[k, i] * (d CE(f(x_i), y_i) / d theta)**2 — the diagonal Fisher pieces of
``fisher.code_fisher``. ``torch.func.vmap(grad(...))`` gets there by building every per-sample
gradient (B x #params floats) and squaring it; for the layers that hold nearly all parameters the
sum has a closed form from one ordinary batched forward and backward:

- ``nn.Linear`` on [B, in] inputs: the per-sample weight gradient is the outer product
  delta_i a_i^T (delta_i = d loss_i / d output_i, a_i = input_i), so
  S_k = (W[k] * delta**2)^T @ a**2: one small matrix product, nothing per-sample materialised.
  On [B, ..., in] inputs (tokens) the per-sample gradient sum_t delta_it a_it^T is built with bmm.
- ``nn.Conv2d`` (zero padding, no groups): per-sample weight gradients must be formed (B x the
  weight's size), by one grouped convolution backward with the batch as groups on large feature
  maps, by unfold and bmm into a reused buffer on small ones; then squared and summed in place.
- ``nn.BatchNorm1d/2d`` in eval mode: d/d gamma = sum over positions of delta * x_hat, d/d beta = sum of delta.
- biases: the squared sum of delta_i over positions.

The deltas come from one backward of the *summed* loss, which equals each sample's own gradient
because an eval-mode network treats samples independently (batch norm uses its running
statistics). Every other parameter (layer norms, embeddings, parameters shared between modules,
modules called more than once per forward, custom layers) goes through vmap as before, so the
result is the same for any model; ``strategy="vmap"`` forces vmap for everything.
"""
from __future__ import annotations

import threading

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

_CLOSED_FORM = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)


def _eligible(module: nn.Module) -> bool:
    if type(module) not in _CLOSED_FORM:  # exact types: a subclass may override forward
        return False
    if isinstance(module, nn.Conv2d):
        return (module.groups == 1 and module.padding_mode == "zeros" and not isinstance(module.padding, str))
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return (not module.training and module.affine and module.track_running_stats
                and module.running_mean is not None and module.running_var is not None)
    return True


def _candidates(model: nn.Module) -> dict[str, nn.Module]:
    """Modules whose own parameters no other module shares and whose sums have a closed form."""
    owners: dict[int, int] = {}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    found = {}
    for name, m in model.named_modules():
        own = list(m.parameters(recurse=False))
        if own and _eligible(m) and all(owners[id(p)] == 1 for p in own):
            found[name] = m
    return found


def _x_hat(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return ((x - m.running_mean.view(shape)) * torch.rsqrt(m.running_var.view(shape) + m.eps)).detach()


def _weighted(sq: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """sum_i w[k, i] * sq[i, ...] for every row k: [k, ...]."""
    return (w @ sq.flatten(1)).view(w.shape[0], *sq.shape[1:])


def _add_weighted(acc: torch.Tensor, sq: torch.Tensor, w: torch.Tensor) -> None:
    """acc[k] += sum_i w[k, i] * sq[i] in place (acc is [k, ...], contiguous; sq is [n, ...])."""
    acc.view(w.shape[0], -1).addmm_(w, sq.reshape(len(sq), -1))


GROUPED_CONV_MIN_POSITIONS = 256  # at or above this many output positions, grouped convolution beats unfold + bmm
SCRATCH_FLOATS = 1 << 22  # 16 MiB of float32 for per-sample conv gradients, reused across layers and chunks


class _Scratch:
    """One buffer reused for per-sample gradients: fresh allocations of tens of MiB cost more in page
    faults than the products written into them."""

    def __init__(self):
        self.buf: torch.Tensor | None = None

    def take(self, numel: int, like: torch.Tensor) -> torch.Tensor:
        if self.buf is None or self.buf.numel() < numel or self.buf.device != like.device \
                or self.buf.dtype != like.dtype:
            self.buf = torch.empty(numel, device=like.device, dtype=like.dtype)
        return self.buf[:numel]


def _conv_weight_sums(m: nn.Conv2d, a: torch.Tensor, d: torch.Tensor, w: torch.Tensor, acc: torch.Tensor,
                      scratch: _Scratch) -> None:
    """Add sum_i w[k, i] * (per-sample weight gradient)**2 of a convolution to ``acc``.

    A sample's weight gradient is the sum over output positions of delta x input patch; it has to be
    formed (B x the weight's size in all). Large feature maps: one grouped convolution backward with
    the batch as groups (no unfolded copy of the input). Small ones (many channels, few positions):
    unfold, then a batched matrix product into a reused buffer, a few samples at a time.
    """
    b, c_out = d.shape[:2]
    if d[0, 0].numel() >= GROUPED_CONV_MIN_POSITIONS:
        g = torch.nn.grad.conv2d_weight(a.reshape(1, -1, *a.shape[2:]), (b * c_out, *m.weight.shape[1:]),
                                        d.reshape(1, -1, *d.shape[2:]), stride=m.stride, padding=m.padding,
                                        dilation=m.dilation, groups=b)
        _add_weighted(acc, g.view(b, -1).square_(), w)
        return
    cols = nn.functional.unfold(a, m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)
    d3 = d.reshape(b, c_out, -1)
    per_sample = c_out * cols.shape[1]
    step = max(1, min(b, SCRATCH_FLOATS // per_sample))
    buf = scratch.take(step * per_sample, d).view(step, c_out, cols.shape[1])
    for s in range(0, b, step):
        n = min(step, b - s)
        g = torch.bmm(d3[s:s + n], cols[s:s + n].transpose(1, 2), out=buf[:n])
        _add_weighted(acc, g.square_(), w[:, s:s + n])


def _module_sums(m: nn.Module, a: torch.Tensor, d: torch.Tensor, w: torch.Tensor,
                 acc: dict[str, torch.Tensor], scratch: _Scratch) -> None:
    """Add one module's closed-form weighted squared-gradient sums to ``acc`` ([k, *shape] each)."""
    b = a.shape[0]
    if isinstance(m, nn.Linear):
        if a.dim() == 2:
            # [k, out, B] @ [B, in], written straight into the accumulator: nothing per-sample
            lhs = (w[:, :, None] * d.square()).transpose(1, 2)
            acc["weight"].baddbmm_(lhs, a.square().expand(w.shape[0], -1, -1))
            bias_g = d
        else:
            a3, d3 = a.reshape(b, -1, a.shape[-1]), d.reshape(b, -1, d.shape[-1])
            _add_weighted(acc["weight"], torch.bmm(d3.transpose(1, 2), a3).square_(), w)
            bias_g = d3.sum(1)
        if m.bias is not None:
            _add_weighted(acc["bias"], bias_g.square(), w)
    elif isinstance(m, nn.Conv2d):
        _conv_weight_sums(m, a, d, w, acc["weight"], scratch)
        if m.bias is not None:
            _add_weighted(acc["bias"], d.reshape(b, d.shape[1], -1).sum(2).square(), w)
    else:  # eval-mode batch norm; ``a`` is already x_hat
        dims = tuple(range(2, d.dim()))
        gamma = (d * a).sum(dims) if dims else d * a
        beta = d.sum(dims) if dims else d
        _add_weighted(acc["weight"], gamma.square(), w)
        _add_weighted(acc["bias"], beta.square(), w)


def _closed_form(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                 x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, out: dict[str, torch.Tensor]) -> set[str]:
    """Add the sums of eligible modules' parameters to ``out``, from one batched forward and backward;
    returns the names it covered."""
    candidates = _candidates(model)
    if not candidates:
        return set()
    me = threading.get_ident()
    records: dict[str, dict] = {name: {"calls": 0} for name in candidates}

    def hook_for(name: str):
        rec = records[name]

        def hook(m, args, output):
            if threading.get_ident() != me:  # someone else's forward through a shared model
                return
            rec["calls"] += 1
            if (rec["calls"] > 1 or not args or not isinstance(args[0], torch.Tensor)
                    or not isinstance(output, torch.Tensor) or not output.requires_grad):
                return  # no closed form for this call (keyword input, reuse, ...): vmap takes the parameters
            a = args[0]
            rec["input"] = _x_hat(m, a) if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) else a.detach()

            def grab(g: torch.Tensor) -> None:
                rec["grad"] = g.detach()

            # registered before any later in-place op on ``output``, so it sees d loss / d (this output)
            output.register_hook(grab)
        return hook

    def full(name: str, pname: str) -> str:
        return f"{name}.{pname}" if name else pname

    # Backward only has to reach every candidate's output, not to form weight gradients (the closed
    # forms replace them): ask for the biases, and for the input when a layer has no bias (a conv
    # before a batch norm): every layer's output lies between the input and the loss.
    wanted = [full(name, "bias") for name, m in candidates.items() if getattr(m, "bias", None) is not None]
    wanted = [n for n in wanted if n in params]
    via_input = x.is_floating_point() and len(wanted) < len(candidates)
    if len(wanted) < len(candidates) and not via_input:  # integer inputs: ask for the weights as well
        wanted += [full(name, "weight") for name, m in candidates.items() if getattr(m, "bias", None) is None]
    handles = [m.register_forward_hook(hook_for(name)) for name, m in candidates.items()]
    leaves = {n: p.detach().requires_grad_(n in wanted) for n, p in params.items()}
    x_in = x.detach().requires_grad_(True) if via_input else x
    try:
        with torch.enable_grad():
            logits = functional_call(model, (leaves, buffers), (x_in,))
            loss = nn.functional.cross_entropy(logits, y, reduction="sum")
            targets = [leaves[n] for n in wanted] + ([x_in] if via_input else [])
            torch.autograd.grad(loss, targets, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    covered: set[str] = set()
    scratch = _Scratch()
    for name, rec in records.items():
        m = candidates[name]
        names = {pname: full(name, pname) for pname, p in m.named_parameters(recurse=False)}
        if rec["calls"] != 1 or "grad" not in rec or "input" not in rec or not all(n in out for n in names.values()):
            continue
        _module_sums(m, rec["input"], rec["grad"], w, {pname: out[n] for pname, n in names.items()}, scratch)
        covered.update(names.values())
    return covered


def _vmap_sums(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
               x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Per-sample gradients of the ``names`` parameters by vmap(grad), squared and weighted."""
    chosen = {n: params[n] for n in names}
    rest = {n: p for n, p in params.items() if n not in chosen}

    def loss_fn(p, xi, yi):
        out = functional_call(model, ({**rest, **p}, buffers), (xi.unsqueeze(0),))
        return nn.functional.cross_entropy(out, yi.unsqueeze(0))

    grads = vmap(grad(loss_fn), in_dims=(None, 0, 0))(chosen, x, y)
    return {n: _weighted(g.square_(), w) for n, g in grads.items()}


def accumulate_sq_grad_sums(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                            x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, out: dict[str, torch.Tensor],
                            strategy: str = "auto") -> None:
    """Add sum_i weights[k, i] * (per-sample gradient)**2 to ``out[name]`` (``[k, *shape]``) in place.

    ``model`` must be in eval mode; ``params`` and ``buffers`` are the tensors to evaluate it at
    (as for ``functional_call``; they are not modified and the model gets no ``.grad``).
    ``strategy``: "auto" (closed forms where known, vmap for the rest) or "vmap" (vmap for all).
    """
    if strategy not in ("auto", "vmap"):
        raise ValueError(f"strategy must be 'auto' or 'vmap', got {strategy!r}")
    w = weights.to(x.device, out[next(iter(out))].dtype if out else torch.float32)
    covered = _closed_form(model, params, buffers, x, y, w, out) if strategy == "auto" else set()
    missing = [n for n in params if n not in covered]
    if missing:
        for n, s in _vmap_sums(model, params, buffers, x, y, w, missing).items():
            out[n] += s


def weighted_sq_grad_sums(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                          x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor,
                          strategy: str = "auto") -> dict[str, torch.Tensor]:
    """For each parameter name, ``[k, *shape]``: sum_i weights[k, i] * (per-sample gradient)**2.

    The same as ``accumulate_sq_grad_sums`` into zeros; see there.
    """
    out = {n: torch.zeros(weights.shape[0], *p.shape, device=x.device, dtype=p.dtype) for n, p in params.items()}
    accumulate_sq_grad_sums(model, params, buffers, x, y, weights, out, strategy=strategy)
    return out
