"""What every forgetting method returns: the new model and everything needed to explain how it was made."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

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
    strength: float = float("nan")  # alpha of the classifier-layer modes (largest move in a tensor)
    layer: str = ""  # the perturbed layer of the classifier-layer modes
    calibration: dict[str, float] = field(default_factory=dict)  # validation scores of the calibrated mode

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


def tensor_reports(model: nn.Module, ratios: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor],
             scales: dict[str, float]) -> tuple[tuple[float, ...], tuple[TensorReport, ...]]:
    """Histograms of log10 Ff/Fr on shared bin edges, per tensor: what was weighed and what moved."""
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


def unweighed_report(name: str, param: torch.Tensor, delta: torch.Tensor | None = None) -> TensorReport:
    """The report of a tensor that no Fisher ratio weighed: untouched (``delta`` None), or moved by a
    closed-form edit (the erasure), counted against the tensor's RMS as ``tensor_reports`` counts."""
    zeros = tuple(0 for _ in range(HIST_BINS))
    moved, max_delta, mean_abs = 0, 0.0, 0.0
    if delta is not None:
        a = delta.detach().abs().float()
        rms = float(param.detach().float().square().mean().sqrt())
        moved, max_delta, mean_abs = int((a >= MOVED_FRACTION * max(rms, 1e-12)).sum()), float(a.max()), float(a.mean())
    return TensorReport(name=name, shape=tuple(param.shape), numel=param.numel(), scale=0.0, max_ratio=float("nan"),
                        ratio_counts=zeros, moved_counts=zeros, moved=moved, max_delta=max_delta,
                        mean_abs_delta=mean_abs)
