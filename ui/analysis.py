"""From a forgetting run to everything the pages show: predictions, samples, tables, downloads.

Pure functions on backend objects (no Streamlit), so the app, the report and the tests all see the
same numbers. Nothing here modifies a model it is given.
"""
from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import Checkpoint, save_checkpoint
from unlearning.data import ImageTensors, to_floats
from unlearning.evaluation.metrics import Evaluation, predict
from unlearning.pipeline import ForgetOutcome, forget_and_evaluate, forgotten_meta
from unlearning.evaluation.trunk import Trunk
from unlearning.storage.strict_json import dumps, finite

# What the page accepts for the lambdas. The backend takes any positive number up to 1e12; these
# bounds are what makes sense for this rule: lambda1 caps the per-tensor scale s (the paper uses
# 1e-5 and 1e-3), lambda2 caps the largest single-parameter change (the paper uses 10 and 1e4).
LAMBDA_RANGES: dict[str, tuple[float, float]] = {"lambda1": (1e-9, 1.0), "lambda2": (1e-4, 1e6)}
LAMBDA_SYMBOLS = {"lambda1": "λ1", "lambda2": "λ2"}
MAX_GALLERY = 12  # images per gallery row: readable on a projector


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


def parse_lambda(text: str, name: str) -> float:
    """A lambda typed by a user, as a float; ValueError with a sentence a user can act on."""
    lo, hi = LAMBDA_RANGES[name]
    symbol = LAMBDA_SYMBOLS[name]
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"{symbol} must be a number such as 1e-3, got {text!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{symbol} must be a positive number, got {text!r}.")
    if not lo <= value <= hi:
        raise ValueError(f"{symbol} = {value:g} is out of range: use a value between {lo:g} and {hi:g}.")
    return value


def selection_problem(selected: Sequence[str], class_names: Sequence[str]) -> str | None:
    """Why a choice of classes cannot be forgotten, or None when it can."""
    if not selected:
        return "Choose at least one class to forget."
    unknown = [s for s in selected if s not in class_names]
    if unknown:
        return f"Unknown class {unknown[0]!r}: this model's classes are {', '.join(class_names)}."
    if len(set(selected)) >= len(class_names):
        return "You chose every class. At least one class must remain, or there is nothing left to keep."
    return None


def class_indices(selected: Sequence[str], class_names: Sequence[str]) -> list[int]:
    names = list(class_names)
    return sorted({names.index(s) for s in selected})


def available_modes() -> dict[str, str]:
    """Forgetting methods by name -> description, as the backend registers them."""
    return {name: methods.REGISTRY[name].description for name in methods.names(one_shot=True)}


def plain_mode(mode: str | None) -> str:
    """A method in plain words (the paper's rule when ``mode`` is None); the registry's description is the
    precise one, shown behind a "for the curious" fold. The paper is credited where its rule ran only."""
    method = methods.REGISTRY.get(mode or "paper")
    return (method.plain or method.description) if method else (mode or "")


def method_credit(mode: str | None) -> str:
    """Who a run's method is: the paper's rule is credited to the paper, the app's own modes are not."""
    if methods.is_published(mode):
        return "the paper's one-shot rule with mnemonic codes (Yamashita et al., ACML 2024)"
    return f"the app's “{mode}” method (one shot, built on the paper's mnemonic codes; not the paper's own rule)"


def default_mode() -> str:
    """The method offered first: the backend's default."""
    return methods.DEFAULT_MODE


def run_forgetting(checkpoint: Checkpoint, test_set: ImageTensors, classes: Sequence[int], lambda1: float,
                   lambda2: float, device: str | torch.device | None, before: Evaluation | None = None,
                   mode: str | None = None, calibration: ImageTensors | None = None,
                   trunk: Callable[[nn.Module], Trunk | None] | None = None) -> ForgetOutcome:
    """forget_and_evaluate with the page's settings (no method chosen means the backend's default)."""
    return forget_and_evaluate(checkpoint, test_set, classes, lambda1=lambda1, lambda2=lambda2, device=device,
                               before=before, mode=mode or methods.DEFAULT_MODE, calibration=calibration,
                               trunk=trunk)


def pick_samples(labels: np.ndarray | torch.Tensor, forget: Sequence[int], per_forgotten: int = 4,
                 kept_classes: int = 6) -> np.ndarray:
    """Indices of test images to show: the first few of each forgotten class, then one per kept class.

    Deterministic (the first in split order), so before and after always show the same images.
    """
    labels = np.asarray(labels)
    forget = sorted(set(int(c) for c in forget))
    per_forgotten = max(1, min(per_forgotten, MAX_GALLERY // max(1, len(forget))))
    chosen: list[int] = []
    for c in forget:
        chosen.extend(np.flatnonzero(labels == c)[:per_forgotten].tolist())
    kept = [c for c in np.unique(labels).tolist() if c not in forget][:kept_classes]
    for c in kept:
        chosen.extend(np.flatnonzero(labels == c)[:1].tolist())
    return np.asarray(chosen, dtype=np.int64)


def gallery_classes(num_classes: int, forget: Sequence[int], limit: int = MAX_GALLERY) -> list[int]:
    """Which classes' codes to show: all when they fit, else the forgotten ones then the first kept ones."""
    if num_classes <= limit:
        return list(range(num_classes))
    forget = sorted(set(int(c) for c in forget))[:limit]
    kept = [c for c in range(num_classes) if c not in forget][: max(0, limit - len(forget))]
    return forget + kept


def to_display(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """[N, C, H, W] images (uint8, or float in [0, 1]) as uint8 [N, H, W, 3] for drawing."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.round(x.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


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


def settings_line(result: Any) -> list[str]:
    """How a run was made, in short phrases: method, strengths, direction, layer, device."""
    parts = [f"method {result.mode}"]
    if math.isfinite(result.lambda1) and methods.takes_lambdas(result.mode):
        parts.append(f"λ1 = {result.lambda1:g}, λ2 = {result.lambda2:g}")
    strength = getattr(result, "strength", float("nan"))
    if isinstance(strength, float) and math.isfinite(strength):
        parts.append(f"strength {strength:.3g}")
    if getattr(result, "layer", ""):
        parts.append(f"layer {result.layer.removeprefix('net.')}")  # as the charts name it (figures.layer_label)
    if result.sign:
        parts.append(f"direction {'θ + δ' if result.sign == '+' else 'θ − δ'}")
    parts.append(result.device)
    return parts


def settings_explained(result: Any) -> list[str]:
    """Each phrase of ``settings_line`` in plain words (markdown bullets), for the fold below it."""
    out = []
    strength = getattr(result, "strength", float("nan"))
    if isinstance(strength, float) and math.isfinite(strength):
        out.append(f"**strength {strength:.3g}**: the size of the edit, the largest change it made to any one weight "
                   f"of the edited layer. The method chose it as a few times the smallest push that makes the "
                   f"model stop recognising the forgotten classes.")
    if getattr(result, "layer", ""):
        out.append(f"**layer {result.layer.removeprefix('net.')}**: the part of the network that was edited (`fc` is "
                   f"the last layer, which turns features into class scores).")
    if result.sign:
        out.append(f"**direction {'θ + δ' if result.sign == '+' else 'θ − δ'}**: the edit can be added to the weights "
                   f"(θ) or taken away; both were tried on the codes and this one forgot them while keeping the rest.")
    if methods.takes_lambdas(result.mode) and math.isfinite(result.lambda1):
        out.append("**λ1, λ2**: the paper's two limits on how far weights may move (see the fold beside their boxes).")
    if result.mode == "erase":
        out.append("**erase** wipes from the last hidden layer whatever a straight-line rule could use to tell the "
                   "forgotten classes apart from the rest, with the smallest change that does it. That step is "
                   "*LEACE* (LEAst-squares Concept Erasure, Belrose et al. 2023).")
    return out


def demote_headings(markdown: str, levels: int = 2) -> str:
    """Markdown with every heading ``levels`` deeper (a card's "# Title" must not outshout the page)."""
    out = []
    for line in markdown.splitlines():
        stripped = line.lstrip("#")
        depth = len(line) - len(stripped)
        out.append("#" * min(6, depth + levels) + stripped if 0 < depth and stripped.startswith(" ") else line)
    return "\n".join(out)


def seconds_text(seconds: float) -> str:
    """A duration with the precision a reader can use: 8 ms, 0.31 s, 2.4 s, 55 s, 3 min 05 s."""
    if not seconds == seconds or seconds < 0:  # NaN or nonsense
        return "–"
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else "< 1 ms"
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


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


def run_settings(view: RunView) -> dict[str, Any]:
    """How the run was made, as flat columns: enough to reproduce it (and to tell two files apart)."""
    r = view.outcome.result
    paper = methods.takes_lambdas(r.mode)
    return {"model": view.model_name, "arch": view.meta.get("arch"), "dataset": view.meta.get("dataset"),
            "method": r.mode, "forget_classes": " ".join(view.forget_names),
            "lambda1": r.lambda1 if paper else None, "lambda2": r.lambda2 if paper else None,
            "sign": r.sign or None, "device": r.device, "seconds_total": round(float(r.seconds["total"]), 6)}


def metrics_csv(view: RunView) -> str:
    """One table a spreadsheet opens: a row per class, before and after, with the run's settings in
    every row (the summary numbers are in the JSON download and can be recomputed from these rows)."""
    out = io.StringIO()
    settings = run_settings(view)
    rows = [{**settings, **row} for row in metrics_rows(view)]
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def metrics_json(view: RunView) -> str:
    """Everything the backend reports about the run, plus the model and class names; strict JSON."""
    meta = view.meta
    doc = {"model": {"name": view.model_name, "arch": meta.get("arch"), "dataset": meta.get("dataset"),
                     "test_accuracy": meta.get("test_accuracy")},
           "class_names": list(view.class_names),
           "forget_class_names": view.forget_names,
           "settings": finite(run_settings(view)),
           **view.outcome.to_dict(),
           "summary_pct": summary(view),
           "per_class": metrics_rows(view)}
    return dumps(doc, indent=2)


def save_unlearned(checkpoint: Checkpoint, outcome: ForgetOutcome, target: Path) -> None:
    """Write the unlearned model as a .safetensors checkpoint: its weights, the parent's codes, and metadata that
    says what it forgot (so a later forgetting knows)."""
    save_checkpoint(target, cpu_model(outcome.result.model), checkpoint.codes.to("cpu"),
                    forgotten_meta(checkpoint, outcome))


def model_bytes(checkpoint: Checkpoint, outcome: ForgetOutcome) -> bytes:
    """The unlearned model's checkpoint as bytes, for a download."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forgotten.safetensors"
        save_unlearned(checkpoint, outcome, path)
        return path.read_bytes()


def cpu_model(model: nn.Module) -> nn.Module:
    """The model on the CPU without moving the caller's object (a copy only when it lives elsewhere)."""
    p = next(model.parameters(), None)
    if p is None or p.device.type == "cpu":
        return model
    import copy

    return copy.deepcopy(model).to("cpu")


def _pct(x: float) -> float | None:
    return round(100.0 * x, 4) if x is not None and math.isfinite(x) else None


