"""The audit in the app's words: the depth verdict's title, its rule, the Anamnesis Index in a sentence, the
banner's colour, and the summary table's rows. Wording only; the numbers come from
``unlearning.evaluation.run_audit`` and ``unlearning.evaluation.audit``. No Streamlit: the report uses it too.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from unlearning.evaluation import audit
from unlearning.evaluation.run_audit import CostlyFacts, InstantAudit

DEPTH_TITLES = {"forgotten": "Forgotten", "hidden": "Hidden, not gone", "partly forgotten": "Partly forgotten",
                "not forgotten": "Not forgotten", "unknown depth": "Depth unknown",
                "never recognised": "Nothing to forget"}


def titled(level: str, message: str) -> str:
    """Markdown for a depth verdict with its title in bold, once: the backend's messages already open
    with it ("Hidden, not gone: ..."), and a banner that added it again read "Hidden, not gone. Hidden, not gone:"."""
    title = DEPTH_TITLES.get(level, level)
    if message.lower().startswith(title.lower()):
        return f"**{message[:len(title)]}**{message[len(title):]}"
    return f"**{title}.** {message}"


def depth_rule(th: Mapping[str, float]) -> str:
    """The verdict's rule in words, from the thresholds it used (the page and the report say it the same way)."""
    return (f"Rule: the outputs must recognise at most {th.get('outputs_at_most', 0):.0%} of the forgotten classes' "
            f"test images; *forgotten* means that at every depth the 10-shot probe recovers at most "
            f"{th.get('margin', 0):.0%} more than from the retrained model, and that relearning takes at least "
            f"{th.get('anamnesis_at_least', 0):.1f} times the retrained model's steps to 50 % of the original's "
            f"accuracy (the Anamnesis Index); *hidden* means the features are unchanged or, at the worst depth, less "
            f"than {th.get('hidden_share', 0):.0%} of the way from the original to retraining. Probes are fitted on "
            f"training features, read on test images.")


def anamnesis_text(a: "audit.Anamnesis | None") -> str:
    """The Anamnesis Index with the step counts behind it, in one sentence (page and report)."""
    if a is None or a.index is None:
        return "The Anamnesis Index needs a retrained reference (and relearning that did not start at 50 %)."
    steps = lambda n: str(n) if n is not None else f"more than {a.max_steps}"  # noqa: E731
    return (f"Anamnesis Index {a.index:.2f}: relearning to 50 % of the original's accuracy took "
            f"{steps(a.unlearned_steps)} steps, against {steps(a.retrained_steps)} for the retrained model.")


def verdict_tone(outcome) -> str:
    """"ok", "warn" or "bad" for a ForgetOutcome: green only when the class left the features as deep as
    retraining and the rest was kept; amber for hidden, partly forgotten, unknown depth or a cost to the
    rest; red when the outputs still recognise it. Without a depth check (not run, or not possible) never
    green: a result that is only hidden must not look like success."""
    v, d = outcome.verdict, outcome.depth
    if not v.forgot or (d is not None and d.verdict.level == "not forgotten"):
        return "bad"
    if d is not None and d.verdict.success and v.kept:
        return "ok"
    return "warn"


def summary_rows(instant: InstantAudit, costly: Mapping[str, CostlyFacts] | None = None) -> list[dict]:
    """One row per model: the figures behind the verdict, as the page's table and the report show them."""
    rows = []
    for name, f in instant.facts.items():
        c = (costly or {}).get(name)
        row = {"model": name, "A_F %": _pct(f.forget_accuracy)}
        for k, p in sorted({**f.shots, **(c.shots if c else {})}.items()):
            row[f"{k}-shot probe %"] = _pct(p.forget_test)
        row["entropy MIA: members %"] = _pct(f.mia_entropy)  # both attacks counted the same way (the chart's)
        row["SVC MIA: members %"] = _pct(1 - f.mia_svc)
        if c is not None:
            row["relearn steps to 50 %"] = c.relearn.steps_to_50
            row["relearn steps to 90 %"] = c.relearn.steps_to_90
        rows.append(row)
    # A table must never show a raw "None": a figure not measured yet reads "–", one never reached says so.
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for row in rows:
        for k in columns:
            if k not in row:
                row[k] = "–"
            elif row[k] is None:
                row[k] = "not reached" if k.startswith("relearn") else "–"
    return rows


def _pct(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(100.0 * float(x), 1)


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def summary_by_measure(rows: list[dict]) -> list[dict[str, str]]:
    """``summary_rows`` turned on its side: one row per measure, one column per model (ten measures side by side
    were cut at 1024 px, three models are not); the figures unchanged, as text."""
    return [{"measure": m, **{r["model"]: _cell(r[m]) for r in rows}} for m in (rows[0] if rows else {}) if m != "model"]
