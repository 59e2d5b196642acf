"""Every unlearning method under one name, and the measurements that compare them.

Shared by ``benchmarks/compare.py`` and the app's Compare page: ``run`` forgets with a method by
name (the one-shot method is ``"mnemonic"``, in any of its modes; the baselines are named as in the method
registry, ``methods.REGISTRY``, which holds their labels)
and ``measure`` evaluates the result on the real test split (A_F, A_R) and attacks it with the
entropy membership-inference attack (MIA).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .methods import registry as methods
from .methods.baselines import ProgressFn, StopFn
from .storage.checkpoints import Checkpoint
from .data import Splits
from .results import ForgetResult
from .evaluation.metrics import evaluate
from .pipeline import default_lambdas
from .evaluation.privacy import membership_attack

ONE_SHOT = "mnemonic"  # every one-shot mode, compared as one method (its mode goes in the row)
BASELINES = methods.names(one_shot=False)
METHOD_NAMES: tuple[str, ...] = (ONE_SHOT, *BASELINES)
NO_TRAINING = (ONE_SHOT, *(m for m in BASELINES if not methods.REGISTRY[m].trains))  # no gradient step: fast
TRAINING = tuple(m for m in METHOD_NAMES if m not in NO_TRAINING)  # pay per training sample and epoch
REFERENCE = "retrain"  # the gold standard the others are judged against
LABELS = {ONE_SHOT: "One-shot (mnemonic codes)", **{m: methods.REGISTRY[m].label for m in BASELINES}}
SHORT_LABELS = {ONE_SHOT: "one-shot", **{m: methods.REGISTRY[m].short for m in BASELINES}}  # chart legends


@dataclass(frozen=True)
class MethodRow:
    """One method's outcome on one model: time, test accuracies and the MIA score (fractions in [0, 1])."""

    method: str
    seconds: float  # the method's own seconds["total"]
    forget_accuracy: float  # A_F on the test split
    retain_accuracy: float  # A_R on the test split
    mia: float  # share of forget-class training samples the attack calls "member"
    attack_accuracy: float  # the attack's balanced accuracy on members vs test samples (0.5: chance)
    device: str = ""
    notes: tuple[str, ...] = ()
    mode: str = ""  # the one-shot method's mode ("paper", "classifier", "calibrated"); empty for the baselines

    def to_dict(self) -> dict:
        """The benchmark's JSON row."""
        return {"method": self.method, "seconds": self.seconds, "forget_accuracy": self.forget_accuracy,
                "retain_accuracy": self.retain_accuracy, "mia": self.mia}


def default_mode() -> str:
    """The one-shot method's mode when none is asked for: the backend's default (what the app offers first)."""
    return methods.DEFAULT_MODE


def run(method: str, checkpoint: Checkpoint, splits: Splits, classes: Sequence[int],
        device: str | torch.device | None = None, progress: ProgressFn | None = None,
        should_stop: StopFn | None = None, mode: str | None = None) -> ForgetResult:
    """Forget ``classes`` with ``method``; the checkpoint's model is never modified.

    The one-shot method runs in ``mode`` (default: ``default_mode()``) with the paper's lambdas for
    the model's kind; it reads no training data (the "calibrated" mode reads ``splits.val``). The
    baselines read ``splits.train``.
    """
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHOD_NAMES)}")
    name = method
    kwargs = {}
    if method == ONE_SHOT:
        name = mode or default_mode()
        if name not in methods.names(one_shot=True):
            raise ValueError(f"unknown forgetting mode {name!r}; choose one of {sorted(methods.names(one_shot=True))}")
        kwargs = dict(zip(("lambda1", "lambda2"), default_lambdas(checkpoint.meta["arch"])))
    return methods.run(methods.ForgetRequest(
        name, checkpoint.model, classes, codes=checkpoint.codes, validation=splits.val, training=splits.train,
        meta=checkpoint.meta, device=device, progress=progress, should_stop=should_stop, **kwargs))


def measure(result: ForgetResult, splits: Splits, device: str | torch.device | None = None,
            seconds: float | None = None, method: str | None = None) -> MethodRow:
    """A_F and A_R of the forgotten model on the test split, and its MIA score.

    ``seconds`` overrides ``result.seconds["total"]`` (a benchmark's median over repeats); ``method``
    names the row (default: the result's mode, with the paper's rule called "mnemonic").
    """
    classes = list(result.forget_classes)
    n = len(splits.info.class_names)
    ev = evaluate(result.model, splits.test, n, device=device)
    attack = membership_attack(result.model, splits.train, splits.test, classes, device=device)
    one_shot = methods.get(result.mode).one_shot  # the baselines put their own name in ``mode``
    return MethodRow(method=method or (ONE_SHOT if one_shot else result.mode),
                     seconds=float(result.seconds["total"] if seconds is None else seconds),
                     forget_accuracy=ev.forget_accuracy(classes), retain_accuracy=ev.retain_accuracy(classes),
                     mia=attack.member_fraction, attack_accuracy=attack.attack_accuracy,
                     device=result.device, notes=tuple(result.notes),
                     mode=result.mode if one_shot else "")
