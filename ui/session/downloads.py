"""What a run's download buttons make: each file is made on click, in the download thread, once per state of
the run (a report made before the depth check or the audit page's figures is made again after them).

Each function returns the callable ``st.download_button`` takes; it reads ``run.view`` when called, so a
button drawn before the depth check still gives the file with the depth check in it.
"""
from __future__ import annotations

from collections.abc import Callable

from unlearning.evaluation.metrics import Evaluation

from .. import card, exports, report
from . import audit_state, state


def _once(run: state.Run, key: str, make: Callable[[], bytes]) -> bytes:
    if key not in run.downloads:
        run.downloads[key] = make()
    return run.downloads[key]


def model_file(run: state.Run) -> Callable[[], bytes]:
    """The unlearned model as a safetensors checkpoint."""
    return lambda: _once(run, "model", lambda: exports.model_bytes(run.checkpoint, run.view.outcome))


def report_file(run: state.Run, path: str, reference: Evaluation | None) -> Callable[[], str]:
    """The self-contained HTML report, with whatever the audit page has computed for this run by then."""
    store = audit_state.run_store(run)  # the audit page adds to it later; read at click time
    ref_file = audit_state.reference_path(path, run.view.forget)

    def make() -> str:
        view = run.view
        key = f"report:{'instant' in store}:{len(store.get('costly', {}))}:{view.outcome.depth is None}"
        return _once(run, key, lambda: report.build_report(
            view, reference=reference, instant=store.get("instant"), costly=store.get("costly"),
            reference_name=None if ref_file is None else ref_file.name,
            card_facts=audit_state.card_facts(run, path)).encode("utf-8")).decode("utf-8")
    return make


def card_file(run: state.Run, path: str) -> Callable[[], str]:
    """The one-page unlearning card."""
    def make() -> str:
        key = f"card:{run.view.outcome.depth is None}"
        return _once(run, key, lambda: card.card_document(run.view, audit_state.card_facts(run, path)).encode("utf-8")
                     ).decode("utf-8")
    return make
