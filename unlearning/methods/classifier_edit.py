"""The classifier-layer modes, ``classifier`` and ``calibrated``: the code Fisher ratio on the last layer only.

The same ratio rule as the paper's, with two changes that make it transfer from the codes to real
images: (1) the Fisher is taken at infinite temperature, i.e. of the class's centred logit
z_c - mean(z), whose gradient does not vanish when the model fits its codes perfectly, and (2)
only the classifier layer (the linear layer that produces the logits) is perturbed. Per tensor
delta = alpha * r / max r; ``classifier`` takes the sign and alpha from the codes alone (CODE_SAFETY
x the smallest alpha that forgets every forgotten code and keeps every kept one), ``calibrated``
checks them on one batched forward pass over validation images (VAL_SAFETY x the smallest alpha
that also forgets the forgotten classes' validation images, then the best validation score).
Because only the last layer moves, the body runs once and every candidate is a small matrix product.
These modes change the outputs, not the features: see ``erasure`` for the mode that does both.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import torch
from torch import nn

from ..data import ImageTensors
from ..device import describe, synchronize
from .fisher import EPS, FisherPair
from ..layers import classifier_layer, features_and_logits as _features
from .paper_rule import fisher_ratio
from ..results import ForgetResult, tensor_reports, unweighed_report

CODE_SAFETY = 8.0  # "classifier": multiple of the smallest strength that forgets the codes
VAL_SAFETY = 4.0  # "calibrated": multiple of the smallest strength that forgets codes and validation images
STRENGTHS = tuple(10.0 ** (k / 8) for k in range(-24, 33))  # the geometric grid of alpha, 1e-3 .. 1e4
# The most validation images of each class any mode reads (a seeded sample beyond that): the 5,000-digit
# split holds 50 a class, so a 60,000-image model's forgetting costs what a 5,000-image one's does.
VALIDATION_PER_CLASS = 50
VALIDATION_SEED = 0


def calibration_tensors(calibration, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled validation images a mode reads: at most ``VALIDATION_PER_CLASS`` of each class, seeded."""
    from ..data import sample_indices, sample_per_class

    if calibration is None:
        raise ValueError("modes 'calibrated' and 'erase' (the default) need labelled validation images (calibration=...); "
                         "pipeline.forget_and_evaluate loads the dataset's validation split for you")
    if isinstance(calibration, ImageTensors):
        images, labels = sample_per_class(calibration, VALIDATION_PER_CLASS, VALIDATION_SEED).tensors()
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
    idx = sample_indices(labels.cpu().numpy(), VALIDATION_PER_CLASS, VALIDATION_SEED)
    if idx is not None:
        images, labels = images[torch.as_tensor(idx)], labels[torch.as_tensor(idx)]
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
                 strengths: torch.Tensor, top: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy of the forgotten and the remaining samples for logits z0 + alpha * dz, for every alpha
    (an image counts as recognised while its label is among its ``top`` highest logits)."""
    hits = []
    for a in strengths:  # [A] x [N, K]: a few thousand small products
        z = z0 + a * dz
        if top == 1:
            hits.append(z.argmax(1) == labels)
        else:
            hits.append((z.topk(top, 1).indices == labels[:, None]).any(1))
    hit = torch.stack(hits).float()  # [A, N]
    f = hit[:, forget_mask].mean(1) if bool(forget_mask.any()) else torch.full((len(strengths),), float("nan"))
    r = hit[:, ~forget_mask].mean(1) if bool((~forget_mask).any()) else torch.full((len(strengths),), float("nan"))
    return f.cpu(), r.cpu()


def _first(mask: torch.Tensor) -> int | None:
    idx = torch.nonzero(mask).flatten()
    return int(idx[0]) if len(idx) else None


def forget_on(dev: torch.device, model: nn.Module, codes: torch.Tensor, chosen: list[int], mode: str,
                          images: torch.Tensor | None, labels: torch.Tensor | None,
                          notes: list[str], safety: float = VAL_SAFETY, floor: float = 0.0,
                          rank: int = 1) -> ForgetResult:
    """One classifier-layer forgetting; ``safety`` is the window above the validation threshold, and
    ``floor`` x the threshold the least strength taken from it (0: the window's best validation score)."""
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
    # The ratio is unsigned; where a forgotten class's code has a negative feature (a layer norm's
    # output, unlike a ReLU's), its row's weight must move the other way for that class's logit to
    # fall: each forgotten row takes the signs of its own code's features, the other rows those of
    # the forgotten codes' mean. Non-negative features (the ReLU and sigmoid models) keep the rule exactly.
    signs = torch.where(h_codes[chosen].mean(0) < 0, -1.0, 1.0).expand_as(units["weight"]).clone()
    signs[chosen] = torch.where(h_codes[chosen] < 0, -1.0, 1.0)
    units["weight"] = units["weight"] * signs
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
        i = _first(codes_ok & ((vf if rank == 1 else _grid_scores(z_val, sign * d_val, val_labels, val_forget,
                                                                  strengths, rank)[0]) == 0))
        if i is None:
            per_sign[sign_name] = (None, float("-inf"))
            continue
        top = safety * STRENGTHS[i] * (1 + 1e-9)
        window = [j for j in range(i, len(STRENGTHS)) if STRENGTHS[j] <= top and STRENGTHS[j] >= floor * STRENGTHS[i]]
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
    edges, layer_reports = tensor_reports(base, full, full_deltas, scales)
    by_name = {r.name: r for r in layer_reports}
    reports = tuple(by_name.get(n) or unweighed_report(n, p) for n, p in base.named_parameters())
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
