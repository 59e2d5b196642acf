"""The figures' shared look: type sizes, the title-legend-axes styling, images as PNG data URIs, layer names.

Every figure module (figures, audit_figures, compare_figures, tour_figures) styles its figures here, so a
change of font or layout is made once. No Streamlit: figures are plain Plotly objects.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go


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
