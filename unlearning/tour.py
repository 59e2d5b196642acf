"""The paper's rule step by step, for teaching: what each step computes, as plain data to draw.

``paper_tour`` runs ``forgetting.forget(mode="paper")`` once for the result and, beside it, the same
backend helpers it is made of (``fisher.code_fisher``, ``forgetting.perturbations``) for the numbers
in between: the codes and their predictions, the forget / remain Fisher of every parameter, the
ratio, the parameters it moved, the size of the move, the two signed candidates scored on the
codes, and the check on real validation and test images. Nothing here re-derives the method; the
tests check that every number matches what ``forget`` itself reports.

``strength_sweep`` shows the trade-off the rule settles in one point: it scales the chosen move
theta + k * delta for a grid of factors k and measures A_F and A_R on the real test images at every
k. For the paper's rule, k scales lambda1 and lambda2 together (min(k l1, k l2 / max r) = k min(l1,
l2 / max r)); k = 1 is the paper's own model. Every array is binned or summarised here: no result
holds raw per-parameter values.
"""
from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .storage.checkpoints import Checkpoint
from .codes import make_codes
from .data import ImageTensors, sample_per_class
from .device import pick_device
from .methods.fisher import FisherPair, check_classes, code_fisher
from .methods import classifier_edit, erasure, forgetting, registry as methods
from .methods.forgetting import DEFAULT_MODE, HIST_BINS, ForgetResult, apply_delta, fisher_ratio, forget, perturbations
from .evaluation.metrics import Evaluation, code_accuracies, evaluate, predict
from .pipeline import FORGOTTEN_AT_MOST, default_lambdas, verdict

# Multiples of the paper's own perturbation; 1 is the paper's rule itself. Wide enough to reach the
# point where the kept classes break on every shipped model (the CNN's and ResNet-8's digits need 10-100x).
SWEEP_FACTORS: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
MAX_SHOWN_CODES = 10  # codes drawn in step 1: the forgotten ones first, then the first kept ones


@dataclass(frozen=True)
class CodesStep:
    """Step 1: each class's code (a few of them, as pixels) and what the model predicts on every code."""

    shown: tuple[int, ...]  # classes whose code is in ``images``
    images: np.ndarray  # uint8 [len(shown), C, H, W]: the codes as fed to the model, scaled to 0..255
    predicted: tuple[int, ...]  # per class (all of them): the predicted class of its code
    confidence: tuple[float, ...]  # softmax probability of that prediction
    code_forget_accuracy: float  # share of the forgotten classes' codes recognised (before forgetting)
    code_retain_accuracy: float


@dataclass(frozen=True)
class LayerFisher:
    name: str
    numel: int
    forget_mean: float  # mean over the tensor of F_forget
    remain_mean: float


@dataclass(frozen=True)
class FisherStep:
    """Step 2: how much each parameter matters to the forgotten and to the kept classes' codes, binned."""

    edges: tuple[float, ...]  # bins of log10 F (shared by both histograms)
    forget_counts: tuple[int, ...]
    remain_counts: tuple[int, ...]
    layers: tuple[LayerFisher, ...]


@dataclass(frozen=True)
class RatioStep:
    """Step 3: r = F_forget / F_remain, binned on log10 r (from the forgetting result itself)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    moved_counts: tuple[int, ...]
    max_ratio: float  # over the whole model
    above_one: int  # parameters with r > 1: more important to the forgotten classes than to the rest


@dataclass(frozen=True)
class LayerMove:
    name: str
    numel: int
    moved: int  # parameters moved by at least forgetting.MOVED_FRACTION x the tensor's RMS weight
    scale: float  # s_n = min(lambda1, lambda2 / max r)
    max_ratio: float
    max_delta: float  # largest |delta| in the tensor
    mean_abs_delta: float
    weight_rms: float  # RMS of the tensor's weights, for scale


@dataclass(frozen=True)
class ChosenStep:
    """Step 4: which parameters the rule moves, per tensor."""

    layers: tuple[LayerMove, ...]
    moved: int
    total: int


@dataclass(frozen=True)
class PerturbationStep:
    """Step 5: the size of delta and the two signed candidates, scored on the codes alone."""

    lambda1: float
    lambda2: float
    delta_norm: float  # ||delta||_2 over the whole model
    weight_norm: float  # ||theta||_2
    max_delta: float
    candidates: dict[str, tuple[float, float]]  # sign -> (code accuracy forgotten, kept), from ForgetResult
    scores: dict[str, float]  # sign -> (1 - acc_F) + acc_R, what the rule maximises
    sign: str  # the chosen one


@dataclass(frozen=True)
class SplitCheck:
    split: str  # "validation" or "test"
    images: int
    forget_before: float
    forget_after: float
    retain_before: float
    retain_after: float


@dataclass(frozen=True)
class CheckStep:
    """Step 6: the forgotten model on real held-out images, which the rule never saw."""

    splits: tuple[SplitCheck, ...]
    per_class_before: tuple[float, ...]  # test accuracy per class
    per_class_after: tuple[float, ...]
    verdict: str
    forgot: bool
    kept: bool
    rejected_sign: str  # the candidate the codes turned down, measured on the same test images
    rejected_forget: float  # its A_F
    rejected_retain: float  # its A_R


@dataclass(frozen=True)
class MethodSteps:
    """What a one-shot method did, step by step, read off its own result (the tour's last step shows it)."""

    mode: str
    validation_images: int  # labelled validation images it read once (0: none); never a test image
    erased: tuple[str, ...]  # the layers it took the classes out of (``erase``'s sites)
    layer: str  # the layer it then edited
    strength: float
    sign: str
    seconds: dict[str, float]


@dataclass(frozen=True)
class Sweep:
    """A_F and A_R on real test images for theta + k * delta, for every k in ``factors``."""

    mode: str
    sign: str  # the direction the method chose, kept fixed along the sweep
    factors: tuple[float, ...]
    forget_accuracy: tuple[float, ...]  # A_F (test) per factor
    retain_accuracy: tuple[float, ...]  # A_R (test)
    code_forget_accuracy: tuple[float, ...]  # what the codes say at each factor
    code_retain_accuracy: tuple[float, ...]
    test_images: int
    steps: MethodSteps | None = None  # how the method made its move (``default_mode_sweep``)

    @property
    def own_index(self) -> int:
        """Index of k = 1: the method's own result."""
        return self.factors.index(1.0)

    def first_forgotten(self, at_most: float = FORGOTTEN_AT_MOST) -> int | None:
        """Index of the smallest factor at which A_F is at most ``at_most`` (the verdict's bar), if any."""
        return next((i for i, a in enumerate(self.forget_accuracy) if a <= at_most), None)


@dataclass(frozen=True)
class Tour:
    """Every step of the paper's rule on one model and class set, and the strength sweep."""

    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    arch: str
    codes: CodesStep
    fisher: FisherStep
    ratio: RatioStep
    chosen: ChosenStep
    perturbation: PerturbationStep
    check: CheckStep
    sweep: Sweep
    seconds: dict[str, float]  # the paper rule's own timings (ForgetResult.seconds)


@dataclass(frozen=True)
class WhyStep:
    """Why the paper's rule did or did not forget on this model, read off the tour's own numbers.

    Measured on resnet8-mnist5k (digit 3), three things stand out: every tensor's scale is capped at λ1, so
    the move is a fixed 1e-5 · r that no tensor can exceed; the ratio is spread thin (per tensor, the
    forgotten codes' Fisher is within a factor 2 of the kept codes'), so no small set of weights holds the
    class; and both candidates leave every code recognised, so the rule's only signal cannot tell a
    working push from a useless one.
    """

    tensors: int
    capped: int  # tensors whose scale is λ1 (λ1 binds, not λ2 / max r)
    lambda1: float
    typical_move: float  # median over tensors of mean |δ| / the tensor's RMS weight
    near_even: int  # tensors whose mean F_forget is within a factor 2 of their mean F_remain
    top_tensor: str  # the tensor holding the largest share of sum F_forget
    top_share: float
    top_ratio: float  # that tensor's mean F_forget / mean F_remain
    code_scores: dict[str, tuple[float, float]]  # sign -> (forgotten, kept) codes recognised after the move
    images_forgotten_at: float | None  # smallest strength factor forgetting the real images (None: none on the grid)
    codes_forgotten_at: float | None  # smallest factor at which the forgotten codes stop being recognised


def why(t: Tour, at_most: float = FORGOTTEN_AT_MOST) -> WhyStep:
    """The numbers behind "why" (see :class:`WhyStep`), all from ``t``: nothing here is measured twice."""
    moves = t.chosen.layers
    lam1 = t.perturbation.lambda1
    fish = t.fisher.layers
    mass = [layer.forget_mean * layer.numel for layer in fish]
    top = int(np.argmax(mass)) if mass else 0
    gone = t.sweep.first_forgotten(at_most)
    codes = next((i for i, a in enumerate(t.sweep.code_forget_accuracy) if a <= at_most), None)
    return WhyStep(
        tensors=len(moves), capped=sum(1 for m in moves if m.scale >= lam1 * (1 - 1e-9)), lambda1=lam1,
        typical_move=float(np.median([m.mean_abs_delta / m.weight_rms for m in moves if m.weight_rms > 0] or [0.0])),
        near_even=sum(1 for f in fish if f.remain_mean > 0 and 0.5 <= f.forget_mean / f.remain_mean <= 2.0),
        top_tensor=fish[top].name if fish else "", top_share=float(mass[top] / max(sum(mass), 1e-300)) if mass else 0.0,
        top_ratio=float(fish[top].forget_mean / fish[top].remain_mean) if fish and fish[top].remain_mean > 0 else math.inf,
        code_scores=dict(t.perturbation.candidates),
        images_forgotten_at=None if gone is None else t.sweep.factors[gone],
        codes_forgotten_at=None if codes is None else t.sweep.factors[codes])


# Which backend function computes each step: the page shows their source under "Show the code".
STEP_FUNCTIONS: dict[str, tuple[Callable, ...]] = {
    "codes": (make_codes, code_accuracies),
    "fisher": (code_fisher,),
    "ratio": (fisher_ratio,),
    "chosen": (perturbations, forgetting._reports),  # delta per tensor; which parameters count as moved
    "perturbation": (forgetting.paper_perturbation, apply_delta, forgetting._forget_on),  # scale; +/-; the sign choice
    "check": (evaluate, verdict),
    "sweep": (),  # filled below: strength_sweep itself
}


def source(fn: Callable) -> str:
    """The source text of a backend function, for the page's "Show the code"."""
    return inspect.getsource(fn)


def paper_tour(checkpoint: Checkpoint, classes: Sequence[int], test_set: ImageTensors,
               validation: ImageTensors | None = None, lambda1: float | None = None, lambda2: float | None = None,
               device: str | torch.device | None = "cpu", factors: Sequence[float] = SWEEP_FACTORS) -> Tour:
    """All six steps of the paper's rule for ``classes`` of ``checkpoint`` (lambdas default to the paper's).

    ``checkpoint.model`` is only read. ``validation`` adds a check on the validation split beside the test one.
    """
    dev = pick_device(device)
    chosen = check_classes(classes, checkpoint.num_classes)
    d1, d2 = default_lambdas(checkpoint.meta["arch"])
    l1, l2 = (d1 if lambda1 is None else lambda1), (d2 if lambda2 is None else lambda2)
    base = checkpoint.model if _on(checkpoint.model, dev) else copy.deepcopy(checkpoint.model).to(dev)
    base.eval()
    codes = checkpoint.codes.to(dev)

    result = forget(base, codes, chosen, lambda1=l1, lambda2=l2, device=dev, mode="paper")
    # the same helpers forget() is made of, for the numbers between its input and its output
    fishers = code_fisher(base, codes, chosen, device=dev)
    ratios, deltas, _ = perturbations(base, fishers, l1, l2)

    check, test_before, test_after = _check_step(base, result, deltas, chosen, test_set, validation,
                                                 checkpoint.num_classes, dev)
    return Tour(
        classes=tuple(chosen), class_names=tuple(checkpoint.class_names), arch=checkpoint.meta["arch"],
        codes=_codes_step(base, codes, chosen, dev),
        fisher=_fisher_step(base, fishers),
        ratio=_ratio_step(result, ratios),
        chosen=_chosen_step(base, result),
        perturbation=_perturbation_step(base, result, deltas),
        check=check,
        sweep=strength_sweep(base, codes, deltas, 1.0 if result.sign == "+" else -1.0, test_set, chosen,
                             factors=factors, mode="paper", device=dev, known={0.0: test_before, 1.0: test_after}),
        seconds=dict(result.seconds))


def default_mode_sweep(checkpoint: Checkpoint, classes: Sequence[int], test_set: ImageTensors,
                       validation: ImageTensors | None, device: str | torch.device | None = "cpu",
                       factors: Sequence[float] = SWEEP_FACTORS, mode: str = DEFAULT_MODE) -> Sweep:
    """The same sweep for another method (the app's default): k scales whatever move it made.

    Its move is read off its own result (after - before, per parameter), so any method that returns
    a perturbed copy of the model can be swept; ``validation`` goes to methods that calibrate on it.
    Buffers (batch-norm statistics) stay the original's along the sweep; k = 1 measures the method's
    own model, buffers and all.
    """
    dev = pick_device(device)
    chosen = check_classes(classes, checkpoint.num_classes)
    base = checkpoint.model if _on(checkpoint.model, dev) else copy.deepcopy(checkpoint.model).to(dev)
    base.eval()
    codes = checkpoint.codes.to(dev)
    l1, l2 = default_lambdas(checkpoint.meta["arch"])
    result = forget(base, codes, chosen, lambda1=l1, lambda2=l2, device=dev, mode=mode, calibration=validation)
    after = dict(result.model.named_parameters())
    deltas = {n: (after[n].detach() - p.detach()) for n, p in base.named_parameters()}
    sweep = strength_sweep(base, codes, deltas, 1.0, test_set, chosen, factors=factors, mode=mode, device=dev,
                           own_model=result.model, sign_name=result.sign)
    read = 0
    if validation is not None and methods.reads_validation(mode):
        read = len(sample_per_class(validation, classifier_edit.VALIDATION_PER_CLASS, classifier_edit.VALIDATION_SEED))
    try:
        erased = tuple(site.linear for stage in erasure.erasure_stages(base) for site in stage) if mode == "erase" else ()
    except ValueError:  # no erasure site (the ViT): erase is the classifier edit alone there
        erased = ()
    return dataclasses.replace(sweep, steps=MethodSteps(mode, read, erased, result.layer, result.strength, result.sign,
                                                        dict(result.seconds)))


@torch.no_grad()
def strength_sweep(model: nn.Module, codes: torch.Tensor, deltas: dict[str, torch.Tensor], sign: float,
                   test_set: ImageTensors, classes: Sequence[int], factors: Sequence[float] = SWEEP_FACTORS,
                   mode: str = "paper", device: str | torch.device | None = "cpu",
                   own_model: nn.Module | None = None, sign_name: str | None = None,
                   known: Mapping[float, Evaluation] | None = None) -> Sweep:
    """A_F, A_R (real test images) and the codes' accuracies of theta + k * sign * delta, for each k.

    One working copy of ``model`` is rewritten in place per factor (``model`` itself is only read),
    then one batched pass over the test images: len(factors) forward passes in all. ``factors`` must
    hold 1.0, the method's own strength; there the weights are exactly ``apply_delta(model, deltas,
    sign)``'s, and with ``own_model`` (a method's result) that very model is measured instead.
    ``known`` maps factors to test evaluations already made of exactly those weights (k = 0: the
    original; k = 1: the result), which are then not measured again.
    """
    factors = tuple(float(k) for k in factors)
    if 1.0 not in factors or any(not math.isfinite(k) or k < 0 for k in factors):
        raise ValueError(f"factors must be finite, non-negative and include 1.0, got {factors}")
    dev = pick_device(device)
    chosen = check_classes(classes, len(codes))
    work = copy.deepcopy(model).to(dev).eval()
    theta = {n: p.detach().clone() for n, p in work.named_parameters()}
    n = len(codes)
    af, ar, cf, cr = [], [], [], []
    for k in factors:
        if k == 1.0 and own_model is not None:
            target = own_model
        else:
            for name, p in work.named_parameters():
                d = deltas.get(name)
                if d is None or k == 0.0:
                    p.copy_(theta[name])
                else:  # the same add as apply_delta, so k = 1 gives the identical weights
                    torch.add(theta[name], d.to(p.device), alpha=sign * k, out=p.data)
            target = work
        ev = known[k] if known and k in known else evaluate(target, test_set, n, device=dev)
        af.append(ev.forget_accuracy(chosen))
        ar.append(ev.retain_accuracy(chosen))
        f, r = code_accuracies(target, codes, chosen, device=dev)
        cf.append(f)
        cr.append(r)
    return Sweep(mode=mode, sign=sign_name or ("+" if sign > 0 else "-"), factors=factors,
                 forget_accuracy=tuple(af), retain_accuracy=tuple(ar),
                 code_forget_accuracy=tuple(cf), code_retain_accuracy=tuple(cr), test_images=len(test_set))


STEP_FUNCTIONS["sweep"] = (strength_sweep,)


# --- the steps ----------------------------------------------------------------------------------------

def _on(model: nn.Module, dev: torch.device) -> bool:
    p = next(model.parameters(), None)
    return p is None or p.device.type == dev.type


@torch.no_grad()
def _codes_step(model: nn.Module, codes: torch.Tensor, chosen: list[int], dev: torch.device) -> CodesStep:
    logits, _ = predict(model, codes, dev)
    conf, pred = torch.softmax(logits.float(), dim=1).max(dim=1)
    kept = [c for c in range(len(codes)) if c not in chosen]
    shown = (chosen + kept)[:MAX_SHOWN_CODES]
    shown = sorted(shown)
    pixels = codes[shown].detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    f, r = code_accuracies(model, codes, chosen, device=dev)
    return CodesStep(shown=tuple(shown), images=pixels, predicted=tuple(int(p) for p in pred),
                     confidence=tuple(float(c) for c in conf), code_forget_accuracy=f, code_retain_accuracy=r)


def _fisher_step(model: nn.Module, fishers: FisherPair) -> FisherStep:
    names = [n for n, _ in model.named_parameters()]
    logs_f = {n: torch.log10(fishers.forget[n].float()).flatten().cpu() for n in names}
    logs_r = {n: torch.log10(fishers.remain[n].float()).flatten().cpu() for n in names}
    lo = min(min(float(logs_f[n].min()), float(logs_r[n].min())) for n in names)
    hi = max(max(float(logs_f[n].max()), float(logs_r[n].max())) for n in names)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    edges = torch.linspace(lo, hi, HIST_BINS + 1)
    cf = sum(torch.histc(logs_f[n], bins=HIST_BINS, min=lo, max=hi) for n in names)
    cr = sum(torch.histc(logs_r[n], bins=HIST_BINS, min=lo, max=hi) for n in names)
    layers = tuple(LayerFisher(name=n, numel=fishers.forget[n].numel(), forget_mean=float(fishers.forget[n].mean()),
                               remain_mean=float(fishers.remain[n].mean())) for n in names)
    return FisherStep(edges=tuple(float(e) for e in edges), forget_counts=tuple(int(c) for c in cf),
                      remain_counts=tuple(int(c) for c in cr), layers=layers)


def _ratio_step(result: ForgetResult, ratios: dict[str, torch.Tensor]) -> RatioStep:
    edges, counts, moved = result.ratio_histogram()
    return RatioStep(edges=tuple(edges), counts=tuple(counts), moved_counts=tuple(moved),
                     max_ratio=max(t.max_ratio for t in result.tensors),
                     above_one=int(sum(int((r > 1).sum()) for r in ratios.values())))


def _chosen_step(model: nn.Module, result: ForgetResult) -> ChosenStep:
    params = dict(model.named_parameters())
    layers = tuple(LayerMove(
        name=t.name, numel=t.numel, moved=t.moved, scale=t.scale, max_ratio=t.max_ratio, max_delta=t.max_delta,
        mean_abs_delta=t.mean_abs_delta,
        weight_rms=float(params[t.name].detach().float().square().mean().sqrt())) for t in result.tensors)
    return ChosenStep(layers=layers, moved=result.moved_params, total=result.total_params)


def _perturbation_step(model: nn.Module, result: ForgetResult, deltas: dict[str, torch.Tensor]) -> PerturbationStep:
    delta_sq = sum(float(d.double().square().sum()) for d in deltas.values())
    theta_sq = sum(float(p.detach().double().square().sum()) for p in model.parameters())
    return PerturbationStep(
        lambda1=result.lambda1, lambda2=result.lambda2, delta_norm=math.sqrt(delta_sq),
        weight_norm=math.sqrt(theta_sq), max_delta=max(float(d.abs().max()) for d in deltas.values()),
        candidates=dict(result.code_scores), scores={s: (1.0 - f) + r for s, (f, r) in result.code_scores.items()},
        sign=result.sign)


def _check_step(model: nn.Module, result: ForgetResult, deltas: dict[str, torch.Tensor], chosen: list[int],
                test_set: ImageTensors,
                validation: ImageTensors | None, num_classes: int, dev: torch.device
                ) -> tuple[CheckStep, Evaluation, Evaluation]:
    splits, test_eval = [], None
    for name, data in (("validation", validation), ("test", test_set)):
        if data is None:
            continue
        before: Evaluation = evaluate(model, data, num_classes, device=dev)
        after: Evaluation = evaluate(result.model, data, num_classes, device=dev)
        splits.append(SplitCheck(split=name, images=len(data),
                                 forget_before=before.forget_accuracy(chosen), forget_after=after.forget_accuracy(chosen),
                                 retain_before=before.retain_accuracy(chosen), retain_after=after.retain_accuracy(chosen)))
        if name == "test":
            test_eval = (before, after)
    before, after = test_eval
    v = verdict(before, after, chosen)
    rejected = "-" if result.sign == "+" else "+"
    other = evaluate(apply_delta(model, deltas, 1.0 if rejected == "+" else -1.0), test_set, num_classes, device=dev)
    step = CheckStep(splits=tuple(splits), per_class_before=before.per_class_accuracy,
                     per_class_after=after.per_class_accuracy, verdict=v.message, forgot=v.forgot, kept=v.kept,
                     rejected_sign=rejected, rejected_forget=other.forget_accuracy(chosen),
                     rejected_retain=other.retain_accuracy(chosen))
    return step, before, after
