"""Compare's runs: every method on the same model and classes, each in its own status box, and the results
kept in the session for one (model, classes, device).

Stop works by Streamlit's rerun: the Stop button's click interrupts the script at the method's next
progress report, and nothing of the stopped method is kept.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import streamlit as st

from unlearning.evaluation import audit
from unlearning import comparison
from unlearning.data import Splits

from unlearning.evaluation import run_audit
from . import formatting
from .session import audit_state, state

RESULTS_KEY = "compare_results"
ADOPTED_KEY = "_compare_adopted"


def start_from_last_run(path: str, classes_key: str) -> None:
    """After a new forgetting run on this model, Compare starts from that run's classes (once per run)."""
    last = st.session_state.get(state.RUN_KEY)
    if last is not None and last.matches(path) and st.session_state.get(ADOPTED_KEY) is not last:
        st.session_state[ADOPTED_KEY] = last
        st.session_state[classes_key] = list(last.view.forget_names)


def results_for(path: str, classes: Sequence[int], device: str) -> dict[str, Any]:
    """This session's results for one (model, classes, device): ``rows`` and ``audit`` by method. Choosing
    anything else starts a fresh comparison; the one-shot mode is kept with its row, so changing it only asks
    for that row again."""
    key = (state.file_stamp(path), tuple(classes), device)
    results = st.session_state.get(RESULTS_KEY)
    if results is None or results["key"] != key:
        results = {"key": key, "rows": {}, "audit": {}}
        st.session_state[RESULTS_KEY] = results
    results.setdefault("audit", {})
    return results


def run_methods(methods: list[str], path: str, splits: Splits, classes: list[int], device: str, mode: str,
                results: dict[str, Any]) -> None:
    """Run each method in its own open status box with a progress bar, the time left and a Stop button,
    then measure and audit its model into ``results``; a failure is shown, the rest go on."""
    rows: dict[str, comparison.MethodRow] = results["rows"]
    audits: dict[str, run_audit.MethodAudit] = results["audit"]
    mine = state.session_checkpoint(path, device)
    for method in methods:
        label = comparison.LABELS[method]
        with st.status(f"{label}…", expanded=True) as status:
            bar = st.progress(0.0, text=f"{label}: starting")
            st.button("Stop", icon=":material/stop:", key=f"compare_stop_{method}",
                      help="Stops this method now; the rows already measured stay.")
            started = time.perf_counter()

            def progress(fraction: float, message: str, bar=bar, started=started) -> None:
                f = min(max(float(fraction), 0.0), 1.0)
                spent = time.perf_counter() - started
                left = f" · about {formatting.seconds_text(spent * (1 - f) / f)} left" if 0.05 <= f < 1 else ""
                bar.progress(f, text=f"{message}{left}")

            try:
                result = comparison.run(method, mine, splits, classes, device=device, progress=progress, mode=mode)
                bar.progress(0.9, text=f"{label}: measuring on test images and attacking")
                row = comparison.measure(result, splits, device=device, method=method)
                bar.progress(0.95, text=f"{label}: auditing (10-shot probe, relearning, SVC attack)")
                target = state.shared_before(path, device).forget_accuracy(classes)
                audits[method] = run_audit.method_audit(result.model, splits, classes, target, device=device)
            except (ValueError, RuntimeError) as e:
                status.update(label=f"{label} failed", state="error", expanded=True)
                st.error(str(e).strip().splitlines()[0][:400] if str(e).strip() else type(e).__name__)
                continue
            status.update(label=f"{label}: {formatting.seconds_text(row.seconds)}", state="complete",
                          expanded=False)
        rows[method] = row


def original_probe(results: dict[str, Any], path: str, device: str, classes: list[int]) -> float:
    """The original model's 10-shot recoverability of the classes (the depth chart's dotted line), once per
    comparison."""
    if "original_probe" not in results:
        results["original_probe"] = audit.probe(audit_state.original_features(path, device), classes).forget_test
    return results["original_probe"]
