"""The other ways to forget a class, for comparison with the one-shot method.

Every function takes a trained model, its training split and the classes to forget, never
modifies the model, and returns a :class:`~unlearning.methods.forgetting.ForgetResult` (``mode`` is the
method's name, ``seconds["total"]`` the time it took) like the one-shot method does.

Methods (registered under these names in ``methods.REGISTRY``, which also runs them on a checkpoint):

- ``retrain``: a fresh initialisation trained on the remaining classes only, with the model's
  own recipe (the checkpoint's epochs, lr and its schedule, batch size, momentum, weight decay and
  mnemonic-code mixing ``t_mix``). The gold standard every other method tries to imitate.
- ``finetune``: keep training the model on the remaining classes only (forgetting by neglect).
- ``neggrad+``: NegGrad+ (Kurmanji et al., NeurIPS 2023): each step descends on a batch of
  remaining data and ascends on a batch of forget data, loss = beta * CE_R - (1 - beta) * CE_F.
- ``random-labels``: Amnesiac-style relabelling (Graves et al., AAAI 2021, as run in the SSD
  paper's code): every forget sample gets a random label among the remaining classes, once, and
  the model is trained on those plus the remaining data.
- ``ssd``: Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024). Importances are
  diagonal Fishers: the squared gradient of the mini-batch mean loss, averaged over mini-batches
  (batch 64, as the reference code), on the full training data D and on the forget data D_f.
  Parameters with imp_f > alpha * imp_D are multiplied by min(lambda * imp_D / imp_f, 1).
  alpha = 10, lambda = 1: the published full-class defaults. No gradient steps, one pass over D.

- ``ssd-tuned``: SSD with alpha chosen on the validation split (lambda = 1): the published alpha
  selects almost no parameter of the paper's MLP (forgets nothing) and too few in ResNet-8.

Hyperparameters: ``ssd`` uses the published values and ``retrain`` the model's own recipe. The
others were chosen on the validation split of mnist5k (``benchmarks/tune_baselines.py``; figures
in ``benchmarks/README.md``): for each method, the cheapest setting whose mean validation forget
accuracy is at most 2% while the remaining classes' validation accuracy drops by at most 3
points, else the best (1 - A_F) + A_R. Two families, because the settings that suit one do not
suit the other (``VALIDATED``, picked by ``family(model)``):

- ``mlp``, validated on the paper's MLP, all ten digits: fine-tune 2 epochs at lr 0.1; NegGrad+
  1 epoch at lr 0.05, beta 0.99; random labels 1 epoch at lr 0.01; SSD alpha 5.
- ``conv`` (any model with a convolution), validated on ResNet-8, digits 0, 4 and 8: fine-tune 5
  epochs at lr 0.1 (no setting works: this one forgets but costs 8 points); NegGrad+ 1 epoch at lr
  0.01, beta 0.95; random labels 2 epochs at lr 0.01; SSD alpha 8.

Other models get their family's settings unvalidated; pass ``settings=SGDSettings(...)``,
``beta=`` or ``alpha=`` to change them.

All gradient-based baselines run one in-memory batched SGD loop (momentum 0.9, weight decay 5e-4,
as the paper's training), with the images moved to the device once: no per-item data loading, so
their timings are if anything optimistic.

Progress: every method takes ``progress(fraction: float, message: str)``, called with fractions
in [0, 1] (the last call is 1.0), and ``should_stop()``, polled between steps; when it returns
True the method raises :class:`Cancelled`.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data import ImageTensors, to_floats
from ..device import describe, pick_device, synchronize
from .fisher import check_classes
from ..results import ForgetResult

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]
PROGRESS_EVERY = 0.1  # seconds between progress callbacks


class Cancelled(RuntimeError):
    """A method was stopped by its ``should_stop`` callback before it finished."""


@dataclass(frozen=True)
class SGDSettings:
    """One gradient-based baseline's hyperparameters (plain values, written into the result's notes)."""

    epochs: int
    lr: float
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "constant"  # or "cosine": lr annealed to 0 over the epochs, as training.TrainConfig

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")


@dataclass(frozen=True)
class Validated:
    """One family's baseline settings, chosen on the validation split (see the module docstring)."""

    finetune: SGDSettings
    neggrad: SGDSettings
    neggrad_beta: float  # weight of the remaining-data loss in NegGrad+
    random_labels: SGDSettings
    ssd_alpha: float  # ssd-tuned's selection weighting (lambda stays 1)

    def settings(self, method: str) -> SGDSettings:
        return {"finetune": self.finetune, "neggrad+": self.neggrad, "random-labels": self.random_labels}[method]


VALIDATED = {
    # the paper's MLP, all ten digits; grids: fine-tune lr 0.01-0.1 x 1-20 epochs (at lr <= 0.05 none
    # forgets); NegGrad+ beta 0.9-0.999 x lr 0.01, 0.05 x 1-5 epochs; random labels lr 0.001-0.05 x 1-5
    # epochs; SSD alpha 1, 2, 5, 10 x lambda 0.1, 1 (alpha 10: validation A_F 0.83)
    "mlp": Validated(finetune=SGDSettings(epochs=2, lr=0.1), neggrad=SGDSettings(epochs=1, lr=0.05),
                     neggrad_beta=0.99, random_labels=SGDSettings(epochs=1, lr=0.01), ssd_alpha=5.0),
    # ResNet-8, digits 0, 4, 8; smaller grids (an epoch takes seconds): fine-tune lr 0.01-0.1 x 1, 2, 5
    # epochs (none works); NegGrad+ beta 0.95-0.999 x lr 0.01, 0.05 x 1, 2; random labels lr 0.001-0.05 x
    # 1, 2; SSD alpha 5-10 (alpha 10: validation A_F 0.65; alpha 5: the rest loses 25 points)
    "conv": Validated(finetune=SGDSettings(epochs=5, lr=0.1), neggrad=SGDSettings(epochs=1, lr=0.01),
                      neggrad_beta=0.95, random_labels=SGDSettings(epochs=2, lr=0.01), ssd_alpha=8.0),
}
DEFAULTS = {m: VALIDATED["mlp"].settings(m) for m in ("finetune", "neggrad+", "random-labels")}  # the MLP's
SSD_ALPHA = 10.0  # selection weighting (published full-class default)
SSD_LAMBDA = 1.0  # dampening constant (published full-class default)
SSD_TUNED_LAMBDA = 1.0
SSD_BATCH = 64  # the reference code's mini-batch for the importances


def family(model: nn.Module) -> str:
    """"conv" for a model with any convolution, else "mlp": which validated settings apply."""
    return "conv" if any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()) else "mlp"


# --------------------------------------------------------------------------- helpers


class _Progress:
    """Adapts (fraction, message) callbacks and the stop poll to a known number of steps.

    Callbacks come at most every ``PROGRESS_EVERY`` seconds (and at the end), and the time spent
    inside them is kept in ``overhead``: a method's reported seconds leave out the caller's drawing.
    """

    def __init__(self, total_steps: int, progress: ProgressFn | None, should_stop: StopFn | None, label: str):
        self.total = max(int(total_steps), 1)
        self.done = 0
        self.progress = progress
        self.should_stop = should_stop
        self.label = label
        self.overhead = 0.0
        self._last = time.perf_counter()

    def _call(self, fraction: float, message: str) -> None:
        t0 = time.perf_counter()
        self.progress(fraction, message)  # type: ignore[misc]
        self._last = time.perf_counter()
        self.overhead += self._last - t0

    def step(self, message: str = "") -> None:
        if self.should_stop is not None:
            t0 = time.perf_counter()
            stop = self.should_stop()
            self.overhead += time.perf_counter() - t0
            if stop:
                raise Cancelled(f"{self.label} was stopped")
        self.done += 1
        if self.progress is not None and time.perf_counter() - self._last >= PROGRESS_EVERY:
            self._call(min(self.done / self.total, 1.0), message or self.label)

    def finish(self, message: str) -> None:
        if self.progress is not None:
            self._call(1.0, message)


def split_by_classes(train_set: ImageTensors, classes: Sequence[int]) -> tuple[ImageTensors, ImageTensors]:
    """(remaining samples, forget samples) of a labelled split."""
    is_forget = torch.isin(train_set.labels, torch.as_tensor(list(classes), dtype=torch.long))
    return (train_set.subset(torch.nonzero(~is_forget).flatten()),
            train_set.subset(torch.nonzero(is_forget).flatten()))


def _on_device(ds: ImageTensors, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and labels moved to the device once; batches are cut from them there."""
    return ds.images.to(dev), ds.labels.to(dev)


def _sgd(model: nn.Module, s: SGDSettings) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)


def _start(model: nn.Module, train_set: ImageTensors, classes: Sequence[int],
           device: str | torch.device | None) -> tuple[list[int], torch.device, nn.Module]:
    num_classes = _num_outputs(model, train_set)
    chosen = check_classes(classes, num_classes)
    dev = pick_device(device)
    work = copy.deepcopy(model).to(dev)
    return chosen, dev, work


def _num_outputs(model: nn.Module, train_set: ImageTensors) -> int:
    with torch.no_grad():
        was = model.training
        model.eval()
        try:
            x = to_floats(train_set.images[:1]).to(next(model.parameters()).device)
            return int(model(x).shape[1])
        finally:
            model.train(was)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _result(model: nn.Module, chosen: list[int], mode: str, dev: torch.device, t0: float, tracker: _Progress,
            notes: Sequence[str]) -> ForgetResult:
    """Stop the clock (device work finished, progress-bar time taken out), close the bar, wrap the model."""
    synchronize(dev)
    seconds = time.perf_counter() - t0 - tracker.overhead
    tracker.finish(f"{mode}: done")
    return ForgetResult(model=model.eval(), forget_classes=tuple(chosen), mode=mode, device=describe(dev),
                        seconds={"total": seconds}, notes=tuple(notes))


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def _train_epochs(work: nn.Module, x: torch.Tensor, y: torch.Tensor, s: SGDSettings, seed: int,
                  tracker: _Progress, label: str, codes: torch.Tensor | None = None, t_mix: float = 0.0) -> None:
    """Plain cross-entropy SGD for ``s.epochs`` epochs on in-memory (x uint8, y) tensors.

    With ``codes`` and ``t_mix`` > 0 each sample is swapped for its class's code with probability
    ``t_mix``, drawn afresh every epoch: the mnemonic-code mixing of the training recipe.
    """
    opt = _sgd(work, s)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, s.epochs) if s.schedule == "cosine" else None
    gen = _generator(seed)
    dev = x.device
    work.train()
    for epoch in range(s.epochs):
        for idx in _batches(len(y), s.batch_size, gen):
            idx_d = idx.to(dev)
            xb, yb = to_floats(x[idx_d]), y[idx_d]
            if codes is not None and t_mix > 0:
                swap = (torch.rand(len(idx), generator=gen) < t_mix).to(dev)
                if bool(swap.any()):
                    xb[swap] = codes[yb[swap]]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(work(xb), yb).backward()
            opt.step()
            tracker.step(f"{label}: epoch {epoch + 1}/{s.epochs}")
        if sched is not None:
            sched.step()


def _steps(n: int, s: SGDSettings) -> int:
    return s.epochs * math.ceil(n / s.batch_size)


# --------------------------------------------------------------------------- methods


def retrain(model: nn.Module, train_set: ImageTensors, classes: Sequence[int], *,
            settings: SGDSettings | None = None, codes: torch.Tensor | None = None, t_mix: float = 0.0,
            seed: int = 0, device: str | torch.device | None = None,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ForgetResult:
    """Re-initialise the model's architecture and train it on the remaining classes only.

    ``settings`` should be the model's own training recipe (``recipe_from_meta`` reads it from a
    checkpoint); ``codes`` and ``t_mix`` repeat its mnemonic-code mixing (the forgotten classes'
    codes are never shown, since their samples are gone).
    """
    settings = settings or SGDSettings(epochs=200, lr=0.01)
    chosen, dev, work = _start(model, train_set, classes, device)
    retain, _ = split_by_classes(train_set, chosen)
    synchronize(dev)
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # a seeded fresh start that leaves the global RNG alone
        torch.manual_seed(seed)
        for m in work.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    x, y = _on_device(retain, dev)
    code_dev = codes.to(dev, torch.float32) if codes is not None else None
    tracker = _Progress(_steps(len(y), settings), progress, should_stop, "retrain")
    _train_epochs(work, x, y, settings, seed, tracker, "retrain", code_dev, t_mix)
    return _result(work, chosen, "retrain", dev, t0, tracker,
                   [f"retrained from scratch on {len(y)} samples: {settings.epochs} epochs, lr {settings.lr:g} "
                    f"({settings.schedule}), batch {settings.batch_size}, t_mix {t_mix:g}"])


def finetune(model: nn.Module, train_set: ImageTensors, classes: Sequence[int], *,
             settings: SGDSettings | None = None, seed: int = 0, device: str | torch.device | None = None,
             progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ForgetResult:
    """Keep training the model on the remaining classes only."""
    settings = settings or VALIDATED[family(model)].finetune
    chosen, dev, work = _start(model, train_set, classes, device)
    retain, _ = split_by_classes(train_set, chosen)
    synchronize(dev)
    t0 = time.perf_counter()
    x, y = _on_device(retain, dev)
    tracker = _Progress(_steps(len(y), settings), progress, should_stop, "finetune")
    _train_epochs(work, x, y, settings, seed, tracker, "finetune")
    return _result(work, chosen, "finetune", dev, t0, tracker,
                   [f"fine-tuned on {len(y)} remaining samples: {settings.epochs} epochs, lr {settings.lr:g}"])


def neggrad_plus(model: nn.Module, train_set: ImageTensors, classes: Sequence[int], *,
                 settings: SGDSettings | None = None, beta: float | None = None, seed: int = 0,
                 device: str | torch.device | None = None,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ForgetResult:
    """NegGrad+: per step, loss = beta * CE(remaining batch) - (1 - beta) * CE(forget batch).

    An epoch is one pass over the remaining data; forget batches are cycled alongside.
    """
    beta = VALIDATED[family(model)].neggrad_beta if beta is None else beta
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    settings = settings or VALIDATED[family(model)].neggrad
    chosen, dev, work = _start(model, train_set, classes, device)
    retain, forgotten = split_by_classes(train_set, chosen)
    synchronize(dev)
    t0 = time.perf_counter()
    xr, yr = _on_device(retain, dev)
    xf, yf = _on_device(forgotten, dev)
    opt = _sgd(work, settings)
    gen = _generator(seed)
    tracker = _Progress(_steps(len(yr), settings), progress, should_stop, "neggrad+")
    work.train()
    forget_batches: list[torch.Tensor] = []
    for epoch in range(settings.epochs):
        for idx in _batches(len(yr), settings.batch_size, gen):
            if not forget_batches:
                forget_batches = _batches(len(yf), settings.batch_size, gen)
            fidx = forget_batches.pop().to(dev)
            idx = idx.to(dev)
            opt.zero_grad(set_to_none=True)
            loss_r = nn.functional.cross_entropy(work(to_floats(xr[idx])), yr[idx])
            loss_f = nn.functional.cross_entropy(work(to_floats(xf[fidx])), yf[fidx])
            (beta * loss_r - (1.0 - beta) * loss_f).backward()
            opt.step()
            tracker.step(f"neggrad+: epoch {epoch + 1}/{settings.epochs}")
    return _result(work, chosen, "neggrad+", dev, t0, tracker,
                   [f"NegGrad+: beta {beta:g}, {settings.epochs} epochs, lr {settings.lr:g}"])


def random_labels(model: nn.Module, train_set: ImageTensors, classes: Sequence[int], *,
                  settings: SGDSettings | None = None, seed: int = 0, device: str | torch.device | None = None,
                  progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ForgetResult:
    """Amnesiac-style: relabel the forget samples at random among the remaining classes, then train on all."""
    settings = settings or VALIDATED[family(model)].random_labels
    chosen, dev, work = _start(model, train_set, classes, device)
    num_classes = _num_outputs(model, train_set)
    keep = torch.tensor([c for c in range(num_classes) if c not in set(chosen)])
    synchronize(dev)
    t0 = time.perf_counter()
    gen = _generator(seed)
    labels = train_set.labels.clone()
    is_forget = torch.isin(labels, torch.tensor(chosen))
    labels[is_forget] = keep[torch.randint(len(keep), (int(is_forget.sum()),), generator=gen)]
    x, y = train_set.images.to(dev), labels.to(dev)
    tracker = _Progress(_steps(len(y), settings), progress, should_stop, "random-labels")
    _train_epochs(work, x, y, settings, seed, tracker, "random-labels")
    return _result(work, chosen, "random-labels", dev, t0, tracker,
                   [f"{int(is_forget.sum())} forget samples relabelled at random; "
                    f"{settings.epochs} epochs, lr {settings.lr:g}"])


def ssd_importances(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                    tracker: _Progress | None = None) -> dict[str, torch.Tensor]:
    """Mean over mini-batches of the squared gradient of the batch's mean cross-entropy (eval mode)."""
    params = dict(model.named_parameters())
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    batches = 0
    for start in range(0, len(y), batch_size):
        model.zero_grad(set_to_none=True)
        xb, yb = to_floats(x[start:start + batch_size]), y[start:start + batch_size]
        nn.functional.cross_entropy(model(xb), yb).backward()
        for n, p in params.items():
            if p.grad is not None:
                total[n].add_(p.grad.square())
        batches += 1
        if tracker is not None:
            tracker.step("ssd: importances")
    model.zero_grad(set_to_none=True)
    return {n: t / max(batches, 1) for n, t in total.items()}


def ssd(model: nn.Module, train_set: ImageTensors, classes: Sequence[int], *,
        alpha: float = SSD_ALPHA, lam: float = SSD_LAMBDA, batch_size: int = SSD_BATCH,
        device: str | torch.device | None = None,
        progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> ForgetResult:
    """Selective Synaptic Dampening: dampen the parameters far more important to D_f than to D."""
    if not (alpha > 0 and lam > 0):
        raise ValueError(f"alpha and lambda must be positive, got {alpha}, {lam}")
    chosen, dev, work = _start(model, train_set, classes, device)
    _, forgotten = split_by_classes(train_set, chosen)
    synchronize(dev)
    t0 = time.perf_counter()
    work.eval()
    x, y = _on_device(train_set, dev)
    xf, yf = _on_device(forgotten, dev)
    steps = math.ceil(len(y) / batch_size) + math.ceil(len(yf) / batch_size)
    tracker = _Progress(steps, progress, should_stop, "ssd")
    imp_f = ssd_importances(work, xf, yf, batch_size, tracker)
    imp_d = ssd_importances(work, x, y, batch_size, tracker)
    dampened = 0
    with torch.no_grad():
        for n, p in work.named_parameters():
            selected = imp_f[n] > alpha * imp_d[n]
            factor = (lam * imp_d[n] / imp_f[n]).clamp(max=1.0)
            p.mul_(torch.where(selected, factor, torch.ones_like(factor)))
            dampened += int(selected.sum())
    total = sum(p.numel() for p in work.parameters())
    return _result(work, chosen, "ssd", dev, t0, tracker,
                   [f"SSD: alpha {alpha:g}, lambda {lam:g}; {dampened} of {total} parameters dampened"])


def ssd_tuned(model: nn.Module, train_set: ImageTensors, classes: Sequence[int], **kwargs) -> ForgetResult:
    """SSD with the alpha chosen on the validation split for the model's family, not the published one."""
    kwargs.setdefault("alpha", VALIDATED[family(model)].ssd_alpha)
    kwargs.setdefault("lam", SSD_TUNED_LAMBDA)
    return dataclasses.replace(ssd(model, train_set, classes, **kwargs), mode="ssd-tuned")


def recipe_from_meta(meta: dict) -> tuple[SGDSettings, float, int]:
    """(settings, t_mix, seed) of a checkpoint's training recipe, for ``retrain``."""
    training = meta.get("training") or {}
    settings = SGDSettings(epochs=int(training.get("epochs", 200)), lr=float(training.get("lr", 0.01)),
                           batch_size=int(training.get("batch_size", 128)),
                           momentum=float(training.get("momentum", 0.9)),
                           weight_decay=float(training.get("weight_decay", 5e-4)),
                           schedule=str(training.get("schedule", "constant")))
    t_mix = float(meta.get("t_mix", training.get("t_mix", 0.0)) or 0.0)
    return settings, t_mix, int(training.get("seed", meta.get("seed", 0)) or 0)
