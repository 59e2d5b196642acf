"""Plotly figures for the Compare page: time against forgetting quality, and time itself.

Inputs are plain rows (``unlearning.comparison.MethodRow`` or dicts with the same fields), never
models. The retrained model is the reference: dashed lines mark its values, since a method that
forgot should look like a model that never saw the data. Palette: Okabe-Ito, as ui/figures.py;
vermillion stays reserved for "forgotten", so it marks no method here.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearning.comparison import ONE_SHOT, REFERENCE, SHORT_LABELS

from . import theme
from .theme import ACCENT, AFTER, BEFORE, GUIDE, OCHRE, PERTURBED, RETRAINED, SKY, UNLISTED

FONTS = theme.COMPARE
# One colour and one marker per method (Okabe-Ito without vermillion, the light ones darkened until every
# trace has 3:1 contrast on the light and the dark background); the one-shot method is blue, and the
# retrained reference is reddish purple as on the audit page (it was black: invisible on the dark theme).
STYLE = {
    "mnemonic": (AFTER, "star"),
    "retrain": (RETRAINED, "diamond"),
    "finetune": (ACCENT, "circle"),
    "neggrad+": (OCHRE, "triangle-up"),
    "random-labels": (PERTURBED, "square"),
    "ssd": (SKY, "x"),
    "ssd-tuned": (BEFORE, "cross"),
}
LABELS = SHORT_LABELS  # the legends name each method as the registry does


def _get(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, Mapping) else getattr(row, key)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def tradeoff(rows: Sequence[Any]) -> go.Figure:
    """Three panels sharing a log time axis: A_F, A_R and the MIA score of each method.

    Down-left is better in the first panel, up-left in the second; in the third the retrained
    model's value (dashed) is the target, not zero.
    """
    panels = [("forget_accuracy", "A_F · forgotten classes (%)", "lower is better"),
              ("retain_accuracy", "A_R · remaining classes (%)", "higher is better"),
              ("mia", "MIA · forget samples called member (%)", "closest to retrain is best")]
    fig = make_subplots(rows=1, cols=3, shared_xaxes=True, horizontal_spacing=0.08,
                        subplot_titles=[f"{t}<br><sup>{hint}</sup>" for _, t, hint in panels])
    rows = [r for r in rows if _finite(_get(r, "seconds"))]
    ref = next((r for r in rows if _get(r, "method") == REFERENCE), None)
    for col, (key, _, _) in enumerate(panels, start=1):
        for r in rows:
            m = _get(r, "method")
            colour, symbol = STYLE.get(m, (UNLISTED, "circle"))
            value = _get(r, key)
            fig.add_scatter(
                x=[max(_get(r, "seconds"), 1e-5)], y=[100.0 * value if _finite(value) else None],
                mode="markers", marker={"color": colour, "symbol": symbol, "size": 20 if m == ONE_SHOT else 15,
                        "line": {"width": 1, "color": "#ffffff"}},
                name=LABELS.get(m, m), legendgroup=m, showlegend=col == 1,
                hovertemplate=f"{LABELS.get(m, m)}<br>%{{x:.3g}} s<br>%{{y:.1f}}%<extra></extra>",
                row=1, col=col)
        if ref is not None and _finite(_get(ref, key)):
            fig.add_hline(y=100.0 * _get(ref, key), line_dash="dash", line_color=STYLE[REFERENCE][0], opacity=0.9,
                          row=1, col=col)
    theme.compare_style(fig, "Time against forgetting: every method on the same model", 560)
    fig.update_annotations(font={"size": FONTS.base})
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
                      margin={"l": 70, "r": 30, "t": 160, "b": 120})
    if ref is not None:
        fig.update_layout(title_subtitle={"text": "dashed lines: the retrained model, which never saw the forgotten "
                                                  "classes", "font": {"size": FONTS.tick}})
    fig.update_xaxes(type="log", dtick=1, title="seconds (log scale)")  # decades only: no "5 1 2 5 10" minor labels
    fig.update_yaxes(range=[-5, 105])
    return fig


def speed(rows: Sequence[Any]) -> go.Figure:
    """Horizontal bars of seconds (log scale), each labelled with how many times the one-shot time it is."""
    rows = sorted((r for r in rows if _finite(_get(r, "seconds"))), key=lambda r: _get(r, "seconds"))
    one = next((_get(r, "seconds") for r in rows if _get(r, "method") == ONE_SHOT), None)
    labels, secs, colours, texts = [], [], [], []
    for r in rows:
        m, s = _get(r, "method"), _get(r, "seconds")
        labels.append(LABELS.get(m, m))
        secs.append(max(s, 1e-5))
        colours.append(STYLE.get(m, (UNLISTED, ""))[0])
        if one and m != ONE_SHOT:
            texts.append(f"{s:.3g} s · {s / one:,.0f}× the one-shot time")
        else:
            texts.append(f"{s:.3g} s")
    fig = go.Figure(go.Bar(x=secs, y=labels, orientation="h", marker_color=colours, text=texts,
                           textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.3g} s<extra></extra>"))
    theme.compare_style(fig, "Time to forget", 120 + 60 * max(len(rows), 1))
    fig.update_layout(margin={"l": 160, "r": 260, "t": 80, "b": 70}, showlegend=False)
    fig.update_xaxes(type="log", dtick=1, title="seconds (log scale)")  # decades only: no "5 1 2 5 10" minor labels
    return fig


def depth_vs_time(rows: Sequence[Any], original: float | None = None) -> go.Figure:
    """Forgetting depth against time: each method's 10-shot recoverability of the forgotten classes (rows
    with ``method``, ``seconds`` and ``probe_forget``, a fraction) on a log time axis. The retrained
    model's value (dashed) is the target; the original's (dotted) is what "nothing left the features" reads."""
    fig = go.Figure()
    rows = [r for r in rows if _finite(_get(r, "seconds")) and _finite(_get(r, "probe_forget"))]
    for r in rows:
        m = _get(r, "method")
        colour, symbol = STYLE.get(m, (UNLISTED, "circle"))
        fig.add_scatter(x=[max(_get(r, "seconds"), 1e-5)], y=[100.0 * _get(r, "probe_forget")], mode="markers",
                        marker={"color": colour, "symbol": symbol, "size": 20 if m == ONE_SHOT else 15,
                                "line": {"width": 1, "color": "#ffffff"}}, name=LABELS.get(m, m),
                        hovertemplate=f"{LABELS.get(m, m)}<br>%{{x:.3g}} s<br>%{{y:.1f}}% recovered<extra></extra>")
    ref = next((r for r in rows if _get(r, "method") == REFERENCE), None)
    if ref is not None:
        fig.add_hline(y=100.0 * _get(ref, "probe_forget"), line_dash="dash", line_color=STYLE[REFERENCE][0],
                      opacity=0.9, annotation_text="retrained", annotation_position="bottom right",
                      annotation_font_size=FONTS.tick)
    if original is not None and _finite(original):
        fig.add_hline(y=100.0 * original, line_dash="dot", line_color=GUIDE, opacity=0.7,
                      annotation_text="original (nothing left the features)", annotation_position="top right",
                      annotation_font_size=FONTS.tick)
    theme.compare_style(fig, "Forgetting depth against time: how much a 10-shot probe brings back", 500)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
                      margin={"l": 70, "r": 30, "t": 110, "b": 130},
                      title_subtitle={"text": "lower is deeper; the dashed line (retraining) is the target",
                                      "font": {"size": FONTS.tick}})
    fig.update_xaxes(type="log", dtick=1, title="seconds (log scale)")  # decades only: no "5 1 2 5 10" minor labels
    fig.update_yaxes(range=[-5, 105], title="recovered by a<br>10-shot probe (%)")  # short: the long one hit the subtitle
    return fig
