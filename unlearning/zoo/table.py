"""The forgetting table (``docs/forgetting_table.csv`` and ``.md``, made by ``benchmarks/forgetting_table.py``):
every shipped model forgets every class set in every one-shot mode, measured on its real test split; one row per
model, mode and class set. ``table_rows`` reads it for the app; ``measure`` makes the rows of one model."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..data import dataset_of
from ..storage.checkpoints import Checkpoint
from ..storage.folders import ROOT
from ..storage.safe_io import atomic_write_text
from .targets import row_passes, summaries

TABLE_CSV = ROOT / "docs" / "forgetting_table.csv"
TABLE_MD = ROOT / "docs" / "forgetting_table.md"

NUMERIC = ("A_F_before", "A_F_after", "A_R_before", "A_R_after", "retain_drop", "E_F", "seconds", "strength")


def table_rows(model: str | None = None, mode: str | None = None, path: Path = TABLE_CSV) -> list[dict[str, Any]]:
    """Rows of the generated forgetting table, optionally for one model and / or mode; [] if none yet.

    Each row: model, mode, set ("single", "pair" or "five"), classes ("3" or "1+7"), sign, the
    numbers in ``NUMERIC`` as floats, and ``passed`` (bool: the row meets its target).
    """
    if not Path(path).is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if (model is not None and row["model"] != model) or (mode is not None and row["mode"] != mode):
                continue
            out: dict[str, Any] = dict(row)
            for k in NUMERIC:
                if k in out:
                    out[k] = float(out[k]) if out[k] not in ("", "nan") else float("nan")
            out["passed"] = row.get("passed", "").lower() == "yes"
            rows.append(out)
    return rows


SINGLES: tuple[tuple[int, ...], ...] = tuple((c,) for c in range(10))
PAIRS: tuple[tuple[int, ...], ...] = ((1, 7), (3, 8), (4, 9), (0, 6))
FIVES: tuple[tuple[int, ...], ...] = ((0, 2, 4, 6, 8), (1, 3, 5, 7, 9), (0, 1, 2, 3, 4))
COLUMNS = ("model", "mode", "set", "classes", "sign", "strength", "A_F_before", "A_F_after", "A_R_before",
           "A_R_after", "retain_drop", "E_F", "seconds", "passed")
TABLE_THREADS = 1  # forgetting is timed on one CPU thread: the slow end of a laptop


def class_sets() -> list[tuple[str, tuple[int, ...]]]:
    return ([("single", s) for s in SINGLES] + [("pair", s) for s in PAIRS] + [("five", s) for s in FIVES])


def measure(ckpt: Checkpoint, name: str, modes: Sequence[str], log: Callable[[str], None] = print,
            data_root: str | None = None) -> list[dict[str, Any]]:
    """Forget every class set of ``class_sets()`` in every mode; rows measured on the real test split."""
    from ..evaluation.metrics import evaluate, forgetting_efficacy
    from ..pipeline import forget_and_evaluate

    splits = dataset_of(ckpt.meta, root=data_root)
    before = evaluate(ckpt.model, splits.test, ckpt.num_classes, device="cpu")
    rows = []
    for mode in modes:
        for kind, classes in class_sets():
            out = forget_and_evaluate(ckpt, splits.test, classes, device="cpu", before=before, mode=mode,
                                      calibration=splits.val)
            af0, af1 = before.forget_accuracy(classes), out.after.forget_accuracy(classes)
            ar0, ar1 = before.retain_accuracy(classes), out.after.retain_accuracy(classes)
            drop = 100.0 * (ar0 - ar1)
            rows.append({
                "model": name, "mode": mode, "set": kind, "classes": "+".join(map(str, classes)),
                "sign": out.result.sign, "strength": out.result.strength,
                "A_F_before": af0, "A_F_after": af1, "A_R_before": ar0, "A_R_after": ar1, "retain_drop": drop,
                "E_F": forgetting_efficacy(af0, af1), "seconds": out.result.seconds["total"],
                "passed": row_passes(kind, af1, drop)})
        log(f"  {name} / {mode}: {sum(r['passed'] for r in rows if r['mode'] == mode)}/{len(class_sets())} "
            f"class sets meet their target")
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.6g}"
    return str(v)


def write_csv(rows: Sequence[dict[str, Any]], path: Path = TABLE_CSV) -> Path:
    f = io.StringIO()
    w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r[k]) for k in COLUMNS})
    return atomic_write_text(path, f.getvalue())


def table_markdown(rows: Sequence[dict[str, Any]], default_mode: str, default_model: str) -> str:
    from ..methods.registry import REGISTRY, names

    sums = summaries(rows)
    out = [
        "# Forgetting table (generated)",
        "",
        "Made by `python benchmarks/forgetting_table.py` (also run by `python -m unlearning zoo --rebuild`) from "
        "the checkpoints in `assets/models/`. Every number is measured on the model's own real test split "
        "(`mnist5k`: 1,000 digits; `fashion-mnist`: the official 10,000 images); the modes that read images read "
        "at most 50 validation images a class (`classifier_edit.VALIDATION_PER_CLASS`), never the test split. "
        "A_F / A_R: test accuracy on "
        "the forgotten / remaining classes, before and after; drop: A_R before minus after, in points; "
        "E_F: share of the forgotten classes' accuracy removed, in percent; seconds: the whole forgetting "
        f"(Fisher, perturbation, calibration) on {TABLE_THREADS} CPU thread, torch {torch.__version__}.",
        "",
        f"The app's default mode is `{default_mode}`; the default model is `{default_model}` "
        "(it meets every target in that mode with the highest retained accuracy).",
        "",
        "Modes (docs/zoo.md explains them and the experiments behind them):",
        "",
        *[f"- `{k}`: {REGISTRY[k].description}" for k in names(one_shot=True)],
        "",
        "## Summary",
        "",
        "Targets: each single class A_F <= 2 % and mean retain drop <= 3 points; each 2- and 5-class set A_F <= 5 % "
        "and retain drop <= 5 points.",
        "",
        "| model | mode | singles: worst A_F | singles: mean drop | sets: worst A_F | sets: worst drop "
        "| slowest (s) | targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sums:
        met = "**met**" if s.meets_targets else f"missed ({len(s.failed)} sets: {', '.join(s.failed[:5])})"
        out.append(f"| {s.model} | {s.mode} | {s.singles_max_forget:.1%} | {s.singles_mean_drop:+.2f} "
                   f"| {s.sets_max_forget:.1%} | {s.sets_max_drop:+.2f} | {s.max_seconds:.3f} | {met} |")
    for s in sums:
        out += ["", f"## {s.model}, mode `{s.mode}`", "",
                "| classes | sign | strength | A_F before | A_F after | A_R before | A_R after | drop | E_F % "
                "| seconds | target |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if (r["model"], r["mode"]) != (s.model, s.mode):
                continue
            strength = "" if r["strength"] != r["strength"] else f"{r['strength']:.3g}"
            out.append(f"| {r['classes']} | {r['sign']} | {strength} | {r['A_F_before']:.3f} | {r['A_F_after']:.3f} "
                       f"| {r['A_R_before']:.3f} | {r['A_R_after']:.3f} | {r['retain_drop']:+.2f} | {r['E_F']:.1f} "
                       f"| {r['seconds']:.3f} | {'met' if r['passed'] else 'missed'} |")
    return "\n".join(out) + "\n"
