"""The guided tour's figures (no Streamlit): each draws its step's numbers, in text large enough for a projector."""
from __future__ import annotations

from pathlib import Path

import pytest

from ui import tour_figures as tf
from unlearning import tour
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset

MLP = Path(__file__).resolve().parents[1] / "assets" / "models" / "mlp-mnist5k.safetensors"
pytestmark = pytest.mark.skipif(not MLP.is_file(), reason="the paper's MLP is not shipped")


@pytest.fixture(scope="module")
def steps():
    splits = load_dataset("mnist5k")
    return tour.paper_tour(load_checkpoint(MLP), [3, 8], splits.test, splits.val, device="cpu")


def all_figures(t: tour.Tour):
    names = t.class_names
    return {
        "codes": tf.codes_figure(t.codes, names, t.classes),
        "fisher": tf.fisher_figure(t.fisher),
        "ratio": tf.ratio_figure(t.ratio),
        "chosen": tf.chosen_figure(t.chosen),
        "perturbation": tf.perturbation_figure(t.perturbation),
        "check": tf.check_figure(t.check, (t.codes.code_forget_accuracy, t.codes.code_retain_accuracy),
                                 t.perturbation.candidates[t.perturbation.sign]),
        "sweep": tf.sweep_figure(t.sweep, t.sweep.own_index),
    }


def font_sizes(node, inside_font: bool = False):
    """Every font size set anywhere in a figure's JSON."""
    if isinstance(node, dict):
        for k, v in node.items():
            if inside_font and k == "size" and isinstance(v, (int, float)):
                yield v
            else:
                yield from font_sizes(v, k.endswith("font"))
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from font_sizes(v, inside_font)


def test_every_step_has_its_titled_figure_with_text_of_at_least_14px(steps):
    figs = all_figures(steps)
    for key, fig in figs.items():
        assert fig.layout.title.text == tf.TITLES[key]
        sizes = list(font_sizes(fig.to_plotly_json()))
        assert sizes and min(sizes) >= 14, (key, sizes)


def test_the_figures_carry_the_steps_numbers(steps):
    figs = all_figures(steps)
    assert list(figs["fisher"].data[0].y) == list(steps.fisher.forget_counts)
    assert list(figs["fisher"].data[1].y) == list(steps.fisher.remain_counts)
    assert list(figs["ratio"].data[0].y) == list(steps.ratio.counts)
    assert list(figs["ratio"].data[1].y) == list(steps.ratio.moved_counts)
    busy = [m for m in steps.chosen.layers if m.moved][:tf.MAX_LAYERS]
    assert list(figs["chosen"].data[0].x) == pytest.approx([100 * m.moved / m.numel for m in busy])
    p = steps.perturbation
    assert list(figs["perturbation"].data[0].y) == pytest.approx([100 * p.candidates[s][0] for s in ("+", "-")])
    assert list(figs["perturbation"].data[1].y) == pytest.approx([100 * p.candidates[s][1] for s in ("+", "-")])
    test = steps.check.splits[-1]
    assert figs["check"].data[1].x[-1] == pytest.approx(100 * test.forget_after)
    assert figs["check"].data[3].x[-1] == pytest.approx(100 * test.retain_after)
    assert list(figs["sweep"].data[0].y) == pytest.approx([100 * a for a in steps.sweep.forget_accuracy])
    assert list(figs["sweep"].data[1].y) == pytest.approx([100 * a for a in steps.sweep.retain_accuracy])
    assert len(figs["codes"].data) == len(steps.codes.shown)


def test_the_sweep_rings_the_sliders_strength(steps):
    i = steps.sweep.factors.index(10.0)
    fig = tf.sweep_figure(steps.sweep, i)
    rings = [t for t in fig.data if t.showlegend is False]
    assert [r.x[0] for r in rings] == ["10", "10"]
    assert [r.y[0] for r in rings] == pytest.approx([100 * steps.sweep.forget_accuracy[i],
                                                     100 * steps.sweep.retain_accuracy[i]])
    assert tf.factor_label(1.0) == "×1 (paper)" and tf.factor_label(0.0) == "0 (original)"


def test_step_four_draws_the_busiest_moved_tensors_in_network_order():
    layers = tuple(tour.LayerMove(name=f"layer{i}.weight", numel=100, moved=i % 3 and i, scale=1e-3, max_ratio=2.0,
                                  max_delta=0.1, mean_abs_delta=0.01, weight_rms=0.5) for i in range(40))
    step = tour.ChosenStep(layers=layers, moved=sum(m.moved for m in layers), total=4000)
    fig = tf.chosen_figure(step)
    drawn = list(fig.data[0].y)
    busiest = sorted((m for m in layers if m.moved), key=lambda m: m.moved, reverse=True)[:tf.MAX_LAYERS]
    assert drawn == [m.name for m in layers if m in busiest]  # network order, no tensor that did not move
    assert f"{40 - tf.MAX_LAYERS} tensors not shown" in fig.layout.title.subtitle.text


def test_step_sevens_sentence_follows_the_sweeps_own_numbers():
    """Issue 21: it said the codes were satisfied before the images were, under a chart where the codes
    fell only at x30, after the images at x10."""
    sw = tour.Sweep(mode="paper", sign="-", factors=(0.0, 1.0, 10.0, 30.0), forget_accuracy=(0.99, 0.94, 0.0, 0.0),
                    retain_accuracy=(0.99, 0.98, 0.9, 0.5), code_forget_accuracy=(1.0, 1.0, 1.0, 0.0),
                    code_retain_accuracy=(1.0, 1.0, 1.0, 0.9), test_images=100)
    text = tf.sweep_sentence(sw, 0.02)
    assert "at **×10**" in text and "until ×30" in text and "before the images" not in text
    early = tf.sweep_sentence(tour.Sweep(**{**sw.__dict__, "code_forget_accuracy": (1.0, 0.0, 0.0, 0.0)}), 0.02)
    assert "forgotten at ×1 (paper), before the images were" in early


def test_the_default_method_is_told_step_by_step_with_its_own_numbers():
    """Tour step 8: erase's run, from its own result: the validation images read, the layer erased, the edit."""
    from unlearning.methods import forgetting

    path = Path(__file__).resolve().parents[1] / "assets" / "models" / "resnet8-mnist5k.safetensors"
    splits = load_dataset("mnist5k")
    d = tour.default_mode_sweep(load_checkpoint(path), [3], splits.test, splits.val, mode="erase")
    assert d.steps is not None and d.steps.mode == "erase"
    assert 0 < d.steps.validation_images <= 50 * 10 and d.steps.erased and d.steps.layer.endswith("fc")
    lines = tf.method_steps(d)
    assert len(lines) == 4
    assert f"{d.steps.validation_images:,} labelled validation images" in lines[0]
    assert f"strength {d.steps.strength:.3g}" in lines[2]
    assert f"{100 * d.forget_accuracy[d.own_index]:.1f} %" in lines[3] and forgetting.DEFAULT_MODE == "erase"
