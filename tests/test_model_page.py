"""The Model page (app_pages/model.py) through streamlit.testing: the card, codes, uploads (good, broken,
hostile, a name that tries to leave the models folder) and training from the page. Hostile files are
written byte by byte by conftest's raw_checkpoint."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import re

import pytest
from streamlit.testing.v1 import AppTest

from conftest import (MODEL, MODEL_ID, _app, _shown_text, app, charts, metrics, mlp_tensors, no_exception, owned,
                      raw_checkpoint, session, tiny_meta)
from ui.session import state
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.storage.folders import default_model_path

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


def test_model_page_shows_the_card_codes_upload_and_training_form():
    at = app("app_pages/model.py")
    assert MODEL_ID in [s.value for s in at.subheader]
    meta = load_checkpoint(default_model_path()).meta
    assert metrics(at)["Architecture"] == meta["arch"]
    assert metrics(at)["Test accuracy"] == f"{meta['test_accuracy']:.1%}"
    assert "Mnemonic codes (top) and real images (bottom), one per class" in charts(at)
    assert at.file_uploader(key="upload").allowed_type == [".safetensors"]
    assert {"train_dataset", "train_arch", "train_epochs", "train_tmix", "train_seed"} <= {
        w.key for w in [*at.selectbox, *at.number_input, *at.slider]}


@pytest.mark.parametrize("name, data", [
    ("broken.safetensors", b"this is not a checkpoint"),
    ("empty.safetensors", b""),
    ("pickle.safetensors", b"\x80\x04\x95" + b"\x00" * 64),
])
def test_a_bad_upload_gets_a_message(name, data, local_models):
    at = app("app_pages/model.py")
    at.file_uploader(key="upload").upload(name, data).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used" in e.value for e in at.error)
    assert at.selectbox(key="model_path").value == str(default_model_path())
    assert not list(local_models.rglob("*.safetensors")) if local_models.exists() else True


def test_a_good_upload_is_selected_at_once(local_models):
    at = app("app_pages/model.py")
    at.file_uploader(key="upload").upload("my model.safetensors", default_model_path().read_bytes()).run()
    assert not at.exception, [e.value for e in at.exception]
    stored = owned(at) / "my-model.safetensors"
    assert stored.is_file()
    assert at.selectbox(key="model_path").value == str(stored)


def test_a_model_whose_data_is_not_here_gets_a_message(local_models):
    """A valid checkpoint for CIFAR-10 (not on this machine): a clear message, never a traceback."""
    from unlearning.storage.checkpoints import save_checkpoint
    from unlearning.codes import make_codes
    from unlearning.models import build_model

    shape = [3, 8, 8]
    model = build_model("mlp", shape, 10)
    path = save_checkpoint(local_models / "cifar-mlp.safetensors", model, make_codes(10, shape, 0), {
        "arch": "mlp", "dataset": "cifar10", "class_names": [f"c{i}" for i in range(10)], "input_shape": shape,
        "mean": [0.5] * 3, "std": [0.25] * 3})
    at = app("app_pages/model.py")
    at.sidebar.selectbox(key="_dataset").set_value("cifar10").run()  # its own group in the sidebar
    assert at.selectbox(key="model_path").value == str(path)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Real samples cannot be shown" in i.value for i in at.info)
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used for forgetting here" in e.value and "cifar10" in e.value for e in at.error)


def _wait(at: AppTest, timeout: float = 120):
    job = at.session_state["train_job"]
    assert job.wait(timeout), "training did not finish"
    return job


def test_train_a_model_from_the_page_and_select_it(local_models):
    at = app("app_pages/model.py")
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(2)
    at.text_input(key="train_name").set_value("tiny digits")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = _wait(at)
    assert job.state == "done", job.message
    at.run()  # the page notices, selects the model and shows the curves
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model_path").value == str(owned(at) / "tiny-digits.safetensors")
    assert metrics(at)["Dataset"] == "digits"
    share = load_checkpoint(job.path).meta["code_accuracy"]
    assert f"{share:.0%} of its codes recognised" in job.message
    assert bool(job.warning) == (share < 0.9) == any("own mnemonic codes" in w.value for w in at.warning)
    at.switch_page("app_pages/forget.py").run()  # and it can be forgotten from at once
    at.multiselect(key="classes::tiny-digits").set_value(["0"]).run()
    at.button(key="forget_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "A_F · forgotten classes" in metrics(at)


def test_training_can_be_cancelled(local_models):
    at = app("app_pages/model.py")
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(500)
    at.get("form_submit_button")[0].click().run()
    assert at.session_state["train_job"].running
    at.button(key="train_cancel").click().run()  # the button's callback stops the thread between batches
    job = _wait(at)
    assert job.state == "cancelled"
    at.run()
    assert not at.exception
    assert not list(local_models.rglob("*.safetensors")) if local_models.exists() else True
    assert at.selectbox(key="model_path").value == str(default_model_path())


def _exploit_pickle(marker: Path) -> bytes:
    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Exploit())


def _nan_checkpoint(tmp_path: Path) -> bytes:
    """A checkpoint that is valid in every respect but one NaN weight."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(MODEL), framework="pt") as f:
        header = f.metadata()
    tensors = load_file(str(MODEL))
    name = next(k for k, v in tensors.items() if k.startswith("model.") and v.is_floating_point() and v.dim() > 1)
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    out = tmp_path / "nan.safetensors"
    save_file(tensors, str(out), metadata=header)
    return out.read_bytes()


def _no_files_left(folder: Path) -> None:
    left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []
    assert left == [], left  # no checkpoint, and no hidden temporary file either (in any session's folder)


HOSTILE = {  # what is uploaded -> what the message must say
    "pickle renamed .safetensors": "not a safetensors file",
    "truncated": "not a readable safetensors file",
    "NaN weight": "NaN or infinite",
    "not a checkpoint": "not a safetensors file",
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_or_broken_upload_is_refused_with_a_message(kind, tmp_path, local_models):
    marker = tmp_path / "pwned"
    good = MODEL.read_bytes()
    data = {"pickle renamed .safetensors": lambda: _exploit_pickle(marker),
            "truncated": lambda: good[: len(good) // 2],
            "NaN weight": lambda: _nan_checkpoint(tmp_path),
            "not a checkpoint": lambda: b"<html>definitely not weights</html>" * 50}[kind]()
    at = session("app_pages/model.py")
    at.file_uploader(key="upload").upload("model.safetensors", data).run()
    no_exception(at)
    errors = [e.value for e in at.error]
    assert any(e.startswith("model.safetensors cannot be used") and HOSTILE[kind] in e for e in errors), errors
    assert at.selectbox(key=state.MODEL_KEY).value == str(MODEL)  # the selection did not move
    assert not marker.exists()  # the pickle was never unpickled
    _no_files_left(local_models)


def test_a_pt_file_is_stopped_before_the_page_runs(tmp_path, local_models):
    """The uploader takes .safetensors only. A browser will not offer a .pt; a client that sends one anyway
    is stopped by Streamlit itself (its extension check runs before the page's code, so the page cannot
    word that message, and that one run draws only Streamlit's message): the pickle is never opened,
    nothing is stored, and the next run is the page again."""
    marker = tmp_path / "pwned"
    at = session("app_pages/model.py")
    at.file_uploader(key="upload").upload("exploit.pt", _exploit_pickle(marker)).run()
    assert [e.value for e in at.exception] == ["Invalid file extension: `.pt`. Allowed: ['.safetensors']"]
    assert not marker.exists()
    _no_files_left(local_models)
    at.run()  # the next run (any click) draws the page again, and uploads work
    no_exception(at)
    at.file_uploader(key="upload").upload("model.safetensors", MODEL.read_bytes()).run()
    no_exception(at)
    assert at.selectbox(key=state.MODEL_KEY).value == str(owned(at) / "model.safetensors")


def test_an_upload_name_cannot_leave_the_models_folder(tmp_path, local_models):
    at = session("app_pages/model.py")
    at.file_uploader(key="upload").upload("../../escaped.safetensors", MODEL.read_bytes()).run()
    no_exception(at)
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert stored == [owned(at) / "escaped.safetensors"], stored
    assert not (tmp_path.parent / "escaped.safetensors").exists()
    assert at.selectbox(key=state.MODEL_KEY).value == str(stored[0])


def test_hostile_files_in_the_models_folder_are_listed_as_unusable_in_plain_text(local_models):
    local_models.mkdir(parents=True, exist_ok=True)
    raw_checkpoint(local_models / "deep.safetensors", "[" * 100_000 + "]" * 100_000, mlp_tensors())
    raw_checkpoint(local_models / "link.safetensors",
                   json.dumps(tiny_meta(format="[Model outdated - download the fix](https://evil.example/fix.exe)")),
                   mlp_tensors())
    raw_checkpoint(local_models / "bomb.safetensors", json.dumps(tiny_meta(
        class_names=["a", "b"], input_shape=[3, 1024, 1024], mean=[0.0] * 3, std=[1.0] * 3)),
        {"codes": ("F16", [2, 3, 1024, 1024])})
    at = _app(page="app_pages/model.py")
    listed = [t for t in _shown_text(at) if any(f"{n}.safetensors" in t for n in ("deep", "link", "bomb"))]
    assert len(listed) == 3, _shown_text(at)
    for text in listed:
        assert re.search(r"(?<!\\)\]\(", text) is None and "Traceback" not in text, text


@pytest.mark.parametrize("kind", ["deep", "huge integer"])
def test_a_hostile_upload_is_a_message_not_a_traceback(kind, tmp_path, local_models):
    meta = ("[" * 100_000 + "]" * 100_000 if kind == "deep"
            else json.dumps(tiny_meta()).replace('"mean"', '"seed": ' + "9" * 5000 + ', "mean"'))
    data = raw_checkpoint(tmp_path / "x.safetensors", meta, mlp_tensors()).read_bytes()
    at = _app(page="app_pages/model.py")
    at.file_uploader(key="upload").upload("x.safetensors", data).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(e.startswith("x.safetensors cannot be used") for e in errors), errors
    assert not any("Traceback" in e or "File \"" in e for e in errors)
