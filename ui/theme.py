"""The figures' shared look: the palette, type sizes, the title-legend-axes styling, images as PNG data URIs,
layer names.

Every figure module (figures, audit_figures, compare_figures, tour_figures) takes its colours and styles its
figures here (``results_style``, ``compare_style``, ``tour_style``), so a change of colour, font or layout is
made once. No Streamlit: figures are plain Plotly objects.
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

# The palette: Okabe & Ito (2008), "Color Universal Design", distinguishable with every common colour-vision
# deficiency, the light ones darkened until every trace has 3:1 contrast on the light and the dark background.
# One colour means one thing on every page.
FORGOTTEN = "#D55E00"  # vermillion: a forgotten class
AFTER = "#0072B2"  # blue: after (kept classes); the one-shot method on Compare
BEFORE = "#8C8C8C"  # grey (3:1 against white and the dark theme's background, WCAG graphics): before, the original
PERTURBED = "#009E73"  # bluish green: parameters the method moved
ACCENT = "#BF8400"  # orange, darkened for 3:1 on white (second curve of a pair)
RETRAINED = "#CC79A7"  # reddish purple: the model retrained without the forgotten classes (the reference)
SKY = "#2F8FCF"  # a lighter blue, for a third series beside AFTER
OCHRE = "#A6761D"  # a brown, for a further series
UNLISTED = "#555555"  # a series the palette has no colour for
GUIDE = "#777777"  # dotted reference lines
SEQUENTIAL = "Cividis"  # perceptually uniform and colour-blind safe


@dataclass(frozen=True)
class Fonts:
    """One type scale, in pixels: body and legend, titles, tick labels."""

    base: int
    title: int
    tick: int


RESULTS = Fonts(19, 23, 17)  # the Forget and audit pages: wide figures, read from the back of a room
COMPARE = Fonts(18, 22, 16)  # Compare: three panels side by side
TOUR = Fonts(17, 20, 15)  # the guided tour: half-width figures next to the text


def style(fig: go.Figure, title: str, height: int, fonts: Fonts, *, legend_y: float = 1.0,
          legend_left: bool = False, annotations: bool = False, **layout: Any) -> go.Figure:
    """Title at the top left, a horizontal legend above the plot, every text in ``fonts``; ``layout`` wins."""
    anchor = {"xanchor": "left", "x": 0} if legend_left else {"xanchor": "right", "x": 1}
    fig.update_layout(
        title={"text": title, "font": {"size": fonts.title}, "x": 0, "xanchor": "left"},
        font={"size": fonts.base}, height=height,
        legend={"orientation": "h", "yanchor": "bottom", "y": legend_y, **anchor, "font": {"size": fonts.base}},
        hoverlabel={"font": {"size": fonts.base}},
        **layout)
    fig.update_xaxes(tickfont={"size": fonts.tick}, title_font={"size": fonts.base})
    fig.update_yaxes(tickfont={"size": fonts.tick}, title_font={"size": fonts.base})
    if annotations:
        fig.update_annotations(font={"size": fonts.base})
    return fig


def styler(fonts: Fonts, **defaults: Any) -> Callable[..., go.Figure]:
    """``style`` with a type scale and layout defaults bound (a call's own ``layout`` wins): one family's styling."""
    def bound(fig: go.Figure, title: str, height: int, **layout: Any) -> go.Figure:
        return style(fig, title, height, fonts, **{**defaults, **layout})

    return bound


# Each figure family's styling: the Forget and audit pages, Compare's three panels, the tour's half-width figures.
results_style = styler(RESULTS, margin={"l": 70, "r": 30, "t": 80, "b": 60})
compare_style = styler(COMPARE, legend_y=1.06, margin={"l": 70, "r": 30, "t": 110, "b": 70})
tour_style = styler(TOUR, legend_left=True, annotations=True, margin={"l": 80, "r": 30, "t": 110, "b": 70})


def percents(values: Sequence[float | None]) -> list[float | None]:
    """Fractions as percentages for a trace; None (a gap) where a value is missing or not finite."""
    return [100.0 * v if v is not None and math.isfinite(v) else None for v in values]


def png_uri(image: np.ndarray, px: int) -> str:
    """An HxWx3 uint8 image as a PNG data URI about ``px`` wide, upscaled with nearest-neighbour (pixels stay sharp)."""
    from PIL import Image

    h, w = image.shape[:2]
    k = max(1, round(px / max(h, w)))
    im = Image.fromarray(np.ascontiguousarray(image)).resize((w * k, h * k), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def short_layer(name: str, limit: int | None = None) -> str:
    """A parameter or layer name without the models' ``net.`` prefix, cut from the left to ``limit`` characters."""
    name = name.removeprefix("net.")
    return name if limit is None or len(name) <= limit else "…" + name[-(limit - 1):]
