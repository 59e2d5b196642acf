"""From a forgetting run to what the pages draw of it: predictions before and after, the headline, the table.

``run_forgetting`` runs a method with the page's settings; ``analyse`` turns its outcome into a ``RunView``,
built once per run and kept in the session. Pure functions on backend objects (no Streamlit), so the app,
the report and the tests all see the same numbers. Nothing here modifies a model it is given.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import Checkpoint
from unlearning.data import ImageTensors, to_floats
from unlearning.evaluation.metrics import Evaluation, predict
from unlearning.evaluation.trunk import Trunk
from unlearning.pipeline import ForgetOutcome, forget_and_evaluate
from unlearning.storage.strict_json import finite

from .formatting import seconds_text
from .samples import gallery_classes, pick_samples, to_display


@dataclass(frozen=True)
class Predictions:
    """Predicted class and its softmax probability for each input."""

    labels: np.ndarray  # int64 [N]
    confidence: np.ndarray  # float [N], in [0, 1]


def predict_with_confidence(model: nn.Module, inputs: torch.Tensor, device: str | torch.device | None = None
                            ) -> Predictions:
    """Top-1 class and its probability; the model is only read (eval mode, no grad)."""
    logits, _ = predict(model, inputs, device)
    probs = torch.softmax(logits.float(), dim=1)
    conf, labels = probs.max(dim=1)
    return Predictions(labels.numpy().astype(np.int64), conf.numpy().astype(np.float64))


def run_forgetting(checkpoint: Checkpoint, test_set: ImageTensors, classes: Sequence[int], lambda1: float,
                   lambda2: float, device: str | torch.device | None, before: Evaluation | None = None,
                   mode: str | None = None, calibration: ImageTensors | None = None,
                   trunk: Callable[[nn.Module], Trunk | None] | None = None) -> ForgetOutcome:
    """forget_and_evaluate with the page's settings (no method chosen means the backend's default)."""
    return forget_and_evaluate(checkpoint, test_set, classes, lambda1=lambda1, lambda2=lambda2, device=device,
                               before=before, mode=mode or methods.DEFAULT_MODE, calibration=calibration,
                               trunk=trunk)


@dataclass(frozen=True)
class RunView:
    """One forgetting run and what to draw of it; built once per run, kept in the session."""

    outcome: ForgetOutcome
    class_names: tuple[str, ...]
    model_name: str
    meta: dict[str, Any]  # the parent checkpoint's metadata
    code_classes: tuple[int, ...]
    code_images: np.ndarray  # uint8 [N, H, W, 3]
    codes_before: Predictions
    codes_after: Predictions
    sample_labels: np.ndarray
    sample_images: np.ndarray  # uint8 [N, H, W, 3]
    samples_before: Predictions
    samples_after: Predictions

    @property
    def forget(self) -> tuple[int, ...]:
        return self.outcome.result.forget_classes

    @property
    def forget_names(self) -> list[str]:
        return [self.class_names[c] for c in self.forget]


def analyse(checkpoint: Checkpoint, outcome: ForgetOutcome, test_set: ImageTensors, model_name: str,
            device: str | torch.device | None = None, before_model: nn.Module | None = None) -> RunView:
    """Predictions of the model before and after on its codes and on a few real test images.

    ``before_model`` is the (session's copy of the) original model; by default the checkpoint's.
    """
    before_model = checkpoint.model if before_model is None else before_model
    after_model = outcome.result.model
    dev = device if device is not None else next(after_model.parameters()).device
    forget = outcome.result.forget_classes
    code_classes = gallery_classes(checkpoint.num_classes, forget)
    codes = checkpoint.codes[code_classes].to(torch.device(dev))
    idx = pick_samples(test_set.labels.numpy(), forget)
    samples = test_set.images[torch.as_tensor(idx, dtype=torch.long)]
    x = to_floats(samples).to(torch.device(dev))
    return RunView(
        outcome=outcome, class_names=tuple(checkpoint.class_names), model_name=model_name, meta=dict(checkpoint.meta),
        code_classes=tuple(code_classes), code_images=to_display(checkpoint.codes[code_classes]),
        codes_before=predict_with_confidence(before_model, codes, dev),
        codes_after=predict_with_confidence(after_model, codes, dev),
        sample_labels=test_set.labels.numpy()[idx], sample_images=to_display(samples),
        samples_before=predict_with_confidence(before_model, x, dev),
        samples_after=predict_with_confidence(after_model, x, dev))


def weighed_tensors(result: Any) -> list[Any]:
    """The parameter tensors the method computed a Fisher ratio for (a layer-only method skips the rest)."""
    return [t for t in result.tensors if sum(t.ratio_counts) > 0]


def busiest_tensor(result: Any) -> Any:
    """The tensor to show first: the one with the most perturbed parameters, then the largest."""
    return max(weighed_tensors(result), key=lambda t: (t.moved, t.numel))


def headline(view: RunView) -> str:
    """One sentence for a slide: what was forgotten, how far, at what cost, how fast."""
    o, f = view.outcome, view.forget
    names = view.forget_names
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    whose = "its" if len(names) == 1 else f"their ({len(names)} classes')"
    return (f"Forgetting {what} took {seconds_text(o.result.seconds['total'])}: {whose} test accuracy went from "
            f"{o.before.forget_accuracy(f):.1%} to {o.after.forget_accuracy(f):.1%}, the other classes went from "
            f"{o.before.retain_accuracy(f, o.previously_forgotten):.1%} to "
            f"{o.after.retain_accuracy(f, o.previously_forgotten):.1%}.")


def metrics_rows(view: RunView) -> list[dict[str, Any]]:
    """Per-class accuracy before and after (percent), with the number of test images behind it."""
    o = view.outcome
    support = o.before.confusion.sum(axis=1)
    rows = []
    for c, name in enumerate(view.class_names):
        b, a = o.before.per_class_accuracy[c], o.after.per_class_accuracy[c]
        rows.append({"class": name, "forgotten": c in view.forget, "test_images": int(support[c]),
                     "accuracy_before_pct": _pct(b), "accuracy_after_pct": _pct(a),
                     "change_points": _pct(a - b) if math.isfinite(a) and math.isfinite(b) else None})
    return rows


def summary(view: RunView) -> dict[str, Any]:
    """The headline numbers in percent: A_F, A_R before and after, E_F, seconds."""
    o, f = view.outcome, view.forget
    return {"A_F_before": _pct(o.before.forget_accuracy(f)), "A_F_after": _pct(o.after.forget_accuracy(f)),
            "A_R_before": _pct(o.before.retain_accuracy(f, o.previously_forgotten)),
            "A_R_after": _pct(o.after.retain_accuracy(f, o.previously_forgotten)),
            "E_F": finite(o.efficacy), "seconds": dict(o.result.seconds)}


def _pct(x: float) -> float | None:
    return round(100.0 * x, 4) if x is not None and math.isfinite(x) else None
