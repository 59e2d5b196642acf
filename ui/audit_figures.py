"""Plotly figures of the audit: original, unlearned and retrained model side by side.

Inputs are plain results (``unlearning.evaluation.audit`` and ``unlearning.evaluation.run_audit``
dataclasses), never models. Same
type sizes and Okabe-Ito palette as ui/figures.py; one colour per model everywhere (original grey,
unlearned blue, retrained reddish purple, each with its own dash and marker too), and vermillion
only for the forgotten classes.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearning.evaluation.audit import DepthProfile, ProbeResult, RelearnCurve

from . import theme
from .theme import AFTER, BEFORE, FORGOTTEN, GUIDE, RETRAINED, SKY, UNLISTED

FONTS = theme.RESULTS
MODEL_STYLE = {  # colour, dash, marker
    "original": (BEFORE, "dot", "circle"),
    "unlearned": (AFTER, "solid", "star"),
    "retrained": (RETRAINED, "dash", "diamond"),
}
LABELS = {"original": "original", "unlearned": "unlearned", "retrained": "retrained without the classes"}
PAIR_STYLE = {  # CKA pairs
    "unlearned vs original": (BEFORE, "dot", "circle"),
    "unlearned vs retrained": (RETRAINED, "dash", "diamond"),
    "retrained vs original": (SKY, "dashdot", "square"),
}


def _bottom_legend(fig: go.Figure, y: float = -0.22) -> None:
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": y, "xanchor": "left", "x": 0,
                              "font": {"size": FONTS.base}})


# Titles short enough for one line of a 1024 px projector with the sidebar open (the longer ones were cut).
RECOVERABILITY_TITLE = "Recoverability from k labelled images per class"
EMBEDDINGS_TITLE = "Embeddings: the same test images on one 2-D map"


def recoverability(shots: Mapping[str, Mapping[int, ProbeResult]]) -> go.Figure:
    """The k-shot probe's accuracy on the forgotten classes' test images as k grows, one line per model.

    Error bars: the spread over draws. A line at the original's height means the class is all
    there; at the retrained model's, that it is as gone as retraining makes it.
    """
    fig = go.Figure()
    ks = sorted({k for s in shots.values() for k in s})
    for name, by_k in shots.items():
        colour, dash, marker = MODEL_STYLE.get(name, (UNLISTED, "solid", "circle"))
        xs = sorted(by_k)
        fig.add_scatter(x=xs, y=[100 * by_k[k].forget_test for k in xs], name=LABELS.get(name, name),
                        mode="lines+markers", line={"color": colour, "dash": dash, "width": 4},
                        marker={"symbol": marker, "size": 14, "color": colour},
                        error_y={"type": "data", "array": [100 * by_k[k].spread_test for k in xs], "visible": True},
                        hovertemplate=f"{LABELS.get(name, name)}<br>k = %{{x}}<br>%{{y:.1f}}%<extra></extra>")
    theme.results_style(fig, RECOVERABILITY_TITLE, 470,
           margin={"l": 70, "r": 30, "t": 80, "b": 140})
    _bottom_legend(fig, -0.3)
    fig.update_xaxes(type="log", tickmode="array", tickvals=ks, ticktext=[str(k) for k in ks],
                     title_text="k: labelled images per forgotten class (log scale)")
    fig.update_yaxes(range=[0, 105], title_text="forgotten classes recovered (%)")
    return fig


DEPTH_TITLE = "Recoverability at every depth"  # short enough for a 1024x768 projector; the probe in the subtitle


def recoverability_by_depth(profile: DepthProfile, worst: str | None = None) -> go.Figure:
    """The 10-shot probe's accuracy on the forgotten classes' test images at every depth, input side
    left, one line per model (original, unlearned, retrained): where the unlearned line rises above the
    retrained one, the class is still there at that depth. ``worst``: the depth the verdict read, marked.

    Model colours, dashes and markers as every other audit chart; no fixed background, so the app's
    theme (light or the dark projector theme) shows through and the lines keep their contrast on both.
    """
    fig = go.Figure()
    xs = list(profile.stages)
    series = {"original": profile.original, "unlearned": profile.unlearned, "retrained": profile.retrained}
    for name, ys in series.items():
        if ys is None:
            continue
        colour, dash, marker = MODEL_STYLE[name]
        fig.add_scatter(x=xs, y=theme.percents(ys), name=LABELS[name], mode="lines+markers",
                        line={"color": colour, "dash": dash, "width": 4},
                        marker={"symbol": marker, "size": 16, "color": colour},
                        hovertemplate=f"{LABELS[name]}<br>%{{x}}<br>%{{y:.1f}}%<extra></extra>")
    if worst in xs:
        fig.add_vline(x=xs.index(worst), line={"color": FORGOTTEN, "width": 2, "dash": "dot"})
        fig.add_annotation(x=worst, y=104, text="worst depth", showarrow=False, yanchor="bottom",
                           font={"size": FONTS.tick, "color": FORGOTTEN})
    theme.results_style(fig, DEPTH_TITLE, 470, margin={"l": 70, "r": 30, "t": 110, "b": 140})
    fig.update_layout(title_subtitle={"text": "a linear probe given 10 labelled images per forgotten class",
                                      "font": {"size": FONTS.tick}})
    _bottom_legend(fig, -0.3)
    fig.update_xaxes(type="category", title_text="depth (input side → output side)")
    fig.update_yaxes(range=[0, 112], title_text="forgotten classes recovered (%)")
    return fig


def relearning(curves: Mapping[str, RelearnCurve]) -> go.Figure:
    """Forgotten-class test accuracy against fine-tuning steps, one line per model; dotted lines at 50 % and
    90 % of the original's accuracy, and each model's step to reach them marked on its line."""
    fig = go.Figure()
    target = next((c.target for c in curves.values()), float("nan"))
    for level in (0.5, 0.9):
        if math.isfinite(target):
            fig.add_hline(y=100 * level * target, line_dash="dot", line_color=GUIDE, opacity=0.7,
                          annotation_text=f"{level:.0%} of the original", annotation_position="bottom right",
                          annotation_font_size=FONTS.tick)
    for name, c in curves.items():
        colour, dash, marker = MODEL_STYLE.get(name, (UNLISTED, "solid", "circle"))
        label = LABELS.get(name, name)
        fig.add_scatter(x=list(c.steps), y=[100 * a for a in c.forget_accuracy], name=label, mode="lines",
                        line={"color": colour, "dash": dash, "width": 4}, legendgroup=name,
                        hovertemplate=f"{label}<br>step %{{x}}<br>%{{y:.1f}}%<extra></extra>")
        for level, step in ((0.5, c.steps_to_50), (0.9, c.steps_to_90)):
            if step is None:
                continue
            y = 100 * c.forget_accuracy[list(c.steps).index(step)]
            fig.add_scatter(x=[step], y=[y], mode="markers+text", showlegend=False, legendgroup=name,
                            marker={"symbol": marker, "size": 16, "color": colour, "line": {"width": 1, "color": "#fff"}},
                            text=[f"{step}"], textposition="middle right", textfont={"size": FONTS.tick, "color": colour},
                            hovertemplate=f"{label}: {level:.0%} of the original after {step} steps<extra></extra>")
    s = next(iter(curves.values())).settings if curves else None
    theme.results_style(fig, "Relearning: forgotten classes' test accuracy while fine-tuning", 500,
           margin={"l": 70, "r": 30, "t": 110, "b": 140})
    if s is not None:
        fig.update_layout(title_subtitle={"text": f"SGD lr {s.lr:g}, {s.forget_per_class} images per forgotten class and "
                                                  f"{s.retain_per_class} per kept class; marked: steps to 50 % and 90 %",
                                          "font": {"size": FONTS.tick}})
    _bottom_legend(fig, -0.3)
    fig.update_xaxes(title_text="fine-tuning steps", rangemode="tozero")
    fig.update_yaxes(range=[0, 105], title_text="forgotten classes' test accuracy (%)")
    return fig


def _label_box(name: str, size: int) -> tuple[float, float]:
    """A bold label's width and height in pixels, estimated (0.62 em per character, a little padding)."""
    return 0.62 * size * len(name) + 8, 1.3 * size


def map_labels(centres: Sequence[tuple[float, float]], names: Sequence[str], first: Sequence[bool],
               span: tuple[float, float, float, float], panel_px: tuple[float, float], size: int) -> list[bool]:
    """Which class names an embedding panel can show without two of them overlapping.

    Labels at class centres collided at 1024x768 (ten names in a 250 px panel). The ``first`` ones (the
    forgotten classes, the story of the map) are placed first, then the others in order; a label that would
    touch one already placed is left to the hover. ``span`` is the panel's x0, x1, y0, y1 in data units,
    ``panel_px`` its estimated width and height in pixels.
    """
    x0, x1, y0, y1 = span
    w, h = panel_px
    placed: list[tuple[float, float, float, float]] = []
    keep = [False] * len(names)
    for i in sorted(range(len(names)), key=lambda k: not first[k]):
        bw, bh = _label_box(names[i], size)
        cx = (centres[i][0] - x0) / max(x1 - x0, 1e-12) * w
        cy = (centres[i][1] - y0) / max(y1 - y0, 1e-12) * h
        box = (cx - bw / 2, cx + bw / 2, cy - bh / 2, cy + bh / 2)
        if box[0] < 0 or box[1] > w or any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3]
                                           for b in placed):
            continue
        placed.append(box)
        keep[i] = True
    return keep


EMBEDDING_PANEL_PX = (240.0, 300.0)  # one of three panels at 1024x768 with the sidebar open (the tightest case)


def embeddings(points: Mapping[str, np.ndarray], labels: np.ndarray, class_names: Sequence[str],
               forget: Sequence[int], explained: float | None = None) -> go.Figure:
    """One panel per model, the same 2-D map in each: forgotten classes in vermillion, the others in grey
    with their names at their centres where they fit (:func:`map_labels`; every point names its class on hover)."""
    names = list(points)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[LABELS.get(n, n) for n in names],
                        horizontal_spacing=0.04, shared_xaxes=True, shared_yaxes=True)
    f = set(int(c) for c in forget)
    labels = np.asarray(labels)
    is_f = np.isin(labels, list(f))
    every = np.concatenate([np.asarray(points[n]) for n in names]) if names else np.zeros((1, 2))
    lo, hi = every.min(axis=0), every.max(axis=0)
    pad = 0.05 * (hi - lo)  # Plotly's autorange leaves about this much around the points
    span = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    panel_px = (EMBEDDING_PANEL_PX[0] * 3 / max(len(names), 3), EMBEDDING_PANEL_PX[1])
    for col, name in enumerate(names, start=1):
        xy = np.asarray(points[name])
        for group, mask, colour, size in (("kept classes", ~is_f, BEFORE, 7), ("forgotten", is_f, FORGOTTEN, 9)):
            fig.add_scatter(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=group, legendgroup=group,
                            showlegend=col == 1, marker={"color": colour, "size": size, "opacity": 0.75},
                            customdata=[class_names[int(c)] for c in labels[mask]],
                            hovertemplate="%{customdata}<extra></extra>", row=1, col=col)
        classes = [int(c) for c in np.unique(labels)]
        centres = [tuple(np.median(xy[labels == c], axis=0)) for c in classes]
        shown = map_labels(centres, [class_names[c] for c in classes], [c in f for c in classes], span, panel_px,
                           FONTS.tick)
        for c, (cx, cy), show in zip(classes, centres, shown):
            if show:
                fig.add_annotation(x=cx, y=cy, text=f"<b>{class_names[c]}</b>", showarrow=False,
                                   font={"size": FONTS.tick, "color": FORGOTTEN if c in f else "#444444"},
                                   bgcolor="rgba(255,255,255,0.7)", row=1, col=col)
    theme.results_style(fig, EMBEDDINGS_TITLE, 560,
           margin={"l": 40, "r": 20, "t": 140, "b": 90})
    # the title from the top (its default sits mid-margin, and the two-line subtitle then hit the panel titles)
    fig.update_layout(title={"y": 0.98, "yref": "container", "yanchor": "top"})
    if explained is not None:
        fig.update_layout(title_subtitle={"text": f"penultimate features, each model rotated onto the original's "
                                                  f"(kept classes only),<br>then one PCA; the axes hold "
                                                  f"{explained:.0%} of the original's variance", "font": {"size": FONTS.tick}})
    _bottom_legend(fig, -0.05)
    fig.update_xaxes(showticklabels=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, zeroline=False)
    fig.update_annotations(selector={"xref": "paper"}, font_size=FONTS.base)  # the panel titles; class names stay smaller
    return fig


def _cka_name(layer: str) -> str:
    """A layer's name as the CKA axis shows it: "net.layer2.0" is "block2" (one block per stage in the zoo's
    ResNets), the other names as ``theme.short_layer`` gives them; the full name is in the hover."""
    return re.sub(r"^layer(\d+)\.0$", r"block\1", theme.short_layer(layer))


def layer_similarity(cka: Mapping[str, Mapping[str, Mapping[str, float]]]) -> go.Figure:
    """Linear CKA per layer (1 = the same representation up to rotation), on the forgotten and on the
    retained classes' test images; one line per pair of models."""
    groups = ("forgotten", "retained")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=[f"on the {g} classes' images" for g in groups])
    for col, group in enumerate(groups, start=1):
        for pair, by_group in cka.items():
            layers = list(by_group.get(group, {}))
            colour, dash, marker = PAIR_STYLE.get(pair, (UNLISTED, "solid", "circle"))
            fig.add_scatter(x=[_cka_name(n) for n in layers], y=[by_group[group][n] for n in layers], name=pair,
                            customdata=layers,
                            legendgroup=pair, showlegend=col == 1, mode="lines+markers",
                            line={"color": colour, "dash": dash, "width": 4},
                            marker={"symbol": marker, "size": 12, "color": colour},
                            hovertemplate=f"{pair}<br>%{{customdata}}: CKA %{{y:.3f}}<extra></extra>", row=1, col=col)
    theme.results_style(fig, "Layer by layer: how similar the representations are (linear CKA)", 560,
           margin={"l": 70, "r": 30, "t": 80, "b": 240})
    _bottom_legend(fig, -0.55)  # below the upright layer names
    fig.update_yaxes(range=[0, 1.05], title_text="linear CKA", row=1, col=1)
    fig.update_xaxes(tickangle=-90)  # upright names never touch (at -30 seven names crowded a 1024 px panel)
    fig.update_annotations(font_size=FONTS.base)
    return fig


def membership(values: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Both attacks per model (percent): ``values[model] = {"entropy MIA": x, "SVC MIA": y}``, as
    ``unlearning`` reports them: x the share of forget-class training images the entropy attack calls
    members, y the share the SVC attack calls non-members ("MIA efficacy").

    Both bars count the same way here, images called members (lower = more forgotten): the chart used
    to put x next to y, two counts that move in opposite directions. The retrained model's bars are the target.
    """
    attacks = (("entropy MIA", "entropy attack", lambda v: v), ("SVC MIA", "confidence (SVC) attack", lambda v: 1 - v))
    fig = go.Figure()
    for name, by_attack in values.items():
        colour, _, _ = MODEL_STYLE.get(name, (UNLISTED, "solid", "circle"))
        ys = [100 * members(by_attack[a]) if math.isfinite(by_attack[a]) else None for a, _, members in attacks]
        fig.add_bar(x=[label for _, label, _ in attacks], y=ys, name=LABELS.get(name, name), marker_color=colour,
                    marker_pattern_shape={"retrained": "/", "original": "."}.get(name, ""),
                    text=[f"{y:.0f}" if y is not None else "" for y in ys], textposition="outside", cliponaxis=False,
                    hovertemplate=f"{LABELS.get(name, name)}<br>%{{y:.1f}}% called members<extra></extra>")
    theme.results_style(fig, "Membership inference on the forgotten classes' training images", 440, barmode="group",
           margin={"l": 70, "r": 30, "t": 80, "b": 130})
    _bottom_legend(fig, -0.3)
    fig.update_yaxes(range=[0, 112], title_text="called members (% of forget-class<br>training images)")
    return fig
