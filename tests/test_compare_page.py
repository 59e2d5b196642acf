"""The Compare page, driven through Streamlit's AppTest on the default shipped model."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def _widget(items, label):
    return next(w for w in items if w.label == label)


def test_compare_page_runs_quick_then_training_methods():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert at.button(key="compare_quick").disabled  # nothing chosen yet

    _widget(at.multiselect, "Classes to forget").select("0").run()
    at.button(key="compare_quick").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["method"]) == ["One-shot (mnemonic codes)", "SSD (published α=10, λ=1)",
                                     "SSD (α=5, chosen on validation)"]
    one_shot = table.iloc[0]
    assert one_shot["A_F %"] <= 2.0  # digit 0 is forgotten by the default model
    assert one_shot["× one-shot"] == pytest.approx(1.0)

    training = _widget(at.multiselect, "Training-based methods to run")
    training.set_value(["finetune"]).run()
    at.button(key="compare_slow").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert "Fine-tune" in list(table["method"]) and len(table) == 4
    assert any("retraining" in i.value.lower() for i in at.info)  # the reference is still to be run
