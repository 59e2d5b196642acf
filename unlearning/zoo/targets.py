"""The targets the default mode must meet on every shipped model, and the table figures they are about:
one summary per model and mode, whether a row passes, and the default model the summaries pick."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Targets the default mode must meet on every shipped model (issue 4), on the real test split.
SINGLE_FORGET_MAX = 0.02  # each single class: A_F at most 2 %
SINGLE_DROP_MAX = 3.0  # ... and the remaining classes lose at most 3 points on average over the ten
SET_FORGET_MAX = 0.05  # each 2- and 5-class set: A_F at most 5 %
SET_DROP_MAX = 5.0  # ... and a retain drop of at most 5 points


@dataclass(frozen=True)
class TableSummary:
    """One model and mode over the whole table: the figures the targets are about."""

    model: str
    mode: str
    singles_max_forget: float
    singles_mean_drop: float
    sets_max_forget: float
    sets_max_drop: float
    mean_retain_after: float
    max_seconds: float
    rows: int
    failed: tuple[str, ...] = field(default_factory=tuple)  # the class sets that missed their target

    @property
    def meets_targets(self) -> bool:
        return (self.rows > 0 and not self.failed and self.singles_max_forget <= SINGLE_FORGET_MAX
                and self.singles_mean_drop <= SINGLE_DROP_MAX and self.sets_max_forget <= SET_FORGET_MAX
                and self.sets_max_drop <= SET_DROP_MAX)


def summarise(rows: Sequence[dict[str, Any]]) -> TableSummary:
    """The target figures of one model's rows in one mode."""
    if not rows:
        raise ValueError("no rows to summarise")
    singles = [r for r in rows if r["set"] == "single"]
    sets = [r for r in rows if r["set"] != "single"]

    def mean(xs):
        xs = list(xs)
        return sum(xs) / len(xs) if xs else float("nan")

    return TableSummary(
        model=rows[0]["model"], mode=rows[0]["mode"],
        singles_max_forget=max((r["A_F_after"] for r in singles), default=float("nan")),
        singles_mean_drop=mean(r["retain_drop"] for r in singles),
        sets_max_forget=max((r["A_F_after"] for r in sets), default=float("nan")),
        sets_max_drop=max((r["retain_drop"] for r in sets), default=float("nan")),
        mean_retain_after=mean(r["A_R_after"] for r in rows),
        max_seconds=max(r["seconds"] for r in rows), rows=len(rows),
        failed=tuple(r["classes"] for r in rows if not r["passed"]))


def row_passes(set_kind: str, forget_after: float, drop_points: float) -> bool:
    """A single class: A_F <= 2 % and drop <= 3 points; a 2- or 5-class set: A_F <= 5 %, drop <= 5 points."""
    if set_kind == "single":
        return forget_after <= SINGLE_FORGET_MAX and drop_points <= SINGLE_DROP_MAX
    return forget_after <= SET_FORGET_MAX and drop_points <= SET_DROP_MAX


def pick_default(summaries: Sequence[TableSummary]) -> str:
    """The model with the best table in the app's default mode: it meets every target, then the
    highest mean retained accuracy after forgetting, then the smallest worst-case A_F."""
    if not summaries:
        raise ValueError("no table to pick a default from")
    best = max(summaries, key=lambda s: (s.meets_targets, s.mean_retain_after, -max(s.singles_max_forget,
                                                                                     s.sets_max_forget)))
    return best.model


def summaries(rows: Sequence[dict[str, Any]]) -> list[TableSummary]:
    """One summary per (model, mode), in the rows' order."""
    keys = list(dict.fromkeys((r["model"], r["mode"]) for r in rows))
    return [summarise([r for r in rows if (r["model"], r["mode"]) == k]) for k in keys]
