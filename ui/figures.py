"""Plotly figures from backend results: one function per view, no Streamlit, no raw parameter arrays.

Readable on a projector (large type) and for colour-blind viewers (Okabe-Ito palette). One colour
means one thing everywhere: FORGOTTEN marks the forgotten classes, BEFORE the original model, AFTER
the kept classes after forgetting, PERTURBED the parameters the method moved. Figures carry no
background or template of their own, so the app's light and dark themes both apply to them; the
HTML report styles them with :func:`for_print`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import theme
from .theme import ACCENT, AFTER, BEFORE, FORGOTTEN, PERTURBED, RETRAINED, SEQUENTIAL

FONTS = theme.RESULTS
GALLERY_PX = 112  # images are upscaled with nearest-neighbour so pixels stay crisp


def _class_ticks(class_names: Sequence[str], forget: Sequence[int]) -> list[str]:
    """Axis labels with the forgotten classes in bold vermillion."""
    f = set(forget)
    return [f"<b><span style='color:{FORGOTTEN}'>{n}</span></b>" if i in f else str(n)
            for i, n in enumerate(class_names)]


def per_class_accuracy(class_names: Sequence[str], before: Sequence[float], after: Sequence[float],
                       forget: Sequence[int], retrained: Sequence[float] | None = None) -> go.Figure:
    """Grouped bars, before next to after, test accuracy per class in percent; forgotten classes shaded.

    With ``retrained`` (the model retrained without the forgotten classes) a third bar per class
    shows the reference the "after" bars should look like.

    ``before`` and ``after`` are fractions in [0, 1] (an Evaluation's per_class_accuracy). Use
    :func:`after_values` to read the "after" bars back as one list.
    """
    f = set(forget)
    x = list(range(len(class_names)))
    fig = go.Figure()
    show_text = len(class_names) <= 12
    b, a = theme.percents(before), theme.percents(after)
    # Only the "after" bars carry their number: two numbers side by side ran together ("9999") at 1024 px.
    fig.add_bar(name="before", x=x, y=b, marker_color=BEFORE, offsetgroup="before",
                hovertemplate="class %{customdata}<br>before: %{y:.1f}%<extra></extra>", customdata=list(class_names))
    # "after" is two traces in one bar slot (offsetgroup): kept classes in blue, forgotten in vermillion,
    # so the legend names both colours.
    for name, colour, keep in (("after", AFTER, lambda i: i not in f), ("after · forgotten", FORGOTTEN, lambda i: i in f)):
        ys = [v if keep(i) else None for i, v in enumerate(a)]
        fig.add_bar(name=name, x=x, y=ys, marker_color=colour, offsetgroup="after",
                    text=[f"{v:.0f}" if v is not None else "" for v in ys] if show_text else None,
                    textposition="outside", cliponaxis=False, customdata=list(class_names),
                    textfont={"size": FONTS.tick}, constraintext="none",
                    hovertemplate="class %{customdata}<br>after: %{y:.1f}%<extra></extra>")
    if retrained is not None:
        rr = theme.percents(retrained)
        fig.add_bar(name="retrained", x=x, y=rr, marker_color=RETRAINED, marker_pattern_shape="/",
                    offsetgroup="retrained", customdata=list(class_names),
                    hovertemplate="class %{customdata}<br>retrained without the classes: %{y:.1f}%<extra></extra>")
    for i in sorted(f):
        fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor=FORGOTTEN, opacity=0.12, line_width=0, layer="below")
    title = "Test accuracy per class, before and after" + (" (and retrained)" if retrained is not None else "")
    theme.results_style(fig, title, 460, barmode="group", bargap=0.25)
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=_class_ticks(class_names, forget), title_text="class")
    fig.update_yaxes(range=[0, 112], title_text="test accuracy (%)", ticksuffix="")
    return fig


def class_accuracy(class_names: Sequence[str], accuracy: Sequence[float], chosen: Sequence[int] = ()) -> go.Figure:
    """The model as it is: test accuracy per class in percent, the classes chosen to forget shaded.

    Drawn before the first click, so that the reader sees what is about to change (and the browser has
    its chart library loaded when the result comes)."""
    f = set(chosen)
    x = list(range(len(class_names)))
    fig = go.Figure()
    ys = theme.percents(accuracy)
    fig.add_bar(name="now", x=x, y=ys, marker_color=[FORGOTTEN if i in f else BEFORE for i in x],
                text=[f"{v:.0f}" if v is not None else "" for v in ys] if len(class_names) <= 12 else None,
                textposition="outside", cliponaxis=False, textfont={"size": FONTS.tick}, constraintext="none",
                customdata=list(class_names), hovertemplate="class %{customdata}: %{y:.1f}%<extra></extra>")
    theme.results_style(fig, "The model as it is: test accuracy per class" + (" (to forget: shaded)" if f else ""), 380,
           showlegend=False)
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=_class_ticks(class_names, sorted(f)), title_text="class")
    fig.update_yaxes(range=[0, 112], title_text="test accuracy (%)")
    return fig


def after_values(fig: go.Figure) -> list[float | None]:
    """The "after" accuracies of a per_class_accuracy figure, kept and forgotten classes merged."""
    kept = next(t for t in fig.data if t.name == "after").y
    gone = next(t for t in fig.data if t.name == "after · forgotten").y
    return [k if k is not None else g for k, g in zip(kept, gone)]


def ratio_histogram(edges: Sequence[float], counts: Sequence[int], moved: Sequence[int],
                    title: str = "Parameter sensitivity: log10(F_forget / F_remain)",
                    model_params: int | None = None, model_moved: int | None = None) -> go.Figure:
    """Bars of how many parameters fall at each log10 Fisher ratio, the perturbed ones on top.

    The counts are already binned on the server (ForgetResult.ratio_histogram / TensorReport); the
    shaded band spans the bins that hold perturbed parameters and says how many there are. With
    ``model_params`` and ``model_moved`` (the whole model's) the subtitle also says how many parameters
    changed in all, so that its counts agree with the per-layer chart and the report: under ``erase``
    the ratio weighs only the classifier, and the erasure moves most of the layer before it.
    """
    fig = go.Figure()
    edges = list(edges)
    counts, moved = list(counts), list(moved)
    total, n_moved = int(sum(counts)), int(sum(moved))
    if len(edges) < 2 or total == 0:
        fig.add_annotation(text="no sensitivity data for this method", showarrow=False, font={"size": FONTS.base},
                           xref="paper", yref="paper", x=0.5, y=0.5)
        return theme.results_style(fig, title, 380)
    centres = [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)]
    width = edges[1] - edges[0]
    fig.add_bar(name="all parameters", x=centres, y=counts, width=width, marker_color=BEFORE,
                hovertemplate="log10 ratio %{x:.2f}<br>%{y:,} parameters<extra></extra>")
    fig.add_bar(name="perturbed", x=centres, y=moved, width=width, marker_color=PERTURBED,
                hovertemplate="log10 ratio %{x:.2f}<br>%{y:,} perturbed<extra></extra>")
    share = n_moved / total
    if n_moved:
        hit = [i for i, m in enumerate(moved) if m > 0]
        fig.add_vrect(x0=edges[hit[0]], x1=edges[hit[-1] + 1], fillcolor=PERTURBED, opacity=0.12, line_width=0,
                      layer="below")
    theme.results_style(fig, title, 470, barmode="overlay", bargap=0)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.3, "xanchor": "center", "x": 0.5})
    subtitle = f"perturbed: {n_moved:,} of the {total:,} parameters weighed ({share:.1%})"
    if model_params and model_params > total:
        moved_all = n_moved if model_moved is None else int(model_moved)
        subtitle += (f"<br>in all {moved_all:,} of the model's {model_params:,} changed"
                     + (f" ({moved_all - n_moved:,} by a step that weighs none)" if moved_all > n_moved else ""))
    fig.update_layout(title_subtitle={"text": subtitle,
                                      "font": {"size": FONTS.base, "color": PERTURBED}},
                      margin={"t": 120 if "<br>" in subtitle else 100, "b": 120})
    fig.update_xaxes(title_text="log10(F_forget / F_remain) → forgotten classes")
    fig.update_yaxes(type="log", title_text="parameters (log scale)", dtick=1)
    return fig


def layer_overview(names: Sequence[str], numel: Sequence[int], moved: Sequence[int],
                   scales: Sequence[float]) -> go.Figure:
    """Share of each parameter tensor that was perturbed (horizontal bars, largest layers readable)."""
    share = [100.0 * m / n if n else 0.0 for m, n in zip(moved, numel)]
    labels = [layer_label(n) for n in names]
    fig = go.Figure(go.Bar(
        x=share, y=labels, orientation="h", marker_color=PERTURBED,
        text=[f"{m:,} / {n:,}" for m, n in zip(moved, numel)], textposition="auto",
        customdata=np.column_stack([list(names), list(scales)]) if len(names) else None,
        hovertemplate="%{customdata[0]}<br>perturbed %{x:.2f}%<br>%{text}<br>scale s = %{customdata[1]:.3g}"
                      "<extra></extra>"))
    theme.results_style(fig, "Perturbed share of each parameter tensor", max(300, 60 + 38 * len(names)))
    fig.update_xaxes(title_text="perturbed parameters (%)", range=[0, 105])
    fig.update_yaxes(autorange="reversed")
    return fig


def layer_label(name: str, limit: int = 28) -> str:
    """A parameter tensor's name as every picker and chart shows it ("net.fc.weight" is "fc.weight")."""
    return theme.short_layer(name, limit)


def cell_text(cm: np.ndarray) -> list[list[str]]:
    """What a confusion cell shows: its row percent, rounded; nothing for an empty cell, and nothing on the
    diagonal at 90 % or more (its bright colour says it, and "100" did not fit a cell on a projector)."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * cm, rows, out=np.zeros_like(cm), where=rows > 0)
    return [[("" if not cm[i, j] or (i == j and pct[i, j] >= 89.5) else f"{pct[i, j]:.0f}")
             for j in range(cm.shape[1])] for i in range(cm.shape[0])]


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels): what its contrast ratios are computed from."""
    lin = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def dark_ink(pct: np.ndarray) -> np.ndarray:
    """Which heatmap cells (percent 0-100 on :data:`SEQUENTIAL`) take black text rather than white.

    Plotly picks white or #444 per cell, which leaves mid-grey cells at 3.5:1; black or white, whichever
    contrasts more with the cell's own colour, reaches at least 4.58:1 on every colour (WCAG text: 4.5:1).
    """
    from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

    pct = np.asarray(pct, dtype=np.float64)
    cols = sample_colorscale(get_colorscale(SEQUENTIAL), list(np.clip(pct.ravel(), 0, 100) / 100))
    lum = np.array([relative_luminance(unlabel_rgb(c)) for c in cols]).reshape(pct.shape)
    return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05)  # contrast with black >= contrast with white


def confusion_matrices(before: np.ndarray, after: np.ndarray, class_names: Sequence[str],
                       forget: Sequence[int], retrained: np.ndarray | None = None) -> go.Figure:
    """Row-normalised confusion matrices (percent of each true class), before and after, side by side.

    The forgotten classes' rows are outlined: after forgetting their mass moves off the diagonal.
    With ``retrained`` a third panel shows the model retrained without the forgotten classes.
    With cell numbers, each panel is two heatmaps that share the colour scale: the cells with black
    numbers and the cells with white ones (a heatmap has one text colour; the other trace's cells are gaps).
    """
    n = len(class_names)
    mats = [before, after] + ([retrained] if retrained is not None else [])
    last = len(mats)
    fig = make_subplots(rows=1, cols=last, subplot_titles=("before", "after", "retrained")[:last],
                        horizontal_spacing=0.12 if last == 2 else 0.07)
    show_text = n <= 12
    for col, (panel, cm) in enumerate(zip(("before", "after", "retrained"), mats), start=1):
        cm = np.asarray(cm, dtype=np.float64)
        rows = cm.sum(axis=1, keepdims=True)
        pct = np.divide(100.0 * cm, rows, out=np.zeros_like(cm), where=rows > 0)
        dark = dark_ink(pct) if show_text else np.ones(pct.shape, dtype=bool)
        numbers = cell_text(cm) if show_text else None
        for ink, cells in (("#000000", dark), ("#FFFFFF", ~dark)):
            if not cells.any():
                continue
            fig.add_heatmap(z=np.where(cells, pct, np.nan).tolist(), x=list(range(n)), y=list(range(n)),
                            zmin=0, zmax=100, colorscale=SEQUENTIAL, hoverongaps=False, name=panel,
                            showscale=col == last and ink == "#000000",
                            colorbar={"title": {"text": "% of class"}, "tickfont": {"size": FONTS.tick}},
                            # the cell's number is its percent (what the colour shows and the guide says), blank
                            # for an empty cell; the count of images is in the hover
                            text=[[t if cells[i, j] else "" for j, t in enumerate(r)] for i, r in enumerate(numbers)]
                            if show_text else None, texttemplate="%{text}" if show_text else None,
                            textfont={"size": 12, "color": ink},  # two digits fit a 14 px cell (three panels at 1024 px)
                            customdata=cm.astype(int).tolist(),
                            hovertemplate="true %{y}, predicted %{x}<br>%{customdata} images (%{z:.1f}%)<extra></extra>",
                            row=1, col=col)
        for c in forget:
            fig.add_shape(type="rect", x0=-0.5, x1=n - 0.5, y0=c - 0.5, y1=c + 0.5, line={"color": FORGOTTEN, "width": 3},
                          row=1, col=col)
    ticks = _class_ticks(class_names, forget)
    # Cells are not forced square: side by side at 1024 px, square cells left 16 px per row label.
    fig.update_xaxes(tickmode="array", tickvals=list(range(n)), ticktext=ticks, title_text="predicted")
    fig.update_yaxes(tickmode="array", tickvals=list(range(n)), ticktext=ticks, autorange="reversed")
    fig.update_yaxes(title_text="true", row=1, col=1)  # once: the others' titles sat inside the panel to their left
    theme.results_style(fig, "Confusion matrices", 620)
    fig.update_layout(title_subtitle={"text": "rows: true class, % of its test images (the bright diagonal "
                                              "cells at 90 % or more carry no number)", "font": {"size": FONTS.tick}},
                      margin={"t": 150})
    fig.update_annotations(font={"size": FONTS.base})
    return fig


def training_curves(epochs: Sequence[Any], total_epochs: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch (objects with epoch, loss, train_accuracy, val_accuracy).

    The x axis grows with the run (at least ``min(total_epochs, 10)`` epochs wide), so the curves stay
    readable early on; the progress bar next to the figure shows how far the run is.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "accuracy (%)"), horizontal_spacing=0.12)
    x = [e.epoch for e in epochs]
    fig.add_scatter(x=x, y=[e.loss for e in epochs], name="loss", mode="lines+markers", line={"color": AFTER, "width": 3},
                    row=1, col=1)
    fig.add_scatter(x=x, y=[100 * e.train_accuracy for e in epochs], name="train (with codes)", mode="lines+markers",
                    line={"color": ACCENT, "width": 3}, row=1, col=2)
    fig.add_scatter(x=x, y=[100 * e.val_accuracy for e in epochs], name="validation (real images)",
                    mode="lines+markers", line={"color": AFTER, "width": 3, "dash": "dot"}, row=1, col=2)
    last = max(x, default=1)
    width = max(last, min(total_epochs or 10, 10))
    fig.update_xaxes(range=[0.5, width + 0.5], title_text="epoch")
    fig.update_yaxes(range=[0, 101], row=1, col=2)
    theme.results_style(fig, "Training", 420, margin={"l": 70, "r": 30, "t": 80, "b": 110})
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.28, "xanchor": "center", "x": 0.5})
    fig.update_annotations(font={"size": FONTS.base})
    return fig


def image_grid(images: np.ndarray, captions: Sequence[str], title: str, columns: int | None = None,
               row_labels: Sequence[str] | None = None, frames: Sequence[str | None] | None = None,
               caption_lines: int = 3) -> go.Figure:
    """Images in a grid, each with a caption under it (HTML allowed); ``frames`` colours a cell's border.

    Images travel as small PNGs inside the figure (a few KB each), never as pixel arrays.
    """
    n = len(images)
    columns = columns or max(1, min(n, 8))
    rows = max(1, math.ceil(n / columns))
    cell_px, gap_px = 130, 22 * caption_lines + 18  # image row height; room for the captions under it
    plot_px = rows * cell_px + (rows - 1) * gap_px
    fig = make_subplots(rows=rows, cols=columns, horizontal_spacing=0.02,
                        vertical_spacing=gap_px / plot_px if rows > 1 else 0)
    for k in range(n):
        r, c = k // columns + 1, k % columns + 1
        img = images[k]
        fig.add_trace(go.Image(source=theme.png_uri(img, GALLERY_PX), hoverinfo="skip"), row=r, col=c)
        xref = "x domain" if k == 0 else f"x{k + 1} domain"
        yref = "y domain" if k == 0 else f"y{k + 1} domain"
        fig.add_annotation(text=captions[k], xref=xref, yref=yref, x=0.5, y=-0.04, xanchor="center", yanchor="top",
                           showarrow=False, font={"size": FONTS.tick}, align="center")
        if frames is not None and frames[k]:
            fig.add_shape(type="rect", xref=xref, yref=yref, x0=0, x1=1, y0=0, y1=1,
                          line={"color": frames[k], "width": 4})
    if row_labels:
        for r, label in enumerate(row_labels):
            yref = "y domain" if r == 0 else f"y{r * columns + 1} domain"
            fig.add_annotation(text=f"<b>{label}</b>", xref="paper", yref=yref, x=-0.01, y=0.5, xanchor="right",
                               showarrow=False, font={"size": FONTS.base}, textangle=-90)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    theme.results_style(fig, title, 80 + plot_px + gap_px, margin={"l": 50 if row_labels else 20, "r": 20, "t": 80, "b": gap_px})
    return fig


def prediction_gallery(images: np.ndarray, true_labels: Sequence[int], before_labels: Sequence[int],
                       before_conf: Sequence[float], after_labels: Sequence[int], after_conf: Sequence[float],
                       class_names: Sequence[str], forget: Sequence[int], title: str,
                       columns: int | None = None) -> go.Figure:
    """Each image with its true class and the predicted class and confidence before and after.

    Images of forgotten classes get a vermillion frame; a prediction that is wrong is shown in italics.
    """
    f = set(int(c) for c in forget)
    columns = min(columns or GALLERY_COLUMNS, GALLERY_COLUMNS)
    captions, frames = [], []
    for t, b, bc, a, ac in zip(true_labels, before_labels, before_conf, after_labels, after_conf):
        t, b, a = int(t), int(b), int(a)
        head = f"<b><span style='color:{FORGOTTEN}'>{class_names[t]}</span></b>" if t in f else f"<b>{class_names[t]}</b>"
        captions.append(f"{head}<br>was {_guess(class_names[b], bc, b == t)}"
                        f"<br>now {_guess(class_names[a], ac, a == t)}")
        frames.append(FORGOTTEN if t in f else None)
    return image_grid(images, captions, title, columns=columns, frames=frames, caption_lines=3)


def _guess(name: str, conf: float, right: bool) -> str:
    text = f"{_clip(name, 8)} {100 * conf:.0f}%"
    return text if right else f"<i>{text}</i>✗"


def _clip(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


GALLERY_COLUMNS = 5  # captions of about 10 characters at 17 px fit under each image of a 5-wide row at 1024 px


def code_gallery(codes: np.ndarray, samples: np.ndarray, class_indices: Sequence[int],
                 class_names: Sequence[str]) -> go.Figure:
    """Each class's mnemonic code above a real test image of the same class."""
    k = len(class_indices)
    images = np.concatenate([codes, samples]) if k else codes
    captions = [f"<b>{class_names[c]}</b>" for c in class_indices] * 2
    return image_grid(images, captions, "Mnemonic codes (top) and real images (bottom), one per class",
                      columns=max(1, k), row_labels=["code", "real"], caption_lines=1)


def for_print(fig: go.Figure) -> go.Figure:
    """A copy styled for a standalone light page (the HTML report)."""
    out = go.Figure(fig)
    out.update_layout(template="plotly_white", paper_bgcolor="white", plot_bgcolor="white",
                      font={"color": "#222222"})
    return out
