"""Small Streamlit pieces the pages draw: charts, the verdict, the metric cards, a computation that stops the
page with a message when it fails, and the guided tour's steps."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from unlearning import tour

from . import audit_text, formatting, run_view
from .plain import plain

CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


LIGHT_CHART_TEXT = "#43464D"  # 9.6:1 on white; Streamlit's own light chart grey had 3.7:1 (WCAG text: 4.5:1)


def chart(fig: go.Figure, key: str) -> None:
    """A Plotly figure in the app's theme, full width, with a PNG export at projector resolution. On the
    light theme the axis, legend and title text is darkened: Streamlit's grey fails WCAG's 4.5:1 on white
    (the dark theme's passes, and no one grey passes on both)."""
    if getattr(st.context.theme, "type", None) == "light":
        fig = go.Figure(fig)  # a copy: the caller's figure may be reused (the report)
        fig.update_layout(font_color=LIGHT_CHART_TEXT, legend_font_color=LIGHT_CHART_TEXT)
        fig.update_xaxes(tickfont_color=LIGHT_CHART_TEXT, title_font_color=LIGHT_CHART_TEXT)
        fig.update_yaxes(tickfont_color=LIGHT_CHART_TEXT, title_font_color=LIGHT_CHART_TEXT)
    st.plotly_chart(fig, width="stretch", theme="streamlit", config=CHART_CONFIG, key=key)


def verdict_banner(view: run_view.RunView) -> None:
    """The plain verdict: the depth (not forgotten / hidden / forgotten) first, then the outputs; green,
    amber or red as :func:`audit_text.verdict_tone` says, plus any note from the backend."""
    v, d = view.outcome.verdict, view.outcome.depth
    tone = audit_text.verdict_tone(view.outcome)
    if d is None:
        text = f"{v.message}\n\nWhether the class left the features or is only hidden was not measured."
    else:
        text = f"{audit_text.titled(d.verdict.level, d.verdict.message)}\n\nOutputs: {v.message}"
        if d.probe_retrained is None:
            text += " No retrained reference is at hand for these classes: the audit page can train one."
    show = {"ok": (st.success, ":material/check_circle:"), "warn": (st.warning, ":material/warning:"),
            "bad": (st.error, ":material/error:")}[tone]
    show[0](text, icon=show[1])
    for note in view.outcome.all_notes:  # the method's and the pipeline's: device fallbacks and retries belong here: visible, not alarming
        st.info(note, icon=":material/info:")


def pending_banner(view: run_view.RunView) -> None:
    """While the depth check runs: the outputs' verdict at once, in a neutral box (not green: the outputs
    alone cannot say whether the class left the features), and that the depth is being checked."""
    st.info(f"Outputs: {view.outcome.verdict.message}\n\nChecking whether the class left the features or is "
            f"only hidden…", icon=":material/hourglass_top:")


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}%"


def _delta(after: float | None, before: float | None) -> str | None:
    if after is None or before is None:
        return None
    return f"{after - before:+.1f} points"


def delta_colours(view: run_view.RunView) -> tuple[str, str]:
    """delta_color for the A_F and A_R cards. Green means success, so a change only turns green when the
    verdict agrees: A_F falling in a run that did not forget is grey, not green (and A_R likewise)."""
    v = view.outcome.verdict
    return ("inverse" if v.forgot else "off"), ("normal" if v.kept else "off")


def metric_cards(view: run_view.RunView, retrain_seconds: float | None = None) -> None:
    """A_F, A_R (after, with the change from before), E_F and the time, as four large cards that wrap
    two by two on a narrow screen rather than cutting their numbers. ``retrain_seconds``: the retrained
    reference's recorded training time, shown under the time (a speed means little without it)."""
    s = run_view.summary(view)
    sec = view.outcome.result.seconds
    af_colour, ar_colour = delta_colours(view)
    with st.container(horizontal=True, gap="small", key="metric_cards"):
        st.metric("A_F · forgotten classes", _fmt(s["A_F_after"]), _delta(s["A_F_after"], s["A_F_before"]),
                  delta_color=af_colour, border=True, width=155,
                  help="Test accuracy on the forgotten classes after forgetting (lower is better); "
                       f"before: {_fmt(s['A_F_before'])}.")
        st.metric("A_R · remaining classes", _fmt(s["A_R_after"]), _delta(s["A_R_after"], s["A_R_before"]),
                  delta_color=ar_colour, border=True, width=155,
                  help="Test accuracy on the classes that should be kept (higher is better); "
                       f"before: {_fmt(s['A_R_before'])}.")
        st.metric("E_F · accuracy removed", _fmt(s["E_F"]), border=True, width=155,
                  help="Share of the forgotten classes' accuracy that was removed; 100% means all of it.")
        parts = " + ".join(f"{k} {formatting.seconds_text(v)}" for k, v in sec.items() if k != "total")
        retrain = None if retrain_seconds is None else "retrain " + (  # short: the badge is 155 px wide
            f"{retrain_seconds / 60:.0f} min" if retrain_seconds >= 120 else formatting.seconds_text(retrain_seconds))
        st.metric("Time to forget", formatting.seconds_text(sec["total"]), retrain, delta_color="off",
                  delta_arrow="off", border=True, width=155,
                  help=f"{parts or 'total'} on {view.outcome.result.device}. Evaluation not included."
                       + ("" if retrain is None else " Retraining: the time recorded when the shipped model "
                                                     "retrained without these classes was made (another "
                                                     "machine's load, so compare orders of magnitude)."))


def computed(fn: Callable[[], Any], what: str, failed: str) -> Any:
    """``fn()`` inside a spinner saying ``what``; a failure is a message (``failed``: its first line) and a stop,
    never a traceback."""
    try:
        with st.spinner(what):
            return fn()
    except Exception as e:  # noqa: BLE001 - the page boundary
        st.error(f"{failed}: {plain(str(e).strip().splitlines()[0][:300] if str(e).strip() else repr(e))}")
        st.stop()


def tour_step(number: int, key: str, heading: str, text: str, fig: go.Figure, curious: str | None = None) -> None:
    """One step of the guided tour: plain words first, the formula (``curious``) folded away, then the figure."""
    st.subheader(f"{number}. {heading}", divider="gray")
    st.markdown(text)
    if curious:
        with st.expander("For the curious: the formula"):
            st.markdown(curious)
    chart(fig, key=f"tour_{key}")


def show_code(key: str) -> None:
    """The backend functions behind a tour step, folded away: their qualified names and source."""
    with st.expander("Show the code"):
        for fn in tour.STEP_FUNCTIONS[key]:
            st.markdown(f"`{fn.__module__}.{fn.__qualname__}`")
            st.code(tour.source(fn), language="python")
