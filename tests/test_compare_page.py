"""The Compare page, driven through Streamlit's AppTest on the cheapest shipped model."""
from pathlib import Path

import pytest

from unlearning import comparison
from unlearning.checkpoints import load_checkpoint
from unlearning.data import load_dataset
from unlearning.storage import SHIPPED_DIR, list_models

ROOT = Path(__file__).resolve().parents[1]
AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
FORGET = [0]


def _widget(items, label):
    return next(w for w in items if w.label == label)


def _cheapest_shipped() -> Path:
    """The page works for any model; the test picks the cheapest one to run every method on: an MLP
    (a forward pass is one matrix product) when one is shipped, else the smallest file."""
    entries = [e for e in list_models() if e.meta is not None and e.path.parent == SHIPPED_DIR]
    mlps = [e for e in entries if e.meta["arch"] == "mlp"]
    return min(mlps or entries, key=lambda e: e.path.stat().st_size).path


def _backend(path: Path, method: str) -> comparison.MethodRow:
    """What the backend says, to hold the page's numbers against."""
    ckpt = load_checkpoint(path)
    splits = load_dataset(ckpt.meta["dataset"])
    return comparison.measure(comparison.run(method, ckpt, splits, FORGET, device="cpu"), splits, method=method)


def _pct(x: float) -> float:
    return round(100.0 * x, 1)


def test_compare_page_runs_quick_then_training_methods():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    path = _cheapest_shipped()
    at.selectbox(key="model_path").set_value(str(path)).run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert at.button(key="compare_quick").disabled  # nothing chosen yet

    class_name = load_checkpoint(path).class_names[FORGET[0]]
    _widget(at.multiselect, "Classes to forget").select(class_name).run()
    at.button(key="compare_quick").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    one_shot = f"{comparison.LABELS['mnemonic']} · {comparison.default_mode()}"
    assert list(table["method"]) == [one_shot] + [comparison.LABELS[m] for m in comparison.NO_TRAINING[1:]]
    assert table.iloc[0]["× one-shot"] == pytest.approx(1.0)
    for i, method in enumerate(comparison.NO_TRAINING[:2]):  # the page shows the backend's numbers
        want = _backend(path, method)
        row = table.iloc[i]
        assert (row["A_F %"], row["A_R %"], row["MIA %"]) == (
            _pct(want.forget_accuracy), _pct(want.retain_accuracy), _pct(want.mia))

    training = _widget(at.multiselect, "Training-based methods to run")
    training.set_value(["finetune"]).run()
    at.button(key="compare_slow").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["method"]) == [one_shot] + [comparison.LABELS[m] for m in ("finetune", "ssd", "ssd-tuned")]
    assert table.iloc[1]["A_F %"] == _pct(_backend(path, "finetune").forget_accuracy)
    assert any("retraining" in i.value.lower() for i in at.info)  # the reference is still to be run
    # the comparison downloads as one table, with the run's model and classes in each row
    csv_button = next(b for b in at.get("download_button") if b.label == "The comparison (CSV)")
    assert csv_button is not None
    # every method ran in a status box with a Stop button (a click interrupts the run at its next progress report)
    assert {b.key for b in at.button if b.key and b.key.startswith("compare_stop_")} >= {"compare_stop_finetune"}
