"""One-shot forgetting with mnemonic codes (Yamashita et al., 2023): the published rule and two variants.

Modes (``MODES``; docs/zoo.md has the experiments behind them):

- ``paper``: exactly as published. Per parameter tensor n: r = Ff / Fr (computed as
  exp(log Ff - log Fr), NaN -> 0, inf -> largest finite), s_n = min(lambda1, lambda2 / max r),
  delta_n = s_n * r. The candidates theta + delta and theta - delta are scored on the codes alone
  by (1 - acc_F) + acc_R and the better one is kept (ties go to "-", as in the reference code).
  No data, no gradient steps.
- ``classifier``: the same ratio rule, with two changes that make it transfer from the codes to
  real images: (1) the Fisher is taken at infinite temperature, i.e. of the class's centred logit
  z_c - mean(z), whose gradient does not vanish when the model fits its codes perfectly (the
  plain loss gradient is a residual, 1 - p, that varies by orders of magnitude between codes),
  and (2) only the classifier layer (the linear layer that produces the logits) is perturbed:
  deeper in the network the codes use features of their own, and perturbing those forgets the
  codes but not the images. Per tensor delta = alpha * r / max r (the paper's lambda2 cap with
  lambda2 = alpha); the sign and alpha come from the codes alone: alpha is CODE_SAFETY x the
  smallest alpha on a geometric grid at which every forgotten code is misclassified and every
  kept code is still recognised. No data.
- ``calibrated``: the ``classifier`` perturbation, with the sign and alpha checked on a few
  validation images (one batched forward pass; never the test split): alpha is VAL_SAFETY x the
  smallest alpha at which the forgotten codes *and* the forgotten classes' validation images are
  all misclassified, and within [that, VAL_SAFETY x that] the alpha with the best validation score
  (1 - A_F) + A_R. Because only the last layer moves, the body runs once and every candidate is a
  small matrix product.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

import torch
from torch import nn

from .data import ImageTensors
from .device import describe, inference_batch, pick_device, synchronize
from .fisher import EPS, FisherPair, free_cache, check_classes, code_fisher, is_device_fault
from .layers import classifier_layer, features_and_logits as _features
from .metrics import code_accuracies

PAPER_LAMBDAS = {  # (lambda1, lambda2) from the reference configs
    "mnist": (1e-3, 10.0),
    "cifar10": (1e-5, 1e4),
}
MODES: dict[str, str] = {
    "paper": "The published rule: code Fisher ratio over every parameter, per-tensor scale min(lambda1, lambda2 / max r), "
             "sign chosen on the codes.",
    "classifier": "Data-free: centred-logit Fisher ratio on the codes, classifier layer only, sign and strength chosen "
                  "on the codes (8x the strength that forgets them).",
    "calibrated": "Classifier-layer ratio as in 'classifier', sign and strength checked on one forward pass over "
                  "validation images (4x the strength that forgets them).",
    "erase": "Removes the classes from the features: closed-form erasure (LEACE) of the forgotten classes from the "
             "last hidden layer, from one forward pass over validation images, then the 'calibrated' edit of the "
             "classifier layer.",
}
DEFAULT_MODE = "erase"  # the app's, the CLI's and the library's default: the mode that best passes the depth audit
NEEDS_VALIDATION = frozenset({"calibrated", "erase"})
CODE_SAFETY = 8.0  # "classifier": multiple of the smallest strength that forgets the codes
VAL_SAFETY = 4.0  # "calibrated": multiple of the smallest strength that forgets codes and validation images
STRENGTHS = tuple(10.0 ** (k / 8) for k in range(-24, 33))  # the geometric grid of alpha, 1e-3 .. 1e4
HIST_BINS = 60
Calibration = Union[ImageTensors, tuple[torch.Tensor, torch.Tensor]]  # labelled validation images
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


def forget(model: nn.Module, codes: torch.Tensor, classes: Sequence[int],
           lambda1: float = PAPER_LAMBDAS["mnist"][0], lambda2: float = PAPER_LAMBDAS["mnist"][1],
           device: str | torch.device | None = None, chunk_size: int = 16, mode: str = DEFAULT_MODE,
           calibration: Calibration | None = None) -> ForgetResult:
    """Forget ``classes`` from ``model`` in one shot; returns a new model.

    ``mode`` is one of ``MODES`` (default ``DEFAULT_MODE``; "paper" is the published rule, and
    ``lambda1`` / ``lambda2`` apply to it only). "calibrated" and "erase" need ``calibration``: labelled validation images (an
    ``ImageTensors`` or an ``(images, labels)`` pair of tensors), used for one batched forward
    pass, never for a gradient. ``model`` is never modified. Raises ValueError on an unknown mode,
    an empty or full class list, an unknown class, lambdas that are not positive finite numbers,
    a missing calibration set, or (classifier-layer modes) a model whose logits do not come out of
    a linear layer. If the accelerator fails the run moves to the CPU, and ``notes`` says so.
    """
    if mode not in MODES:
        raise ValueError(f"unknown forgetting mode {mode!r}; choose one of {sorted(MODES)}")
    chosen = check_classes(classes, len(codes))
    dev = pick_device(device)
    notes: list[str] = []
    if mode == "paper":
        lambda1, lambda2 = _check_lambda("lambda1", lambda1), _check_lambda("lambda2", lambda2)
        def run(dev: torch.device) -> ForgetResult:
            return _forget_on(dev, model, codes, chosen, lambda1, lambda2, chunk_size, notes)
    else:
        images = labels = None
        if mode in NEEDS_VALIDATION:
            images, labels = _calibration_tensors(calibration, codes)
        def run(dev: torch.device) -> ForgetResult:
            if mode == "erase":
                return _forget_erase_on(dev, model, codes, chosen, images, labels, notes)
            return _forget_classifier_on(dev, model, codes, chosen, mode, images, labels, notes)
    try:
        return run(dev)
    except RuntimeError as e:
        if dev.type == "cpu" or not is_device_fault(e):
            raise
        free_cache(dev)
        notes.append(f"{describe(dev)} failed ({str(e).splitlines()[0][:120]}); forgot on the CPU instead")
        return run(torch.device("cpu"))


def _forget_on(dev: torch.device, model: nn.Module, codes: torch.Tensor, chosen: list[int], lambda1: float,
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

    edges, reports = _reports(base, ratios, deltas, scales)
    if scores[sign][0] > 0:
        notes.append(f"{scores[sign][0]:.0%} of the forgotten classes' codes are still recognised")
    return ForgetResult(
        model=candidates[sign], forget_classes=tuple(chosen), mode="paper", device=describe(dev),
        sign=sign, lambda1=lambda1, lambda2=lambda2,
        seconds={"fisher": t1 - t0, "perturb": t2 - t1, "total": t2 - t0},
        code_scores=scores, ratio_edges=edges, tensors=reports, notes=tuple(notes))


# ---------------------------------------------------------------------------------------------
# The classifier-layer modes ("classifier", "calibrated")

def _calibration_tensors(calibration, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if calibration is None:
        raise ValueError("modes 'calibrated' and 'erase' (the default) need labelled validation images (calibration=...); "
                         "pipeline.forget_and_evaluate loads the dataset's validation split for you")
    if isinstance(calibration, ImageTensors):
        images, labels = calibration.tensors()
    else:
        try:
            images, labels = calibration
        except (TypeError, ValueError):
            raise ValueError("calibration must be an ImageTensors or an (images, labels) pair") from None
    images, labels = torch.as_tensor(images), torch.as_tensor(labels).long()
    if images.shape[1:] != codes.shape[1:] or labels.shape != (len(images),) or not len(images):
        raise ValueError(f"calibration images must be [N, {', '.join(map(str, codes.shape[1:]))}] with N labels, "
                         f"got {tuple(images.shape)} and {tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= len(codes):
        raise ValueError(f"calibration labels must lie in 0..{len(codes) - 1}")
    return images.float(), labels


def classifier_fisher(features: torch.Tensor, num_classes: int, forget_classes: Sequence[int],
                      has_bias: bool = True) -> FisherPair:
    """Forget / remain diagonal Fishers of the classifier layer at infinite temperature.

    ``features[c]`` is the classifier layer's input on class c's code. The gradient of
    CE(z / T, c) with respect to the logits, times T, tends to 1/K - e_c as T grows: the gradient
    of the centred logit -(z_c - mean z). So per class, g_W = (1/K - e_c) h_c^T and g_b = 1/K - e_c;
    the Fishers are their squares averaged over the forgotten / remaining classes, plus 1e-16, as
    in the paper. Keys are "weight" and "bias".
    """
    k = num_classes
    v2 = (1.0 / k - torch.eye(k, device=features.device)).square()  # [class, logit]
    h2 = features.square()
    is_f = torch.zeros(k, dtype=torch.bool, device=features.device)
    is_f[list(forget_classes)] = True

    def mean_sq(mask: torch.Tensor) -> dict[str, torch.Tensor]:
        n = mask.sum()
        out = {"weight": v2[mask].T @ h2[mask] / n + EPS}
        if has_bias:
            out["bias"] = v2[mask].mean(0) + EPS
        return out

    return FisherPair(mean_sq(is_f), mean_sq(~is_f))


def _grid_scores(z0: torch.Tensor, dz: torch.Tensor, labels: torch.Tensor, forget_mask: torch.Tensor,
                 strengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy of the forgotten and the remaining samples for logits z0 + alpha * dz, for every alpha."""
    hits = []
    for a in strengths:  # [A] x [N, K]: a few thousand small products
        hits.append((z0 + a * dz).argmax(1) == labels)
    hit = torch.stack(hits).float()  # [A, N]
    f = hit[:, forget_mask].mean(1) if bool(forget_mask.any()) else torch.full((len(strengths),), float("nan"))
    r = hit[:, ~forget_mask].mean(1) if bool((~forget_mask).any()) else torch.full((len(strengths),), float("nan"))
    return f.cpu(), r.cpu()


def _first(mask: torch.Tensor) -> int | None:
    idx = torch.nonzero(mask).flatten()
    return int(idx[0]) if len(idx) else None


def _forget_classifier_on(dev: torch.device, model: nn.Module, codes: torch.Tensor, chosen: list[int], mode: str,
                          images: torch.Tensor | None, labels: torch.Tensor | None,
                          notes: list[str]) -> ForgetResult:
    base = copy.deepcopy(model).to(dev).eval()
    codes = codes.to(dev)
    k = len(codes)
    synchronize(dev)
    t0 = time.perf_counter()
    name, layer = classifier_layer(base, codes[:1])
    h_codes, z_codes = _features(base, layer, codes, dev)
    fishers = classifier_fisher(h_codes, k, chosen, has_bias=layer.bias is not None)
    synchronize(dev)
    t1 = time.perf_counter()

    # per tensor: unit = r / max r, so that alpha is the largest move in the tensor
    ratios = {p: fisher_ratio(fishers.forget[p], fishers.remain[p]) for p in fishers.forget}
    units = {p: r / r.max().clamp_min(1e-30) for p, r in ratios.items()}
    d_codes = h_codes @ units["weight"].T + (units["bias"] if "bias" in units else 0.0)  # logit change per unit alpha
    strengths = torch.tensor(STRENGTHS, device=dev)
    code_labels = torch.arange(k, device=dev)
    code_forget = torch.zeros(k, dtype=torch.bool, device=dev)
    code_forget[chosen] = True
    synchronize(dev)
    t2 = time.perf_counter()
    if images is not None:  # one batched forward pass over the validation images
        h_val, z_val = _features(base, layer, images, dev)
        val_labels = labels.to(dev)
        val_forget = torch.isin(val_labels, torch.tensor(chosen, device=dev))
        d_val = h_val @ units["weight"].T + (units["bias"] if "bias" in units else 0.0)
    synchronize(dev)
    t3 = time.perf_counter()
    kept_before = code_accuracies_from_logits(z_codes, chosen)[1]
    per_sign: dict[str, tuple[float | None, float]] = {}  # sign -> (alpha or None, its score)
    for sign_name, sign in (("+", 1.0), ("-", -1.0)):
        cf, cr = _grid_scores(z_codes, sign * d_codes, code_labels, code_forget, strengths)
        # every kept code still recognised (as many as before the edit: an erased body may have lost a few)
        codes_ok = (cf == 0) & (cr >= min(1.0, kept_before))
        if images is None:  # "classifier": from the codes alone
            i = _first(codes_ok)
            if i is None:
                per_sign[sign_name] = (None, float("-inf"))
            else:
                alpha = CODE_SAFETY * STRENGTHS[i]
                f, r = code_accuracies_from_logits(z_codes + alpha * sign * d_codes, chosen)
                per_sign[sign_name] = (alpha, (1.0 - f) + r)
            continue
        # "calibrated": the codes and the validation images
        vf, vr = _grid_scores(z_val, sign * d_val, val_labels, val_forget, strengths)
        score = (1.0 - vf) + torch.nan_to_num(vr, nan=1.0)
        i = _first(codes_ok & (vf == 0))
        if i is None:
            per_sign[sign_name] = (None, float("-inf"))
            continue
        top = VAL_SAFETY * STRENGTHS[i] * (1 + 1e-9)
        window = [j for j in range(i, len(STRENGTHS)) if STRENGTHS[j] <= top]
        best = max(window, key=lambda j: (float(score[j]), j))  # the best validation score; ties to the stronger
        per_sign[sign_name] = (STRENGTHS[best], float(score[best]))

    reached = {s: v for s, v in per_sign.items() if v[0] is not None}
    if reached:
        sign = max(reached, key=lambda s: (reached[s][1], s == "-"))  # ties go to "-", as in the paper
        alpha = float(reached[sign][0])
    else:  # neither sign forgets within the grid: the strongest "-" move, and say so
        sign, alpha = "-", STRENGTHS[-1]
        notes.append(f"no strength up to {STRENGTHS[-1]:g} forgot the codes"
                     + (" and the validation images" if images is not None else "") + "; used the strongest")
    s = 1.0 if sign == "+" else -1.0
    deltas_layer = {p: alpha * u for p, u in units.items()}
    out = copy.deepcopy(base)
    out_layer = dict(out.named_modules())[name]
    with torch.no_grad():
        for p, d in deltas_layer.items():
            getattr(out_layer, p).add_(d.to(getattr(out_layer, p).dtype), alpha=s)
    out.eval()
    scores = {}  # each sign at its own strength; the kept one measured on the forgotten model itself
    for sname, sv in (("+", 1.0), ("-", -1.0)):
        a_s = per_sign[sname][0] if per_sign[sname][0] is not None else alpha
        scores[sname] = code_accuracies_from_logits(z_codes + a_s * sv * d_codes, chosen)
    with torch.no_grad():
        scores[sign] = code_accuracies_from_logits(out(codes).float(), chosen)
    calibration: dict[str, float] = {}
    if images is not None:
        vf, vr = _grid_scores(z_val, s * d_val, val_labels, val_forget, torch.tensor([0.0, alpha], device=dev))
        calibration = {"images": float(len(val_labels)), "val_forget_before": float(vf[0]),
                       "val_retain_before": float(vr[0]), "val_forget_after": float(vf[1]),
                       "val_retain_after": float(vr[1])}
    synchronize(dev)
    t4 = time.perf_counter()

    full = {f"{name}.{p}": r for p, r in ratios.items()}
    full_deltas = {f"{name}.{p}": d for p, d in deltas_layer.items()}
    scales = {f"{name}.{p}": float(alpha / r.max().clamp_min(1e-30)) for p, r in ratios.items()}
    edges, layer_reports = _reports(base, full, full_deltas, scales)
    by_name = {r.name: r for r in layer_reports}
    zeros = tuple(0 for _ in range(HIST_BINS))
    reports = tuple(by_name.get(n) or TensorReport(
        name=n, shape=tuple(p.shape), numel=p.numel(), scale=0.0, max_ratio=float("nan"), ratio_counts=zeros,
        moved_counts=zeros, moved=0, max_delta=0.0, mean_abs_delta=0.0) for n, p in base.named_parameters())
    if scores[sign][0] > 0:
        notes.append(f"{scores[sign][0]:.0%} of the forgotten classes' codes are still recognised")
    if calibration and calibration["val_forget_after"] > 0:
        notes.append(f"{calibration['val_forget_after']:.0%} of the forgotten classes' validation images are still recognised")
    seconds = {"fisher": t1 - t0, "perturb": (t2 - t1) + (t4 - t3), "total": t4 - t0}
    if images is not None:
        seconds["calibrate"] = t3 - t2
    return ForgetResult(
        model=out, forget_classes=tuple(chosen), mode=mode, device=describe(dev), sign=sign,
        seconds=seconds, code_scores=scores, ratio_edges=edges, tensors=reports, notes=tuple(notes),
        strength=float(alpha), layer=name, calibration=calibration)


def code_accuracies_from_logits(logits: torch.Tensor, forget_classes: Sequence[int]) -> tuple[float, float]:
    """(accuracy of the forgotten classes' codes, of the remaining classes' codes) from the codes' logits."""
    hit = (logits.argmax(1) == torch.arange(len(logits), device=logits.device)).float().cpu()
    mask = torch.zeros(len(logits), dtype=torch.bool)
    mask[list(forget_classes)] = True
    return float(hit[mask].mean()), float(hit[~mask].mean())


# ---------------------------------------------------------------------------------------------
# "erase": the forgotten classes erased from the last hidden layer, then the calibrated classifier edit

def _forget_erase_on(dev: torch.device, model: nn.Module, codes: torch.Tensor, chosen: list[int],
                     images: torch.Tensor, labels: torch.Tensor, notes: list[str]) -> ForgetResult:
    from .erasure import erase

    synchronize(dev)
    t0 = time.perf_counter()
    try:
        erased, erase_deltas, rank = erase(model, images, labels, chosen, dev)
    except ValueError as e:  # an architecture without a known erasure site: say so, edit the classifier only
        notes.append(f"features not erased ({e}); only the classifier layer was edited, so the class may be hidden "
                     f"rather than gone")
        erased, erase_deltas, rank = copy.deepcopy(model).to(dev).eval(), {}, 0
    synchronize(dev)
    t1 = time.perf_counter()
    res = _forget_classifier_on(dev, erased, codes, chosen, "erase", images, labels, notes)
    if not erase_deltas:
        return res
    params = dict(model.named_parameters())
    zeros = tuple(0 for _ in range(HIST_BINS))
    reports = []
    for t in res.tensors:
        d = erase_deltas.get(t.name)
        if d is None:
            reports.append(t)
            continue
        rms = float(params[t.name].detach().float().square().mean().sqrt())
        a = d.abs().float()
        reports.append(TensorReport(
            name=t.name, shape=t.shape, numel=t.numel, scale=0.0, max_ratio=float("nan"), ratio_counts=zeros,
            moved_counts=zeros, moved=int((a >= MOVED_FRACTION * max(rms, 1e-12)).sum()), max_delta=float(a.max()),
            mean_abs_delta=float(a.mean())))
    seconds = dict(res.seconds)
    seconds["erase"] = t1 - t0
    seconds["total"] = res.seconds["total"] + (t1 - t0)
    import dataclasses

    return dataclasses.replace(res, tensors=tuple(reports), seconds=seconds,
                               calibration={**res.calibration, "erased_rank": float(rank)})
