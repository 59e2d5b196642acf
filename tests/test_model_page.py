"""The Model page (app_pages/model.py) through streamlit.testing: the card, codes, uploads (good, broken,
hostile, a name that tries to leave the models folder) and training from the page. Hostile files are
written byte by byte by conftest's raw_checkpoint."""
from __future__ import annotations

import json
import re

import pytest

from conftest import _app, _shown_text, mlp_tensors, raw_checkpoint, tiny_meta

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


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
