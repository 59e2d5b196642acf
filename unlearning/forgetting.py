"""One-shot forgetting with mnemonic codes (Yamashita et al., 2023), exactly as published.

Per parameter tensor n: r = Ff / Fr (computed as exp(log Ff - log Fr), NaN -> 0, inf -> largest
finite), s_n = min(lambda1, lambda2 / max r), delta_n = s_n * r. The candidates theta + delta and
theta - delta are scored on the codes alone by (1 - acc_F) + acc_R and the better one is kept
(ties go to "-", as in the reference code). No data, no gradient steps.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .device import describe, pick_device
from .fisher import FisherPair, free_cache, check_classes, code_fisher, is_device_fault
from .metrics import code_accuracies

PAPER_LAMBDAS = {  # (lambda1, lambda2) from the reference configs
    "mnist": (1e-3, 10.0),
    "cifar10": (1e-5, 1e4),
}
HIST_BINS = 60
MOVED_FRACTION = 1e-3  # a parameter counts as moved when |delta| >= this x the tensor's RMS weight


@dataclass(frozen=True)
class TensorReport:
    """What forgetting did to one parameter tensor, ready to plot (no raw per-parameter arrays)."""

    name: str
    shape: tuple[int, ...]
    numel: int
    scale: float  # s_n
    max_ratio: float
    ratio_counts: tuple[int, ...]  # histogram of log10(Ff/Fr) on ForgetResult.ratio_edges
    moved_counts: tuple[int, ...]  # the same, only parameters with |delta| >= MOVED_FRACTION x RMS
    moved: int
    max_delta: float
    mean_abs_delta: float


@dataclass(frozen=True)
class ForgetResult:
    """A forgotten model (a new object) and everything needed to explain how it was made.

    Every unlearning method returns this type; the fields after ``seconds`` are specific to the
    Fisher-based methods and stay empty for the others (baselines).
    """

    model: nn.Module
    forget_classes: tuple[int, ...]
    mode: str  # "paper", or the name of another method
    device: str
    seconds: dict[str, float]  # at least "total"; the paper's rule also has "fisher" and "perturb"
    sign: str = ""  # "+" or "-" for the Fisher methods
    lambda1: float = float("nan")
    lambda2: float = float("nan")
    code_scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # sign -> (code acc F, code acc R)
    ratio_edges: tuple[float, ...] = ()
    tensors: tuple[TensorReport, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total_params(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def moved_params(self) -> int:
        return sum(t.moved for t in self.tensors)

    def ratio_histogram(self) -> tuple[list[float], list[int], list[int]]:
        """(bin edges, counts over all parameters, counts of moved parameters) of log10 Ff/Fr."""
        all_counts = [sum(c) for c in zip(*(t.ratio_counts for t in self.tensors))]
        moved_counts = [sum(c) for c in zip(*(t.moved_counts for t in self.tensors))]
        return list(self.ratio_edges), all_counts, moved_counts


def _check_lambda(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
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


def _reports(model: nn.Module, ratios: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor],
             scales: dict[str, float]) -> tuple[tuple[float, ...], tuple[TensorReport, ...]]:
    logs = {n: torch.log10(r.clamp_min(1e-30)).float() for n, r in ratios.items()}
    lo = min(float(v.min()) for v in logs.values())
    hi = max(float(v.max()) for v in logs.values())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    edges = torch.linspace(lo, hi, HIST_BINS + 1)
    params = dict(model.named_parameters())
    reports = []
    for name, lg in logs.items():
        d = deltas[name].abs()
        rms = float(params[name].detach().float().square().mean().sqrt().to("cpu"))
        moved_mask = d >= MOVED_FRACTION * max(rms, 1e-12)
        counts = torch.histc(lg, bins=HIST_BINS, min=lo, max=hi)
        moved_counts = torch.histc(lg[moved_mask], bins=HIST_BINS, min=lo, max=hi)
        reports.append(TensorReport(
            name=name, shape=tuple(lg.shape), numel=lg.numel(), scale=float(scales[name]),
            max_ratio=float(ratios[name].max()),
            ratio_counts=tuple(int(c) for c in counts.cpu()),
            moved_counts=tuple(int(c) for c in moved_counts.cpu()),
            moved=int(moved_mask.sum()), max_delta=float(d.max()), mean_abs_delta=float(d.mean())))
    return tuple(float(e) for e in edges), tuple(reports)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forget(model: nn.Module, codes: torch.Tensor, classes: Sequence[int],
           lambda1: float = PAPER_LAMBDAS["mnist"][0], lambda2: float = PAPER_LAMBDAS["mnist"][1],
           device: str | torch.device | None = None, chunk_size: int = 16) -> ForgetResult:
    """Forget ``classes`` from ``model`` in one shot with the paper's rule; returns a new model.

    ``model`` is never modified. Raises ValueError on an empty or full class list, an unknown
    class, or lambdas that are not positive finite numbers. If the accelerator runs out of memory
    the Fisher is retried in smaller chunks; if it still fails, the whole run moves to the CPU.
    Either way ``notes`` says so.
    """
    chosen = check_classes(classes, len(codes))
    lambda1, lambda2 = _check_lambda("lambda1", lambda1), _check_lambda("lambda2", lambda2)
    dev = pick_device(device)
    notes: list[str] = []
    try:
        return _forget_on(dev, model, codes, chosen, lambda1, lambda2, chunk_size, notes)
    except RuntimeError as e:
        if dev.type == "cpu" or not is_device_fault(e):
            raise
        free_cache(dev)
        notes.append(f"{describe(dev)} failed ({str(e).splitlines()[0][:120]}); forgot on the CPU instead")
        return _forget_on(torch.device("cpu"), model, codes, chosen, lambda1, lambda2, chunk_size, notes)


def _forget_on(dev: torch.device, model: nn.Module, codes: torch.Tensor, chosen: list[int], lambda1: float,
               lambda2: float, chunk_size: int, notes: list[str]) -> ForgetResult:
    base = copy.deepcopy(model).to(dev).eval()
    codes = codes.to(dev)

    _sync(dev)
    t0 = time.perf_counter()
    fishers = code_fisher(base, codes, chosen, device=dev, chunk_size=chunk_size, on_retry=notes.append)
    _sync(dev)
    t1 = time.perf_counter()
    ratios, deltas, scales = perturbations(base, fishers, lambda1, lambda2)
    candidates = {"+": apply_delta(base, deltas, +1.0), "-": apply_delta(base, deltas, -1.0)}
    scores = {s: code_accuracies(m, codes, chosen, device=dev) for s, m in candidates.items()}
    value = {s: (1.0 - f) + r for s, (f, r) in scores.items()}
    sign = "+" if value["+"] > value["-"] else "-"
    _sync(dev)
    t2 = time.perf_counter()

    edges, reports = _reports(base, ratios, deltas, scales)
    if scores[sign][0] > 0:
        notes.append(f"{scores[sign][0]:.0%} of the forgotten classes' codes are still recognised")
    return ForgetResult(
        model=candidates[sign], forget_classes=tuple(chosen), mode="paper", device=describe(dev),
        sign=sign, lambda1=lambda1, lambda2=lambda2,
        seconds={"fisher": t1 - t0, "perturb": t2 - t1, "total": t2 - t0},
        code_scores=scores, ratio_edges=edges, tensors=reports, notes=tuple(notes))
