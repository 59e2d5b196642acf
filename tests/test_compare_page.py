"""The Compare page, driven through Streamlit's AppTest on the cheapest shipped model."""
import csv
import io
from pathlib import Path

import pytest

from unlearning import comparison
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset
from unlearning.storage.folders import SHIPPED_DIR, list_models

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


def _keep_media(monkeypatch) -> dict[str, bytes]:
    """Every file the app hands out (a download's bytes by file id): AppTest drops its media store after a run."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        file_id = real(self, data, mimetype, kind, filename)
        files[file_id] = data if isinstance(data, bytes) else data.encode()
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return files


@pytest.mark.slow
def test_compare_page_runs_quick_then_training_methods(monkeypatch):
    files = _keep_media(monkeypatch)
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
    file_id = csv_button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    downloaded = list(csv.DictReader(io.StringIO(files[file_id].decode())))
    assert [r["method"] for r in downloaded] == list(table["method"])
    assert {(r["model"], r["forget_classes"]) for r in downloaded} == {(path.stem, class_name)}
    # every method ran in a status box with a Stop button (a click interrupts the run at its next progress report)
    assert {b.key for b in at.button if b.key and b.key.startswith("compare_stop_")} >= {"compare_stop_finetune"}
