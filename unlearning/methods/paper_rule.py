"""The published rule (Yamashita et al., 2023), exactly: mode ``paper``.

Per parameter tensor n: r = Ff / Fr (computed as exp(log Ff - log Fr), NaN -> 0, inf -> largest
finite), s_n = min(lambda1, lambda2 / max r), delta_n = s_n * r. The candidates theta + delta and
theta - delta are scored on the codes alone by (1 - acc_F) + acc_R and the better one is kept
(ties go to "-", as in the reference code). No data, no gradient steps.
"""
from __future__ import annotations

import copy
import math
import numbers
import time

import numpy as np
import torch
from torch import nn

from ..device import describe, synchronize
from .fisher import FisherPair, code_fisher
from ..evaluation.metrics import code_accuracies
from ..results import ForgetResult, tensor_reports

PAPER_LAMBDAS = {  # (lambda1, lambda2) from the reference configs
    "mnist": (1e-3, 10.0),
    "cifar10": (1e-5, 1e4),
}


def check_lambda(name: str, value: float) -> float:
    """``value`` as a float if it is a positive finite real number up to 1e12; a string such as "0.001" or a
    boolean is refused, never converted (a caller's type error should surface, not be guessed at)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if v > 1e12:
        raise ValueError(f"{name} = {v:g} is absurdly large (at most 1e12)")
    return v


def fisher_ratio(forget: torch.Tensor, remain: torch.Tensor) -> torch.Tensor:
    """r = exp(log Ff - log Fr) with NaN -> 0 and +/-inf -> the largest finite value (the reference's rule).

    When every Ff / Fr is positive and finite (always, with the Fishers' + 1e-16) that is the plain
    quotient, computed in one pass; the log / exp route runs only when a special value needs it.
    """
    quotient = forget / remain
    low, high = torch.aminmax(quotient)  # NaN anywhere makes both NaN and fails the test below
    if bool(low > 0) and bool(high < float("inf")):
        return quotient
    log_r = torch.log(forget) - torch.log(remain)
    log_r = torch.nan_to_num(log_r, nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    finite = log_r[torch.isfinite(log_r)]
    biggest = finite.max() if finite.numel() else torch.zeros((), device=log_r.device)
    log_r = torch.where(torch.isinf(log_r), biggest, log_r)
    return torch.exp(log_r)


def paper_perturbation(ratio: torch.Tensor, lambda1: float, lambda2: float) -> tuple[torch.Tensor, float]:
    """delta = min(lambda1, lambda2 / max r) * r, per tensor; returns (delta, scale)."""
    peak = float(ratio.max())
    scale = lambda1 if peak <= 0 or not math.isfinite(peak) else min(lambda1, lambda2 / peak)
    return ratio * scale, scale


def perturbations(model: nn.Module, fishers: FisherPair, lambda1: float, lambda2: float
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, float]]:
    """(ratios, deltas, scales) for every parameter tensor of ``model``."""
    ratios, deltas, scales = {}, {}, {}
    for name, _ in model.named_parameters():
        r = fisher_ratio(fishers.forget[name], fishers.remain[name])
        ratios[name] = r
        deltas[name], scales[name] = paper_perturbation(r, lambda1, lambda2)
    return ratios, deltas, scales


def apply_delta(model: nn.Module, deltas: dict[str, torch.Tensor], sign: float) -> nn.Module:
    """A copy of ``model`` with theta + sign * delta; the original is untouched."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in out.named_parameters():
            p.add_(deltas[name].to(p.device), alpha=sign)
    return out.eval()


def forget_on(dev: torch.device, model: nn.Module, codes: torch.Tensor, chosen: list[int], lambda1: float,
               lambda2: float, chunk_size: int, notes: list[str]) -> ForgetResult:
    base = copy.deepcopy(model).to(dev).eval()
    codes = codes.to(dev)

    synchronize(dev)
    t0 = time.perf_counter()
    fishers = code_fisher(base, codes, chosen, device=dev, chunk_size=chunk_size, on_retry=notes.append)
    synchronize(dev)
    t1 = time.perf_counter()
    ratios, deltas, scales = perturbations(base, fishers, lambda1, lambda2)
    candidates = {"+": apply_delta(base, deltas, +1.0), "-": apply_delta(base, deltas, -1.0)}
    scores = {s: code_accuracies(m, codes, chosen, device=dev) for s, m in candidates.items()}
    value = {s: (1.0 - f) + r for s, (f, r) in scores.items()}
    sign = "+" if value["+"] > value["-"] else "-"
    synchronize(dev)
    t2 = time.perf_counter()

    edges, reports = tensor_reports(base, ratios, deltas, scales)
    if scores[sign][0] > 0:
        notes.append(f"{scores[sign][0]:.0%} of the forgotten classes' codes are still recognised")
    return ForgetResult(
        model=candidates[sign], forget_classes=tuple(chosen), mode="paper", device=describe(dev),
        sign=sign, lambda1=lambda1, lambda2=lambda2,
        seconds={"fisher": t1 - t0, "perturb": t2 - t1, "total": t2 - t0},
        code_scores=scores, ratio_edges=edges, tensors=reports, notes=tuple(notes))
