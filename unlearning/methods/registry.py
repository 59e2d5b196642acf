"""The method registry: every way to forget a class, one-shot or baseline, described once and run one way.

Each ``Method`` says what the app, the CLI, Compare and the benchmarks need to know about it (its
name, labels, the data it reads, whether λ1/λ2 apply) and has one ``run(ForgetRequest) ->
ForgetResult``, with progress and cancellation. ``forgetting.forget`` is the front door for the
one-shot modes; ``run`` is the one door for every method. Adding a method is one module with its
function plus one ``Method(...)`` line in ``REGISTRY`` (the README shows how).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Union

import torch
from torch import nn

from . import baselines, classifier_edit, deep_erasure, erasure, paper_rule
from .baselines import Cancelled, ProgressFn, StopFn, recipe_from_meta
from ..data import ImageTensors
from ..device import describe, pick_device
from .fisher import free_cache, is_device_fault
from ..inputs import check_forget_inputs
from ..results import ForgetResult

CODES, VALIDATION, TRAINING = "codes", "validation images", "training images"  # what a method may read
Calibration = Union[ImageTensors, tuple[torch.Tensor, torch.Tensor]]  # labelled validation images
DEFAULT_MODE = "erase"  # the app's, the CLI's and the library's default: the mode that best passes the depth audit


@dataclass(frozen=True)
class ForgetRequest:
    """Everything a method may read, so that every method has the same call (unused fields are ignored)."""

    method: str  # a REGISTRY name
    model: nn.Module  # never modified: every method works on a copy
    classes: Sequence[int]
    codes: torch.Tensor | None = None  # the model's mnemonic codes (one-shot modes, retrain's code mixing)
    lambda1: float = paper_rule.PAPER_LAMBDAS["mnist"][0]  # the paper's rule only
    lambda2: float = paper_rule.PAPER_LAMBDAS["mnist"][1]
    validation: Calibration | None = None  # for methods that read VALIDATION
    training: ImageTensors | None = None  # for methods that read TRAINING
    meta: Mapping[str, Any] = field(default_factory=dict)  # the checkpoint's metadata (retrain's recipe)
    device: str | torch.device | None = None
    chunk_size: int = 16  # codes per Fisher chunk (the paper's rule)
    options: Mapping[str, Any] = field(default_factory=dict)  # a method's own overrides (settings=, alpha=)
    progress: ProgressFn | None = None  # progress(fraction in [0, 1], message)
    should_stop: StopFn | None = None  # polled; True stops the run with ``Cancelled``


@dataclass(frozen=True)
class Method:
    """One way to forget, as every caller sees it; ``run`` returns a new model in a ``ForgetResult``."""

    name: str  # the name used in addresses, JSON, the CLI and result rows
    label: str  # how Compare's selection and tables name it
    short: str  # how chart legends name it
    description: str  # one precise line (the CLI's help, the model cards, the app's fold)
    reads: frozenset[str]  # of CODES, VALIDATION, TRAINING
    run: Callable[[ForgetRequest], ForgetResult]
    one_shot: bool = False  # a mode of ``forget()`` (True) or a baseline to compare it with
    lambdas: bool = False  # whether λ1 and λ2 set its strength
    trains: bool = False  # whether it takes gradient steps (its cost grows with data and epochs)
    published: bool = False  # the rule the paper evaluated (credited to it); the other one-shot modes are the app's
    plain: str = ""  # the method in plain words, for the app (the description when empty)


# --------------------------------------------------------------------------- one-shot modes

Step = Callable[[torch.device, ForgetRequest, list[int], Any, Any, list[str]], ForgetResult]


def _one_shot(step: Step) -> Callable[[ForgetRequest], ForgetResult]:
    """A one-shot mode's ``run``: checked inputs, progress at start and end, a CPU retry if the accelerator fails.

    A stop request is honoured before the edit starts: the edit itself is one step of a fraction of a second.
    """
    def run(req: ForgetRequest) -> ForgetResult:
        method = get(req.method)
        checked = check_forget_inputs(req.model, req.codes, req.classes)  # strict types; half precision -> float32
        chosen, notes = checked.classes, list(checked.notes)
        dev = pick_device(req.device)
        req = dataclasses.replace(req, model=checked.model, codes=checked.codes,  # lambdas checked in every mode
                                  lambda1=paper_rule.check_lambda("lambda1", req.lambda1),
                                  lambda2=paper_rule.check_lambda("lambda2", req.lambda2))
        images = labels = None
        if VALIDATION in method.reads:
            images, labels = classifier_edit.calibration_tensors(req.validation, req.codes)
        _stop_check(req)
        if req.progress is not None:
            req.progress(0.0, f"one-shot ({req.method}): Fisher on the codes")
        try:
            result = step(dev, req, chosen, images, labels, notes)
        except RuntimeError as e:
            if dev.type == "cpu" or not is_device_fault(e):
                raise
            free_cache(dev)
            notes.append(f"{describe(dev)} failed ({str(e).splitlines()[0][:120]}); forgot on the CPU instead")
            result = step(torch.device("cpu"), req, chosen, images, labels, notes)
        if req.progress is not None:
            req.progress(1.0, "one-shot: done")
        return result
    return run


def _stop_check(req: ForgetRequest) -> None:
    if req.should_stop is not None and req.should_stop():
        raise Cancelled(f"{req.method} was stopped")


def _paper(dev, req, chosen, images, labels, notes) -> ForgetResult:
    return paper_rule.forget_on(dev, req.model, req.codes, chosen, req.lambda1, req.lambda2, req.chunk_size, notes)


def _classifier(dev, req, chosen, images, labels, notes) -> ForgetResult:
    return classifier_edit.forget_on(dev, req.model, req.codes, chosen, req.method, images, labels, notes)


def _erase(dev, req, chosen, images, labels, notes) -> ForgetResult:
    return erasure.forget_on(dev, req.model, req.codes, chosen, images, labels, notes)


def _deep_erase(dev, req, chosen, images, labels, notes) -> ForgetResult:
    return deep_erasure.forget_on(dev, req.model, req.codes, chosen, images, labels, notes)


# --------------------------------------------------------------------------- baselines

def _baseline(fn: Callable[..., ForgetResult]) -> Callable[[ForgetRequest], ForgetResult]:
    """A baseline's ``run``: its function on the training images, with the request's device, progress and stop."""
    def run(req: ForgetRequest) -> ForgetResult:
        if req.training is None:
            raise ValueError(f"{req.method} reads the training images; the request has none")
        kwargs: dict[str, Any] = dict(device=req.device, progress=req.progress, should_stop=req.should_stop)
        if fn is baselines.retrain:  # the model's own recipe and code mixing
            settings, t_mix, seed = recipe_from_meta(dict(req.meta))
            kwargs.update(settings=settings, codes=req.codes, t_mix=t_mix, seed=seed)
        kwargs.update(req.options)
        return fn(req.model, req.training, req.classes, **kwargs)
    return run


# --------------------------------------------------------------------------- the registry

_C, _CV, _T = frozenset({CODES}), frozenset({CODES, VALIDATION}), frozenset({TRAINING})
REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("paper", "One-shot: the paper's rule", "paper's rule",
           "The published rule: code Fisher ratio over every parameter, per-tensor scale min(lambda1, lambda2 / max r), "
           "sign chosen on the codes.", _C, _one_shot(_paper), one_shot=True, lambdas=True, published=True,
           plain="The paper's rule (Yamashita et al., ACML 2024): it finds the weights that matter much more to the "
                 "forgotten classes' mnemonic codes than to the other classes' codes, and pushes those weights once. "
                 "λ1 and λ2 set how hard."),
    Method("classifier", "One-shot: classifier layer", "classifier",
           "Data-free: centred-logit Fisher ratio on the codes, classifier layer only, sign and strength chosen "
           "on the codes (8x the strength that forgets them).", _C, _one_shot(_classifier), one_shot=True,
           plain="Edits only the last layer (the one that turns the model's features into class scores), using "
                 "the mnemonic codes alone: no data at all."),
    Method("calibrated", "One-shot: calibrated classifier layer", "calibrated",
           "Classifier-layer ratio as in 'classifier', sign and strength checked on one forward pass over "
           "validation images (4x the strength that forgets them).", _CV, _one_shot(_classifier), one_shot=True,
           plain="Edits only the last layer, like *classifier*, and checks how hard to push on a few "
                 "validation images (one pass, no training)."),
    Method("erase", "One-shot: erase from the features", "erase",
           "Removes the classes from the features: closed-form erasure (LEACE) of the forgotten classes from the "
           "last hidden layer, from one forward pass over validation images, then the 'calibrated' edit of the "
           "classifier layer.", _CV, _one_shot(_erase), one_shot=True,
           plain="Aims to take the classes out of what the model computes inside (its last hidden layer), not only "
                 "out of its answers, then edits the last layer. It reads a few validation images once; no training. "
                 "Whether the classes really left is what the depth check (\"is it gone?\") measures."),
    Method("deep-erase", "One-shot: erase at every stage", "deep-erase",
           "Removes the classes at every stage: a closed-form eraser (LEACE) at every stage of the network, half "
           "strength below the last stage and up to full strength at it (the ViT: one projection of its residual "
           "stream, which takes the class out of every block's output at once), fitted in forward order on one "
           "bounded sample of validation images, then the 'calibrated' edit of the classifier layer; the last stage "
           "is erased less where full strength costs the rest more than 3 points, and it falls back to 'erase' "
           "where even half strength does.",
           _CV, _one_shot(_deep_erase), one_shot=True,
           plain="Like *erase*, but takes the classes out at every stage of the network, not only the last hidden "
                 "layer, from a few validation images read once; no training. When that would cost the other "
                 "classes more than 3 points on validation images it does *erase* instead, and says so."),
    Method("retrain", "Retrain from scratch", "retrain",
           "A fresh model trained on the remaining classes with the model's own recipe: the gold standard.",
           _T, _baseline(baselines.retrain), trains=True),
    Method("finetune", "Fine-tune", "fine-tune",
           "Keep training on the remaining classes only (forgetting by neglect).",
           _T, _baseline(baselines.finetune), trains=True),
    Method("neggrad+", "NegGrad+", "NegGrad+",
           "Descend on remaining data and ascend on forget data (Kurmanji et al., NeurIPS 2023).",
           _T, _baseline(baselines.neggrad_plus), trains=True),
    Method("random-labels", "Random labels", "random labels",
           "Train on the forget samples relabelled at random among the remaining classes (Graves et al., AAAI 2021).",
           _T, _baseline(baselines.random_labels), trains=True),
    Method("ssd", "SSD (published α=10, λ=1)", "SSD",
           "Selective Synaptic Dampening (Foster et al., AAAI 2024): dampen parameters far more important to the "
           "forget data; no gradient step.", _T, _baseline(baselines.ssd)),
    Method("ssd-tuned", "SSD (α chosen on validation)", "SSD (tuned α)",
           "SSD with α chosen on the validation split for the model's family.", _T, _baseline(baselines.ssd_tuned)),
)}


def get(name: str) -> Method:
    """The method called ``name``; ValueError with the list of names when there is none."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {list(REGISTRY)}") from None


def names(one_shot: bool | None = None) -> tuple[str, ...]:
    """The registered names in order: all of them, only the one-shot modes (True) or only the baselines (False)."""
    return tuple(n for n, m in REGISTRY.items() if one_shot is None or m.one_shot == one_shot)


def takes_lambdas(name: str | None) -> bool:
    """Whether λ1 and λ2 set the strength of ``name`` (None: the paper's rule, as old runs were)."""
    return name is None or (name in REGISTRY and REGISTRY[name].lambdas)


def is_published(name: str | None) -> bool:
    """Whether ``name`` is the paper's own rule (None: the paper's rule, as runs saved before modes were)."""
    return name is None or (name in REGISTRY and REGISTRY[name].published)


def reads_validation(name: str | None) -> bool:
    """Whether ``name`` reads labelled validation images (never the test split)."""
    return name in REGISTRY and VALIDATION in REGISTRY[name].reads


def run(request: ForgetRequest) -> ForgetResult:
    """Forget with ``request.method``; returns a new model (the request's model is never modified)."""
    return get(request.method).run(request)


def run_baseline(name: str, checkpoint, train_set: ImageTensors, classes: Sequence[int],
                 device: str | torch.device | None = None, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None, **overrides) -> ForgetResult:
    """Run the baseline ``name`` on a :class:`~unlearning.storage.checkpoints.Checkpoint` with its defaults.

    ``retrain`` follows the checkpoint's own training recipe (and its codes); ``overrides`` are
    passed to the method (e.g. ``settings=SGDSettings(...)``).
    """
    if name not in names(one_shot=False):
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(names(one_shot=False))}")
    return run(ForgetRequest(name, checkpoint.model, classes, codes=checkpoint.codes, training=train_set,
                             meta=checkpoint.meta, device=device, options=overrides, progress=progress,
                             should_stop=should_stop))
