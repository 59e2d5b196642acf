"""The Compare page's table: one row per method, in percent, and the same rows as a CSV download.

Pure functions on ``comparison.MethodRow`` and ``run_audit.MethodAudit`` (no Streamlit); the page draws the
table with its column headings and help.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from unlearning import comparison


def percent(x: float | None) -> float | None:
    """A fraction as a percentage with one decimal; None for a missing or non-finite value."""
    return None if x is None or not math.isfinite(x) else round(100.0 * x, 1)


def label(row: comparison.MethodRow) -> str:
    """The method's name as the table shows it, with the one-shot row's mode."""
    return f"{comparison.LABELS[row.method]} · {row.mode}" if row.mode else comparison.LABELS[row.method]


def table_rows(rows: Sequence[comparison.MethodRow], one: comparison.MethodRow | None,
               audits: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dict per method: its time (and how many times the one-shot method's), accuracies, attacks and,
    where the method was audited, the 10-shot probe, the relearning steps and the SVC attack."""
    return [{
        "method": label(r),
        "seconds": r.seconds,
        "× one-shot": (r.seconds / one.seconds) if one is not None and one.seconds > 0 else None,
        "A_F %": percent(r.forget_accuracy),
        "A_R %": percent(r.retain_accuracy),
        "MIA %": percent(r.mia),
        "attack acc. %": percent(r.attack_accuracy),
        "10-shot probe %": percent(audits[r.method].probe_forget) if r.method in audits else None,
        "relearn steps to 50 %": audits[r.method].relearn_steps_50 if r.method in audits else None,
        "SVC MIA %": percent(1 - audits[r.method].mia_svc) if r.method in audits else None,  # called members, as MIA %
    } for r in rows]


def table_csv(rows: list[dict[str, Any]], model_id: str, forget_names: Sequence[str], device: str) -> str:
    """The table as CSV, with the model, the forgotten classes and the device in every row."""
    out = io.StringIO()
    extra = {"model": model_id, "forget_classes": " ".join(forget_names), "device": device}
    w = csv.DictWriter(out, fieldnames=[*extra, *rows[0]], lineterminator="\n")
    w.writeheader()
    w.writerows({**extra, **{k: ("" if v is None else v) for k, v in r.items()}} for r in rows)
    return out.getvalue()
