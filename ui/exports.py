"""A run, taken away: the metrics as CSV and as JSON, and the unlearned model as a checkpoint.

Pure functions on a ``RunView`` and the backend's objects (no Streamlit); the page offers them as downloads
and the "keep it in my models" button writes the checkpoint. Nothing here modifies a model it is given.
"""
from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import Checkpoint, save_checkpoint
from unlearning.pipeline import ForgetOutcome, forgotten_meta
from unlearning.storage.strict_json import dumps, finite

from .run_view import RunView, metrics_rows, summary


def file_stem(model_id: str, forget_names: Sequence[str]) -> str:
    """The downloads' file name without its suffix: the model and what it forgot, in safe characters, at most 100."""
    stem = f"{model_id}-forgot-{'-'.join(forget_names)}"
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)[:100]


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
