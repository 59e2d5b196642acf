"""The audit page ("Is it gone?") through streamlit.testing: after forgetting on the default model it
renders the embedding, recoverability, relearning and CKA charts, and its numbers are the backend's
own for the same run (unlearning.evaluation.audit called directly on the backend's forgotten model)."""
from __future__ import annotations

import pytest
import torch

from conftest import CLASSES, app, backend, charts
from ui import audit_figures
from unlearning.evaluation import run_audit
from unlearning.evaluation import audit
from unlearning.evaluation.audit import RelearnSettings
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset, to_floats
from unlearning.pipeline import check_depth
from unlearning.evaluation.references import find_reference
from unlearning.storage.folders import default_model_path

pytestmark = pytest.mark.usefixtures("local_models")
FAST = RelearnSettings(max_steps=12, eval_every=3)  # fewer relearning steps: the same code, a shorter curve


def _line(fig, name):
    return next(t for t in fig.data if t.name == audit_figures.LABELS[name] and t.mode != "markers+text")


def test_audit_page_without_a_run_points_to_forget():
    at = app("app_pages/audit.py")
    assert any("Forget a class first" in i.value for i in at.info)


@pytest.mark.slow
def test_audit_page_shows_the_backends_numbers(monkeypatch):
    monkeypatch.setattr(run_audit, "RELEARN", FAST)
    ckpt = load_checkpoint(default_model_path())
    splits = load_dataset(ckpt.meta["dataset"])
    at = app("app_pages/forget.py")
    at.multiselect(key=CLASSES).set_value(["1"]).run()
    at.button(key="forget_button").click().run()
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception, [e.value for e in at.exception]

    want = check_depth(ckpt, backend(ckpt, splits.test, [1]), splits)
    unlearned = want.result.model
    ref = find_reference(ckpt, [1])
    figs = charts(at)
    shots = figs[audit_figures.RECOVERABILITY_TITLE]
    emb = figs[audit_figures.EMBEDDINGS_TITLE]
    cka = figs["Layer by layer: how similar the representations are (linear CKA)"]
    mia = figs["Membership inference on the forgotten classes' training images"]

    # the verdict and the 10-shot figures are the backend's depth check
    assert any(want.depth.verdict.message in a.value.replace("**", "")  # its title in bold, once
               for a in [*at.success, *at.warning, *at.error])
    # recoverability at every depth: one chart, the backend's per-depth figures, the same depth check
    depths = figs[audit_figures.DEPTH_TITLE]
    assert list(_line(depths, "unlearned").x) == list(want.depth.profile.stages)
    assert list(_line(depths, "unlearned").y) == pytest.approx([100 * v for v in want.depth.profile.unlearned])
    assert list(_line(depths, "original").y) == pytest.approx([100 * v for v in want.depth.profile.original])
    k10 = list(shots.data[0].x).index(10)
    assert _line(shots, "original").y[k10] == pytest.approx(100 * want.depth.probe_original)
    assert _line(shots, "unlearned").y[k10] == pytest.approx(100 * want.depth.probe_unlearned)
    fs = audit.feature_set(unlearned, splits)
    assert _line(shots, "unlearned").y[0] == pytest.approx(100 * audit.probe(fs, [1], k=1).forget_test)
    # the forgotten class in vermillion, in every panel
    assert sum(t.name == "forgotten" for t in emb.data) == (3 if ref else 2)
    # CKA: unlearned vs original on the first 200 forgotten-class test images
    x = to_floats(splits.test.images[torch.nonzero(splits.test.labels == 1).flatten()[:200]])
    layers = audit.layer_cka(unlearned, ckpt.model, x)
    first = next(t for t in cka.data if t.name == "unlearned vs original")
    assert list(first.y) == pytest.approx(list(layers.values()))
    # both attacks
    un_bars = next(t for t in mia.data if t.name == "unlearned")
    assert un_bars.y[1] == pytest.approx(100 * (1 - audit.svc_mia(unlearned, splits, [1])))  # called members

    if ref is None:
        assert want.depth.probe_retrained is None
        assert any("assets/references" in w.value for w in at.warning)
        assert any(b.key == "audit_train_reference" for b in at.button)
    else:
        assert _line(shots, "retrained").y[k10] == pytest.approx(100 * want.depth.probe_retrained)

    # the costly part, behind its button: relearning curves with the backend's steps
    at.button(key="audit_costly").click().run()
    assert not at.exception, [e.value for e in at.exception]
    figs = charts(at)
    relearn = figs["Relearning: forgotten classes' test accuracy while fine-tuning"]
    target = want.before.forget_accuracy([1])
    curve = audit.relearn(unlearned, splits, [1], target, FAST)
    assert list(_line(relearn, "unlearned").y) == pytest.approx([100 * a for a in curve.forget_accuracy])
    assert len([t for t in relearn.data if t.mode == "lines"]) == (3 if ref else 2)
    k50 = figs[audit_figures.RECOVERABILITY_TITLE]
    assert 50 in list(k50.data[0].x)
