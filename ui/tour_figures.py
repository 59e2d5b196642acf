"""Plotly figures for the guided tour (app_pages/tour.py): one per step of the paper's rule, plus the sweep.

Each takes a step of ``unlearning.tour`` (plain, already binned data) and returns a figure; no
Streamlit here. Colours mean what they mean in ui/figures.py (vermillion: forgotten classes, blue:
kept classes, grey: before, green: moved parameters). Text is at least 15 px, for a 1024 px
projector; figures carry no background, so the app's light and dark themes both apply.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearning.methods.classifier_edit import VALIDATION_PER_CLASS
from unlearning.tour import ChosenStep, CheckStep, CodesStep, FisherStep, PerturbationStep, RatioStep, Sweep, WhyStep

from . import theme
from .figures import layer_label
from .theme import ACCENT, AFTER, BEFORE, FORGOTTEN, PERTURBED

FONTS = theme.TOUR
CODE_PX = 84  # each code drawn this many pixels wide (nearest-neighbour, so its noise stays visible)

TITLES = {  # short: a figure is about 530 px wide at 1024 px with the sidebar open
    "codes": "The codes and the model's guesses",
    "fisher": "Fisher information per parameter",
    "ratio": "Ratio r = F_forget / F_remain",
    "chosen": "Moved parameters per tensor",
    "perturbation": "Candidates θ ± δ, scored on codes",
    "check": "Codes against real images",
    "sweep": "Strength against A_F and A_R",
}
MAX_LAYERS = 16  # tensors drawn in step 4: those with most moved parameters, in network order


def _centres(edges: Sequence[float]) -> list[float]:
    return [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)]


def _hwc(image: np.ndarray) -> np.ndarray:
    """uint8 [C, H, W] as [H, W, 3]."""
    x = np.asarray(image)
    if x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    return x.transpose(1, 2, 0)


def codes_figure(step: CodesStep, class_names: Sequence[str], forget: Sequence[int]) -> go.Figure:
    """The codes in one row, each captioned with its class and what the model predicts on it."""
    f = set(forget)
    n = len(step.shown)
    fig = make_subplots(rows=1, cols=max(1, n), horizontal_spacing=0.015)
    for i, c in enumerate(step.shown):
        fig.add_trace(go.Image(source=theme.png_uri(_hwc(step.images[i]), CODE_PX), hoverinfo="skip", name=str(class_names[c])),
                      row=1, col=i + 1)
        xref = "x domain" if i == 0 else f"x{i + 1} domain"
        yref = "y domain" if i == 0 else f"y{i + 1} domain"
        head = f"<b><span style='color:{FORGOTTEN}'>{class_names[c]}</span></b>" if c in f else f"<b>{class_names[c]}</b>"
        p = step.predicted[c]
        guess = f"→ {class_names[p]}" if p == c else f"→ <i>{class_names[p]}</i> ✗"
        fig.add_annotation(text=f"{head}<br>{guess}<br>{100 * step.confidence[c]:.0f}%", xref=xref, yref=yref,
                           x=0.5, y=-0.06, xanchor="center", yanchor="top", showarrow=False, align="center")
        if c in f:
            fig.add_shape(type="rect", xref=xref, yref=yref, x0=0, x1=1, y0=0, y1=1,
                          line={"color": FORGOTTEN, "width": 4})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return theme.tour_style(fig, TITLES["codes"], 240, margin={"l": 10, "r": 10, "t": 60, "b": 85})


def fisher_figure(step: FisherStep) -> go.Figure:
    """Two overlaid histograms: log10 F_forget and log10 F_remain over every parameter."""
    x = _centres(step.edges)
    width = step.edges[1] - step.edges[0]
    fig = go.Figure()
    fig.add_bar(name="F_forget (forgotten classes' codes)", x=x, y=list(step.forget_counts), width=width,
                marker_color=FORGOTTEN, opacity=0.65,
                hovertemplate="log10 F %{x:.2f}<br>%{y:,} parameters<extra>F_forget</extra>")
    fig.add_bar(name="F_remain (kept classes' codes)", x=x, y=list(step.remain_counts), width=width,
                marker_color=AFTER, opacity=0.65,
                hovertemplate="log10 F %{x:.2f}<br>%{y:,} parameters<extra>F_remain</extra>")
    theme.tour_style(fig, TITLES["fisher"], 440, barmode="overlay", bargap=0)
    fig.update_xaxes(title_text="log10 F  (mean squared gradient of the loss on the codes)")
    fig.update_yaxes(type="log", title_text="parameters (log scale)", dtick=1)
    return fig


def ratio_figure(step: RatioStep) -> go.Figure:
    """log10 r over every parameter, the moved ones on top; r = 1 marked."""
    x = _centres(step.edges)
    width = step.edges[1] - step.edges[0] if len(step.edges) > 1 else 1.0
    fig = go.Figure()
    fig.add_bar(name="all parameters", x=x, y=list(step.counts), width=width, marker_color=BEFORE,
                hovertemplate="log10 r %{x:.2f}<br>%{y:,} parameters<extra></extra>")
    fig.add_bar(name="moved", x=x, y=list(step.moved_counts), width=width, marker_color=PERTURBED,
                hovertemplate="log10 r %{x:.2f}<br>%{y:,} moved<extra></extra>")
    fig.add_vline(x=0.0, line={"color": FORGOTTEN, "width": 2, "dash": "dash"})
    fig.add_annotation(text="r = 1", x=0.0, y=1.0, yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
                       font={"color": FORGOTTEN})
    theme.tour_style(fig, TITLES["ratio"], 440, barmode="overlay", bargap=0)
    fig.update_xaxes(title_text="log10 r   →  matters more to the forgotten classes")
    fig.update_yaxes(type="log", title_text="parameters (log scale)", dtick=1)
    return fig


def chosen_figure(step: ChosenStep) -> go.Figure:
    """Share of each parameter tensor that moved, as horizontal bars labelled moved / total.

    Only tensors with a moved parameter are drawn (at most MAX_LAYERS, the busiest, in network order);
    the subtitle says how many were left out.
    """
    busy = [t for t in step.layers if t.moved]
    if len(busy) > MAX_LAYERS:
        keep = set(sorted(busy, key=lambda t: t.moved, reverse=True)[:MAX_LAYERS])
        busy = [t for t in busy if t in keep]
    names = [t.name for t in busy]
    share = [100.0 * t.moved / t.numel if t.numel else 0.0 for t in busy]
    fig = go.Figure(go.Bar(
        x=share, y=[theme.short_layer(n, 24) for n in names], orientation="h", marker_color=PERTURBED, name="moved",
        text=[f"{t.moved:,} / {t.numel:,}" for t in busy], textposition="outside", cliponaxis=False,
        textfont={"size": FONTS.tick}, constraintext="none",
        customdata=np.column_stack([names, [t.scale for t in busy]]) if names else None,
        hovertemplate="%{customdata[0]}<br>moved %{x:.1f}%<br>%{text}<br>s = %{customdata[1]:.3g}<extra></extra>"))
    left_out = len(step.layers) - len(busy)
    theme.tour_style(fig, TITLES["chosen"], max(340, 150 + 32 * len(names)), margin={"l": 190, "r": 30, "t": 100, "b": 70})
    fig.update_layout(title_subtitle={"text": f"{step.moved:,} of {step.total:,} parameters"
                                              + (f"; {left_out} tensors not shown" if left_out else ""),
                                      "font": {"size": FONTS.base, "color": PERTURBED}})
    fig.update_xaxes(title_text="moved (% of the tensor)", range=[0, 160], tickvals=[0, 25, 50, 75, 100])
    fig.update_yaxes(autorange="reversed")
    return fig


def perturbation_figure(step: PerturbationStep) -> go.Figure:
    """Code accuracy of the forgotten and of the kept classes for each signed candidate; the kept one marked."""
    fig = go.Figure()
    signs = [s for s in ("+", "-") if s in step.candidates]
    labels = [f"θ {'+' if s == '+' else '−'} δ" + ("  (kept)" if s == step.sign else "") for s in signs]
    for i, (name, colour) in enumerate((("forgotten classes' codes recognised", FORGOTTEN),
                                        ("kept classes' codes recognised", AFTER))):
        ys = [100.0 * step.candidates[s][i] for s in signs]
        fig.add_bar(name=name, x=labels, y=ys, marker_color=colour, text=[f"{v:.0f}%" for v in ys],
                    textposition="outside", cliponaxis=False, textfont={"size": FONTS.tick}, constraintext="none")
    theme.tour_style(fig, TITLES["perturbation"], 430, barmode="group", bargap=0.35)
    fig.update_yaxes(range=[0, 118], title_text="codes recognised (%)")
    fig.update_xaxes(title_text="score (1 − forgotten) + kept: " + ",  ".join(
        f"{'+' if s == '+' else '−'} {step.scores[s]:.2f}" for s in signs))
    return fig


def check_figure(step: CheckStep, codes_before: tuple[float, float], codes_after: tuple[float, float]) -> go.Figure:
    """Forgotten (top) and kept (bottom) classes: accuracy on the codes, then on real validation and test
    images, before and after. The codes are what the rule saw; the images are what a user sees."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=("forgotten classes (should fall)", "kept classes (should stay)"))
    groups = ["codes"] + [f"{s.split}" for s in step.splits]
    before = [[codes_before[0]] + [s.forget_before for s in step.splits],
              [codes_before[1]] + [s.retain_before for s in step.splits]]
    after = [[codes_after[0]] + [s.forget_after for s in step.splits],
             [codes_after[1]] + [s.retain_after for s in step.splits]]
    for row in (0, 1):
        for name, values, colour in (("before", before[row], BEFORE),
                                     ("after", after[row], FORGOTTEN if row == 0 else AFTER)):
            xs = [100.0 * v for v in values]
            label = name if name == "before" else f"after · {'forgotten' if row == 0 else 'kept'}"
            fig.add_bar(name=label, y=groups, x=xs, orientation="h", marker_color=colour,
                        text=[f"{v:.0f}%" for v in xs], textposition="outside", cliponaxis=False,
                        textfont={"size": FONTS.tick}, constraintext="none", showlegend=row == 0 or name == "after",
                        legendgroup=f"{name}{row}",
                        hovertemplate="%{y}: %{x:.1f}%<extra>" + name + "</extra>", row=row + 1, col=1)
    fig.update_xaxes(range=[0, 122], tickvals=[0, 25, 50, 75, 100])
    fig.update_xaxes(title_text="accuracy (%)", row=2, col=1)
    fig.update_yaxes(autorange="reversed")
    theme.tour_style(fig, TITLES["check"], 600, barmode="group", bargap=0.2, margin={"l": 110, "r": 30, "t": 80, "b": 130})
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0})
    return fig


def factor_label(k: float, own: str = "paper") -> str:
    """How a factor of a method's own strength reads on the slider and the axis (``own``: the method)."""
    if k == 0:
        return "0 (original)"
    if k == 1:
        return f"×1 ({own})"
    return f"×{k:g}"


def sweep_figure(sweep: Sweep, index: int, title: str | None = None) -> go.Figure:
    """A_F and A_R on real test images (solid) and on the codes (dotted) for each strength; the
    slider's position ringed, the method's own strength marked."""
    x = [f"{k:g}" for k in sweep.factors]
    fig = go.Figure()
    for name, ys, colour, dash in (
            ("A_F · forgotten classes, test images", sweep.forget_accuracy, FORGOTTEN, "solid"),
            ("A_R · kept classes, test images", sweep.retain_accuracy, AFTER, "solid"),
            ("forgotten codes", sweep.code_forget_accuracy, FORGOTTEN, "dot"),
            ("kept codes", sweep.code_retain_accuracy, ACCENT, "dot")):
        fig.add_scatter(name=name, x=x, y=[100.0 * v if math.isfinite(v) else None for v in ys], mode="lines+markers",
                        line={"color": colour, "width": 4 if dash == "solid" else 2, "dash": dash},
                        marker={"size": 9 if dash == "solid" else 6},
                        hovertemplate="%{x}<br>%{y:.1f}%<extra>" + name + "</extra>")
    own = sweep.own_index
    fig.add_vline(x=own, line={"color": BEFORE, "width": 2, "dash": "dash"})
    fig.add_annotation(text=sweep.mode, x=own, y=1.0, yref="paper", xanchor="left", yanchor="bottom",
                       showarrow=False, font={"color": BEFORE})
    for ys, colour in ((sweep.forget_accuracy, FORGOTTEN), (sweep.retain_accuracy, AFTER)):
        fig.add_scatter(x=[x[index]], y=[100.0 * ys[index]], mode="markers", showlegend=False, hoverinfo="skip",
                        marker={"size": 22, "color": "rgba(0,0,0,0)", "line": {"color": colour, "width": 4}})
    theme.tour_style(fig, title or TITLES["sweep"], 560, margin={"l": 80, "r": 30, "t": 90, "b": 200})
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25, "xanchor": "left", "x": 0})
    fig.update_yaxes(range=[-4, 106], title_text="accuracy (%)")
    fig.update_xaxes(title_text="strength k (× the method's own δ)", type="category", tickangle=0)
    return fig


def sweep_sentence(sw: Sweep, at_most: float) -> str:
    """What the strength sweep shows, read off its own numbers: where the images and where the codes are
    forgotten. (Step 7 used to say "the codes were satisfied before the images were" under a chart
    where the codes fell only after the images.)"""
    gone = sw.first_forgotten(at_most)
    codes = next((i for i, a in enumerate(sw.code_forget_accuracy) if a <= at_most), None)
    if gone is None:
        return (f"No strength on this grid brings A_F down to {at_most:.0%}: along this direction the forgotten "
                f"classes stay recognised.")
    text = (f"A_F first falls to {at_most:.0%} or less at **{factor_label(sw.factors[gone])}**, where A_R is "
            f"{sw.retain_accuracy[gone]:.1%} (it was {sw.retain_accuracy[0]:.1%}). ")
    if gone <= sw.own_index:
        return text + "The paper's own strength is already there."
    text += "The paper's own strength stops short of it"
    if codes is None:
        return text + ", and the codes stay recognised at every strength on this grid: they give no sign of where to stop."
    if codes < gone:
        return text + (f": the codes were forgotten at {factor_label(sw.factors[codes])}, before the images were, "
                       f"so judged on the codes alone the push looks strong enough too early.")
    if codes == gone:
        return text + ": the codes and the images are forgotten at the same strength."
    return text + (f"; the codes hold out even longer, until {factor_label(sw.factors[codes])}: on this model "
                   f"the codes are harder to forget than the real images.")


def why_sentences(w: WhyStep) -> list[str]:
    """Why the paper's rule falls short on this model, in plain words, one reason a sentence, each with the
    number that backs it (all from :func:`unlearning.tour.why`; the strength it would need is step 7's)."""
    f, k = w.code_scores.get("+", (math.nan, math.nan)), w.code_scores.get("-", (math.nan, math.nan))
    out = [f"**The push is tiny.** The rule caps each tensor's step at λ1 = {w.lambda1:g} times its ratio, and here "
           f"the cap binds in **{w.capped} of {w.tensors}** tensors, so a typical weight moves by "
           f"{w.typical_move:.3%} of its usual size.",
           f"**No weights belong to the class.** In **{w.near_even} of {w.tensors}** tensors the forgotten classes' "
           f"codes lean on the weights about as much as the kept classes' codes do (within a factor of 2). "
           f"The largest share of their sensitivity, {w.top_share:.0%}, sits in {layer_label(w.top_tensor)}, "
           f"where it is only {w.top_ratio:.2g} times the kept classes': a push there moves them too.",
           f"**The codes cannot tell.** After the push, θ + δ still recognises {f[0]:.0%} of the forgotten codes "
           f"and θ − δ {k[0]:.0%}: the rule's only signal says nothing changed, so it can see neither that the "
           f"push is too weak nor which way is right."]
    return out


def method_steps(sweep: Sweep) -> list[str]:
    """A one-shot method's run in plain words, one line per step, every number from its own result."""
    m, secs = sweep.steps, sweep.steps.seconds
    out = []
    if m.validation_images:
        out.append(f"It read {m.validation_images:,} labelled validation images once (a fixed sample of at most "
                   f"{VALIDATION_PER_CLASS} a class), never a test image, and took no training step.")
    if m.erased:
        out.append(f"It took the forgotten classes out of what {', '.join(f'`{theme.short_layer(n)}`' for n in m.erased)} "
                   f"computes: the smallest change after which no straight-line rule on that layer's output can tell "
                   f"them from the other classes (LEACE), folded into the weights"
                   + (f", in {secs['erase']:.2f} s." if "erase" in secs else "."))
    if m.layer:
        out.append(f"It edited the last layer (`{theme.short_layer(m.layer)}`) in the direction "
                   f"{'θ + δ' if m.sign == '+' else 'θ − δ'} at strength {m.strength:.3g}: a few times the smallest push "
                   f"after which the validation images of the forgotten classes are no longer recognised"
                   + (f", in {secs['calibrate']:.2f} s." if "calibrate" in secs else "."))
    out.append(f"The check on the {sweep.test_images:,} real test images it never saw: the forgotten classes at "
               f"{100 * sweep.forget_accuracy[sweep.own_index]:.1f} %, the others at "
               f"{100 * sweep.retain_accuracy[sweep.own_index]:.1f} %.")
    return out
