"""The audit's figures and its pure pieces (ui.audit_figures, ui.audit_text), without Streamlit: each figure
carries the numbers it is given, one colour per model, vermillion only for the forgotten classes."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ui import audit_figures, audit_text, compare_figures, figures
from unlearning.evaluation import run_audit
from unlearning.evaluation import audit
from unlearning.evaluation.audit import DepthCheck, DepthVerdict, ProbeResult, RelearnCurve, RelearnSettings

NAMES = [str(i) for i in range(10)]


def _probe(k, acc, spread=0.01):
    return ProbeResult(k, acc, acc, spread, 0.95, 3)


def _curve(accs, target=0.98):
    steps = tuple(range(0, 3 * len(accs), 3))
    return RelearnCurve(steps, tuple(accs), target, audit._first_step(steps, accs, 0.5 * target),
                        audit._first_step(steps, accs, 0.9 * target), RelearnSettings())


def test_recoverability_has_one_line_per_model_with_its_probe_values():
    shots = {"original": {1: _probe(1, 0.6), 10: _probe(10, 0.9)},
             "unlearned": {1: _probe(1, 0.5), 10: _probe(10, 0.85)},
             "retrained": {1: _probe(1, 0.2), 10: _probe(10, 0.7)}}
    fig = audit_figures.recoverability(shots)
    assert [t.name for t in fig.data] == [audit_figures.LABELS[n] for n in shots]
    assert list(fig.data[1].y) == pytest.approx([50, 85])
    assert list(fig.data[2].error_y.array) == pytest.approx([1, 1])
    assert len({t.line.color for t in fig.data}) == 3 and figures.FORGOTTEN not in {t.line.color for t in fig.data}
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 10]


def test_recoverability_by_depth_is_one_chart_with_three_lines_and_the_worst_depth_marked():
    p = audit.DepthProfile(("stem", "stage 1", "penultimate"), (0.9, 0.92, 0.95), (0.9, 0.6, 0.31), (0.3, 0.4, 0.3))
    fig = audit_figures.recoverability_by_depth(p, worst="stem")
    assert [t.name for t in fig.data] == [audit_figures.LABELS[n] for n in ("original", "unlearned", "retrained")]
    assert list(fig.data[1].x) == ["stem", "stage 1", "penultimate"] and list(fig.data[1].y) == pytest.approx([90, 60, 31])
    assert [t.line.color for t in fig.data] == [audit_figures.MODEL_STYLE[n][0] for n in ("original", "unlearned",
                                                                                          "retrained")]
    assert fig.layout.plot_bgcolor is None and fig.layout.paper_bgcolor is None  # the theme's (dark or light)
    assert any(a.text == "worst depth" for a in fig.layout.annotations)
    assert len(audit_figures.recoverability_by_depth(replace(p, retrained=None)).data) == 2  # no reference: two


def test_relearning_marks_the_steps_to_50_and_90_percent():
    curves = {"original": _curve([0.98, 0.98, 0.98]), "unlearned": _curve([0.0, 0.6, 0.95]),
              "retrained": _curve([0.0, 0.1, 0.3])}
    fig = audit_figures.relearning(curves)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert [t.name for t in lines] == [audit_figures.LABELS[n] for n in curves]
    assert list(lines[1].y) == pytest.approx([0, 60, 95])
    marks = [t for t in fig.data if t.mode == "markers+text" and t.legendgroup == "unlearned"]
    assert [m.x[0] for m in marks] == [3, 6]  # 50 % after 3 steps, 90 % after 6
    assert not [t for t in fig.data if t.mode == "markers+text" and t.legendgroup == "retrained"]  # never reached
    assert {round(s.y0, 6) for s in fig.layout.shapes} == {round(49.0, 6), round(88.2, 6)}


def test_embeddings_share_one_map_and_paint_only_the_forgotten_class_vermillion():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 70)
    centres = rng.normal(size=(10, 16)) * 5
    orig = centres[labels] + rng.normal(size=(len(labels), 16))
    rot, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    feats = {"original": orig, "unlearned": orig.copy(), "retrained": orig @ rot}  # the same space, rotated
    emb = run_audit.embed(feats, labels, [3])
    # one map: the unlearned model's features equal the original's, so its points do too; the rotated
    # copy is rotated back onto the original's axes (fitted on the kept classes only)
    assert np.allclose(emb.points["unlearned"], emb.points["original"], atol=1e-6)
    assert np.allclose(emb.points["retrained"], emb.points["original"], atol=1e-6)
    assert len(emb.labels) == 10 * run_audit.EMBED_PER_CLASS and 0 < emb.explained <= 1
    fig = audit_figures.embeddings(emb.points, emb.labels, NAMES, [3], emb.explained)
    forgotten = [t for t in fig.data if t.name == "forgotten"]
    assert len(forgotten) == 3 and all(t.marker.color == figures.FORGOTTEN for t in forgotten)
    assert all(len(t.x) == run_audit.EMBED_PER_CLASS for t in forgotten)
    assert all(t.marker.color != figures.FORGOTTEN for t in fig.data if t.name != "forgotten")


def test_embedding_labels_never_overlap_and_the_forgotten_class_is_always_named():
    """Ten names crowded in one corner: the forgotten class keeps its label, the others only where they fit."""
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    centres = [(0.1 * i, 0.05 * i) for i in range(10)]
    first = [i == 6 for i in range(10)]
    keep = audit_figures.map_labels(centres, names, first, (-0.5, 1.5, -0.5, 1.5), (240, 300), 17)
    assert keep[6] and 1 < sum(keep) < 10
    boxes = []
    for (x, y), name, k in zip(centres, names, keep):
        if k:
            w, h = audit_figures._label_box(name, 17)
            cx, cy = (x + 0.5) / 2 * 240, (y + 0.5) / 2 * 300
            boxes.append((cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2))
    assert not any(a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
                   for i, a in enumerate(boxes) for b in boxes[i + 1:])
    far = [(i % 2 * 1.0, i // 2 * 0.25) for i in range(10)]  # well spread: every short name fits
    assert all(audit_figures.map_labels(far, [str(i) for i in range(10)], [False] * 10, (-0.2, 1.2, -0.2, 1.2),
                                        (240, 300), 17))


def test_layer_similarity_draws_each_pair_on_both_groups():
    cka = {"unlearned vs original": {"forgotten": {"net.conv1": 1.0, "net.layer2.0": 0.7, "penultimate": 0.4},
                                     "retained": {"net.conv1": 1.0, "penultimate": 0.99}},
           "unlearned vs retrained": {"forgotten": {"net.conv1": 0.9, "penultimate": 0.8},
                                      "retained": {"net.conv1": 0.9, "penultimate": 0.95}}}
    fig = audit_figures.layer_similarity(cka)
    assert len(fig.data) == 4
    first = fig.data[0]
    assert list(first.x) == ["conv1", "block2", "penultimate"] and list(first.y) == [1.0, 0.7, 0.4]
    assert list(first.customdata) == ["net.conv1", "net.layer2.0", "penultimate"]  # the full names, on hover
    assert fig.data[3].xaxis == "x2" and list(fig.data[3].y) == [0.9, 0.95]


def test_membership_shows_both_attacks_for_each_model():
    fig = audit_figures.membership({"original": {"entropy MIA": 0.9, "SVC MIA": 0.01},
                                    "retrained": {"entropy MIA": 0.1, "SVC MIA": float("nan")}})
    assert [t.name for t in fig.data] == ["original", audit_figures.LABELS["retrained"]]
    # both bars count images called members: the SVC attack's non-member share is turned around
    assert list(fig.data[0].y) == pytest.approx([90, 99]) and list(fig.data[1].y)[1] is None
    assert "members" in fig.layout.yaxis.title.text and not any("non-members" in str(x) for x in fig.data[0].x)


def test_figures_gain_the_retrained_model_as_a_third_series():
    acc = [0.9] * 10
    bars = figures.per_class_accuracy(NAMES, acc, [0.0] + acc[1:], [0], retrained=[0.0] + [0.95] * 9)
    third = next(t for t in bars.data if t.name == "retrained")
    assert list(third.y) == pytest.approx([0] + [95] * 9)
    assert figures.after_values(bars) == pytest.approx([0] + [90] * 9)
    assert not any(t.name == "retrained" for t in figures.per_class_accuracy(NAMES, acc, acc, [0]).data)
    cm = np.eye(10, dtype=int) * 10
    conf = figures.confusion_matrices(cm, cm, NAMES, [0], retrained=cm * 2)
    panels = {t.name: np.asarray(t.customdata) for t in conf.data}
    assert list(panels) == ["before", "after", "retrained"] and np.array_equal(panels["retrained"], cm * 2)
    assert {t.name for t in figures.confusion_matrices(cm, cm, NAMES, [0]).data} == {"before", "after"}


def test_depth_against_time_puts_each_method_at_its_recoverability():
    rows = [{"method": "mnemonic", "seconds": 0.5, "probe_forget": 0.7},
            {"method": "retrain", "seconds": 60.0, "probe_forget": 0.68},
            {"method": "ssd", "seconds": 3.0, "probe_forget": float("nan")}]
    fig = compare_figures.depth_vs_time(rows, original=0.9)
    assert [t.y[0] for t in fig.data] == pytest.approx([70, 68])
    assert sorted(round(s.y0, 6) for s in fig.layout.shapes) == [68, 90]
    assert fig.layout.xaxis.type == "log"


def _outcome(forgot=True, kept=True, level=None):
    from types import SimpleNamespace

    v = SimpleNamespace(forgot=forgot, kept=kept, message="m")
    depth = None if level is None else DepthCheck(0.9, 0.9, 0.7, "shipped", True,
                                                  DepthVerdict(level, level, level == "forgotten"))
    return SimpleNamespace(verdict=v, depth=depth)


@pytest.mark.parametrize("forgot, kept, level, tone", [
    (True, True, "forgotten", "ok"), (True, True, "hidden", "warn"), (True, True, "partly forgotten", "warn"),
    (True, True, "unknown depth", "warn"), (True, True, None, "warn"), (True, False, "forgotten", "warn"),
    (False, True, "not forgotten", "bad"), (False, True, None, "bad")])
def test_only_a_class_gone_from_the_features_is_shown_as_success(forgot, kept, level, tone):
    assert audit_text.verdict_tone(_outcome(forgot, kept, level)) == tone


def test_instant_audit_agrees_with_the_backend(digits, digits_cnn):
    """On a tiny model: the instant audit's 10-shot figures are audit.depth_check's, number for number,
    and a model edited in its classifier row only comes out hidden with unchanged features."""
    from unlearning.layers import classifier_layer
    import copy

    torch.manual_seed(0)
    model = digits_cnn.model
    hidden = copy.deepcopy(model)
    _, fc = classifier_layer(hidden, digits.test.images[:1].float() / 255)
    with torch.no_grad():
        fc.bias[3] -= 1e3
    inst = run_audit.instant_audit(model, hidden, digits, [3])
    facts = inst.facts
    want = audit.depth_check(model, hidden, digits, [3], facts["unlearned"].forget_accuracy,
                             facts["original"].forget_accuracy)
    assert inst.depth == want
    assert not inst.depth.features_changed and inst.depth.verdict.level == "hidden"
    assert facts["unlearned"].forget_accuracy == 0.0
    assert set(facts["original"].shots) == set(run_audit.INSTANT_SHOTS)
    assert inst.cka["unlearned vs original"]["retained"]["penultimate"] == pytest.approx(1.0)
    assert facts["unlearned"].mia_svc == audit.svc_mia(hidden, digits, [3])
    rows = audit_text.summary_rows(inst)
    assert [r["model"] for r in rows] == ["original", "unlearned"]
    assert rows[1]["10-shot probe %"] == round(100 * want.probe_unlearned, 1)
    assert rows[1]["SVC MIA: members %"] == round(100 * (1 - facts["unlearned"].mia_svc), 1)  # as the chart counts
    assert all(v is not None for row in rows for v in row.values())  # a table never shows a raw None
    side = {r["measure"]: r for r in audit_text.summary_by_measure(rows)}  # the page's table: a row per measure
    assert set(side) == set(rows[0]) - {"model"}
    assert side["10-shot probe %"]["unlearned"] == f"{rows[1]['10-shot probe %']:g}"


def test_one_pass_facts_equal_the_backends_separate_calls(digits, digits_cnn):
    """model_facts reads features and logits in one pass and CKA from Gram matrices: the same numbers as
    audit.feature_set, audit.svc_mia, privacy.membership_attack and audit.layer_cka."""
    from unlearning.evaluation.privacy import membership_attack

    model = digits_cnn.model
    f = run_audit.model_facts(model, digits, [2])
    fs = audit.feature_set(model, digits)
    assert np.array_equal(f.features.train, fs.train) and np.array_equal(f.features.test, fs.test)
    assert f.mia_svc == audit.svc_mia(model, digits, [2])
    assert f.mia_entropy == membership_attack(model, digits.train, digits.test, [2]).member_fraction
    g = run_audit.grams(model, digits, [2])
    other = copy_perturbed(model)
    want = run_audit.cka_groups(other, model, digits, [2])
    got = run_audit.cka_from_grams(run_audit.grams(other, digits, [2]), g)
    for group in want:
        assert got[group] == pytest.approx(want[group], rel=1e-9)


def copy_perturbed(model):
    import copy

    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p, generator=torch.Generator().manual_seed(0)))
    return m


def test_a_banner_says_its_title_once():
    """Issue 21: the audit banner read "Hidden, not gone. Hidden, not gone: ..."."""
    text = audit_text.titled("hidden", "Hidden, not gone: the outputs no longer predict the class.")
    assert text == "**Hidden, not gone**: the outputs no longer predict the class."
    assert audit_text.titled("unknown depth", "The outputs forgot.") == "**Depth unknown.** The outputs forgot."
