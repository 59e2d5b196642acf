"""The app's pure side (ui/run_view, ui/exports, ui/figures, ui/report, ui/session/jobs), without Streamlit.

The figures must carry the backend's numbers unchanged, stay small (binned, never per-parameter),
and use one colour for forgotten classes everywhere.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from conftest import state_hash
from ui import exports, figures, report, run_view, samples
from ui.session.jobs import TrainJob, unused_path
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.training import TrainConfig

FORGET = [0]


@pytest.fixture(scope="module")
def run(digits, digits_mlp):
    """One forgetting run of the small digits MLP, and the analysis the pages draw from it."""
    before_hash = state_hash(digits_mlp.model)
    outcome = run_view.run_forgetting(digits_mlp, digits.test, FORGET, 1e-3, 10.0, "cpu", mode="paper")
    view = run_view.analyse(digits_mlp, outcome, digits.test, "digits-mlp", device="cpu")
    assert state_hash(digits_mlp.model) == before_hash, "forgetting or analysis modified the input model"
    return view


def _ys(fig: go.Figure, name: str) -> list:
    trace = next(t for t in fig.data if t.name == name)
    return list(trace.y)


def test_per_class_bars_are_the_backends_numbers(run):
    o = run.outcome
    fig = figures.per_class_accuracy(run.class_names, o.before.per_class_accuracy, o.after.per_class_accuracy,
                                     run.forget)
    assert _ys(fig, "before") == pytest.approx([100 * a for a in o.before.per_class_accuracy])
    assert figures.after_values(fig) == pytest.approx([100 * a for a in o.after.per_class_accuracy])
    gone = next(t for t in fig.data if t.name == "after · forgotten")
    assert gone.marker.color == figures.FORGOTTEN
    assert [i for i, v in enumerate(gone.y) if v is not None] == list(run.forget)
    assert figures.FORGOTTEN in fig.layout.xaxis.ticktext[run.forget[0]]


def test_histogram_is_binned_on_the_server(run):
    r = run.outcome.result
    edges, counts, moved = r.ratio_histogram()
    fig = figures.ratio_histogram(edges, counts, moved)
    assert sum(_ys(fig, "all parameters")) == r.total_params == sum(p.numel() for p in r.model.parameters())
    assert sum(_ys(fig, "perturbed")) == r.moved_params
    assert len(fig.data[0].x) == len(edges) - 1
    assert f"{r.moved_params:,}" in fig.layout.title.subtitle.text
    # a few kilobytes for tens of thousands of parameters: no per-parameter array travels
    assert len(fig.to_json()) < 20_000 < r.total_params


def test_layer_views(run):
    r = run.outcome.result
    t = max(r.tensors, key=lambda t: t.numel)
    fig = figures.ratio_histogram(r.ratio_edges, t.ratio_counts, t.moved_counts, title=t.name)
    assert sum(_ys(fig, "all parameters")) == t.numel
    over = figures.layer_overview([x.name for x in r.tensors], [x.numel for x in r.tensors],
                                  [x.moved for x in r.tensors], [x.scale for x in r.tensors])
    assert list(over.data[0].x) == pytest.approx([100 * x.moved / x.numel for x in r.tensors])


def _cell_text(cm: np.ndarray) -> list[list[str]]:
    """What a confusion cell shows: its row percent, rounded; blank when empty and on a diagonal cell of 90 %
    or more (the count is in the hover)."""
    rows = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    return [["" if not cm[i, j] or (i == j and round(pct[i, j]) >= 90) else f"{pct[i, j]:.0f}"
             for j in range(len(cm))] for i in range(len(cm))]


def test_confusion_matrices_show_row_percentages_and_counts_on_hover(run):
    o = run.outcome
    fig = figures.confusion_matrices(o.before.confusion, o.after.confusion, run.class_names, run.forget)
    after = [t for t in fig.data if t.name == "after"]  # the cells with black numbers, then those with white
    text = [["".join(t.text[i][j] for t in after) for j in range(len(o.after.confusion))]
            for i in range(len(o.after.confusion))]
    assert text == _cell_text(o.after.confusion)  # as the guide says: percent, each cell drawn by one trace
    assert np.array_equal(np.asarray(after[0].customdata), o.after.confusion)
    z = np.nansum([np.asarray(t.z, dtype=float) for t in fig.data if t.name == "before"], axis=0)
    assert z.sum(axis=1)[o.before.confusion.sum(axis=1) > 0] == pytest.approx(100.0)
    outlined = [s for s in fig.layout.shapes if s.line.color == figures.FORGOTTEN]
    assert len(outlined) == 2 * len(run.forget)


def test_confusion_numbers_reach_wcag_text_contrast_on_their_own_cell():
    """Black or white per cell, by the cell's colour: every cell number 4.5:1 (Plotly's own pick gave 3.5:1)."""
    from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

    pct = np.linspace(0, 100, 201)
    dark = figures.dark_ink(pct)
    for p, black in zip(pct, dark):
        lum = figures.relative_luminance(unlabel_rgb(sample_colorscale(get_colorscale(figures.SEQUENTIAL), p / 100)[0]))
        ratio = (lum + 0.05) / 0.05 if black else 1.05 / (lum + 0.05)
        assert ratio >= 4.5, (p, black, ratio)
    assert not dark[0] and dark[-1]  # white on the dark navy end, black on the yellow end
    cm = np.array([[50, 50], [0, 100]])
    fig = figures.confusion_matrices(cm, cm, ["a", "b"], [0])
    inks = {t.textfont.color for t in fig.data}
    assert inks == {"#000000", "#FFFFFF"}


def test_galleries_caption_every_prediction(run):
    names = run.class_names
    fig = figures.prediction_gallery(run.sample_images, run.sample_labels, run.samples_before.labels,
                                     run.samples_before.confidence, run.samples_after.labels,
                                     run.samples_after.confidence, names, run.forget, "samples", columns=6)
    assert len(fig.data) == len(run.sample_images)
    captions = [a.text for a in fig.layout.annotations]
    for cap, b, bc in zip(captions, run.samples_before.labels, run.samples_before.confidence):
        assert "was " in cap and f"{names[b]} {100 * bc:.0f}%" in cap
    framed = [s for s in fig.layout.shapes if s.line.color == figures.FORGOTTEN]
    assert len(framed) == int(np.isin(run.sample_labels, run.forget).sum())
    assert all(t.source.startswith("data:image/png;base64,") for t in fig.data)


def test_analysis_predictions_match_the_models(run, digits, digits_mlp):
    x = digits_mlp.codes[list(run.code_classes)]
    with torch.no_grad():
        after = torch.softmax(run.outcome.result.model(x), 1)
    assert np.array_equal(run.codes_after.labels, after.argmax(1).numpy())
    assert run.codes_after.confidence == pytest.approx(after.max(1).values.numpy(), abs=1e-6)
    # the samples: first images of the forgotten class, then one per kept class, same before and after
    assert set(run.sample_labels[: np.isin(run.sample_labels, run.forget).sum()]) == set(run.forget)


def test_tables_and_downloads(run):
    o = run.outcome
    rows = run_view.metrics_rows(run)
    assert [r["accuracy_after_pct"] for r in rows] == pytest.approx([100 * a for a in o.after.per_class_accuracy])
    assert [r["forgotten"] for r in rows] == [c in run.forget for c in range(len(rows))]
    table = list(csv.DictReader(io.StringIO(exports.metrics_csv(run))))  # one table, no second one below it
    assert len(table) == len(rows) and [r["class"] for r in table] == [r["class"] for r in rows]
    assert {r["method"] for r in table} == {o.result.mode} and {r["model"] for r in table} == {run.model_name}
    assert {r["forget_classes"] for r in table} == {" ".join(run.forget_names)}
    assert [float(r["accuracy_after_pct"]) for r in table] == pytest.approx([r["accuracy_after_pct"] for r in rows])
    doc = json.loads(exports.metrics_json(run))
    assert doc["E_F"] == pytest.approx(o.efficacy)
    assert doc["forget_class_names"] == [run.class_names[c] for c in run.forget]
    assert doc["after"]["per_class_accuracy"] == pytest.approx(list(o.after.per_class_accuracy))


def test_model_download_is_the_forgotten_model(run, digits_mlp, tmp_path):
    data = exports.model_bytes(digits_mlp, run.outcome)
    path = tmp_path / "f.safetensors"
    path.write_bytes(data)
    back = load_checkpoint(path)
    assert state_hash(back.model) == state_hash(run.outcome.result.model)
    assert back.meta["forgotten"]["forget_classes"] == list(run.forget)
    assert torch.equal(back.codes, digits_mlp.codes)


def test_report_is_self_contained(run):
    html = report.build_report(run)
    assert html.startswith("<!DOCTYPE html>")
    assert "<script src=" not in html and not re.search(r"<link[^>]+href=", html)  # plotly.js is inline
    assert "Plotly" in html[: html.index("</head>")]
    assert run.outcome.verdict.message.replace("'", "&#x27;") in html
    assert html.count("Plotly.newPlot") == len(report.run_figures(run))


def test_training_job_saves_and_cancels(digits, tmp_path):
    job = TrainJob(digits, "mlp", TrainConfig(epochs=2, seed=0), "cpu", "tiny", folder=tmp_path).start()
    assert job.wait(120)
    assert job.state == "done", job.message
    assert [e.epoch for e in job.epochs] == [1, 2] and job.path.parent == tmp_path
    assert load_checkpoint(job.path).meta["dataset"] == "digits"
    assert unused_path(tmp_path, "tiny").name == "tiny-1.safetensors"  # never overwrites

    stop = TrainJob(digits, "mlp", TrainConfig(epochs=500, seed=0), "cpu", "never", folder=tmp_path)
    stop.cancel()  # cancelled before the first batch
    stop.start()
    assert stop.wait(120)
    assert stop.state == "cancelled" and not (tmp_path / "never.safetensors").exists()

    bad = TrainJob("no-such-dataset", "mlp", TrainConfig(epochs=1), "cpu", "bad", folder=tmp_path).start()
    assert bad.wait(60)
    assert bad.state == "failed" and "unknown dataset" in bad.message


def test_curves_and_code_gallery_shapes(digits, digits_mlp):
    class E:  # an EpochStats-like record
        def __init__(self, i):
            self.epoch, self.loss, self.train_accuracy, self.val_accuracy = i, 1.0 / i, 0.5, 0.6

    fig = figures.training_curves([E(1), E(2)], total_epochs=5)
    assert [t.name for t in fig.data] == ["loss", "train (with codes)", "validation (real images)"]
    assert list(fig.data[2].y) == pytest.approx([60.0, 60.0])
    codes = samples.to_display(digits_mlp.codes[:3])
    real = samples.to_display(digits.test.images[:3])
    assert codes.shape == (3, 8, 8, 3) and codes.dtype == np.uint8
    g = figures.code_gallery(codes, real, [0, 1, 2], digits_mlp.class_names)
    assert len(g.data) == 6
    printed = figures.for_print(g)
    assert printed.layout.template.layout.paper_bgcolor is not None or printed.layout.paper_bgcolor == "white"
    assert not math.isnan(g.layout.height)


def test_figures_stay_readable_with_many_classes():
    """100 classes: no per-cell text, no bar labels, galleries capped; nothing crashes."""
    rng = np.random.default_rng(0)
    names = [f"class {i}" for i in range(100)]
    before, after = rng.random(100), rng.random(100)
    bars = figures.per_class_accuracy(names, before, after, [3, 50])
    assert bars.data[0].text is None
    cm = rng.integers(0, 5, size=(100, 100))
    conf = figures.confusion_matrices(cm, cm, names, [3, 50])
    assert conf.data[0].text is None and len(conf.to_json()) < 400_000
    assert len(samples.gallery_classes(100, [3, 50])) == samples.MAX_GALLERY
    idx = samples.pick_samples(np.repeat(np.arange(100), 3), [3, 50])
    assert len(idx) <= samples.MAX_GALLERY + 6


def test_headline_speaks_of_two_classes_as_two(run):
    one = run_view.headline(run)
    assert " its test accuracy" in one
    two = dataclasses.replace(run, outcome=dataclasses.replace(
        run.outcome, result=dataclasses.replace(run.outcome.result, forget_classes=(1, 2))))
    text = run_view.headline(two)
    assert "Forgetting 1 and 2 took" in text and "their (2 classes') test accuracy" in text and " its " not in text


def test_a_failure_is_never_green(run):
    """A_F falling is green only when the verdict says the classes were forgotten; A_R likewise for kept."""
    from ui import widgets

    def with_verdict(forgot: bool, kept: bool):
        v = dataclasses.replace(run.outcome.verdict, forgot=forgot, kept=kept)
        return dataclasses.replace(run, outcome=dataclasses.replace(run.outcome, verdict=v))

    assert widgets.delta_colours(with_verdict(True, True)) == ("inverse", "normal")
    assert widgets.delta_colours(with_verdict(False, True)) == ("off", "normal")
    assert widgets.delta_colours(with_verdict(True, False)) == ("inverse", "off")


def test_the_model_as_it_is_carries_its_accuracies_and_shades_the_chosen_classes():
    fig = figures.class_accuracy([str(i) for i in range(4)], [0.9, 0.5, 1.0, 0.25], chosen=[1])
    assert list(fig.data[0].y) == pytest.approx([90.0, 50.0, 100.0, 25.0])
    assert list(fig.data[0].marker.color) == [figures.BEFORE, figures.FORGOTTEN, figures.BEFORE, figures.BEFORE]
    assert "shaded" in fig.layout.title.text
    assert "shaded" not in figures.class_accuracy(["a", "b"], [1.0, 1.0]).layout.title.text


def test_report_and_json_carry_every_depth_and_the_index(run):
    from dataclasses import replace as _replace

    from unlearning.evaluation import audit as A

    prof = A.DepthProfile(("stem", "stage 1", "penultimate"), (0.9, 0.92, 0.95), (0.9, 0.6, 0.31), (0.3, 0.4, 0.3))
    amn = A.Anamnesis(12, 48, 60)
    v = A.depth_verdict(0.0, 0.95, 0.31, 0.30, profile=prof, anamnesis_index=amn.index)
    depth = A.DepthCheck(0.95, 0.31, 0.30, "shipped", True, v, prof, amn)
    view = _replace(run, outcome=_replace(run.outcome, depth=depth))
    html = report.build_report(view)
    assert "Recoverability at every depth" in html and "<td>stage 1</td><td>92.0</td><td>60.0</td><td>40.0</td>" in html
    assert "Anamnesis Index 0.25" in html and "12 steps, against 48" in html
    doc = json.loads(exports.metrics_json(view))
    assert doc["depth"]["profile"]["unlearned"] == pytest.approx([0.9, 0.6, 0.31])
    assert doc["depth"]["anamnesis_index"] == pytest.approx(0.25) and doc["depth"]["verdict"]["worst_depth"] == "stem"
