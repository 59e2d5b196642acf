"""The Overview page (app_pages/overview.py) through streamlit.testing: the default model, the demo
button, and the demo's headline numbers, which are the backend's for the same run."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import app, backend, banner, charts, metrics, pct
from ui import audit_text, figures, method_text
from unlearning.methods import forgetting
from unlearning.data import load_dataset
from unlearning.pipeline import check_depth
from unlearning.storage.folders import default_model_path

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


def test_overview_renders_with_the_default_model_and_a_demo_button():
    at = app()
    assert at.title[0].value == "Mnemonic Unlearning Studio"
    assert at.selectbox(key="model_path").value == str(default_model_path())
    assert at.selectbox(key="device").value in ("cpu", "cuda", "mps")
    assert at.button(key="demo_button").label == "Forget 7 now"
    # "The method here" describes the method that runs (the default), in plain words, not the paper's rule
    steps = " ".join(m.value for m in at.markdown)
    assert f"default method is **{forgetting.DEFAULT_MODE}**: {method_text.plain_mode(forgetting.DEFAULT_MODE)}" in steps


@pytest.mark.slow
def test_demo_shows_the_backends_headline(default_ckpt, mnist_test):
    at = app()
    at.button(key="demo_button").click().run()
    assert not at.exception
    want = backend(default_ckpt, mnist_test, [7])
    m = metrics(at)
    assert m["A_F · forgotten classes"] == pct(want.after.forget_accuracy([7]))
    assert m["A_R · remaining classes"] == pct(want.after.retain_accuracy([7]))
    assert m["E_F · accuracy removed"] == f"{want.efficacy:.1f}%"
    bars = charts(at)["Test accuracy per class, before and after"]
    assert figures.after_values(bars) == pytest.approx([100 * a for a in want.after.per_class_accuracy])
    want = check_depth(default_ckpt, want, load_dataset(default_ckpt.meta["dataset"]))
    tone, text = banner(at)
    assert want.verdict.message in text and want.depth.verdict.message in text
    assert tone == audit_text.verdict_tone(want)  # green only when the depth check says forgotten


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_overview_demo_offers_clothes_as_well_as_digits():
    at = app()
    data = at.button_group(key="demo_data")
    assert list(data.options) == ["Digits", "Clothes (60,000 images)"]
    data.set_value("Clothes (60,000 images)").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Ankle boot" in at.button_group(key="demo_class").options
