import pickle

import pytest

from unlearning.checkpoints import CheckpointError, save_checkpoint
from unlearning.storage import default_model_path, list_models, safe_filename, store_upload


@pytest.mark.parametrize("raw, expected", [
    ("model.safetensors", "model.safetensors"),
    ("../../etc/passwd", "passwd.safetensors"),
    ("..\\..\\windows\\evil.safetensors", "evil.safetensors"),
    ("/abs/path/x.safetensors", "x.safetensors"),
    ("...", "model.safetensors"),
    ("", "model.safetensors"),
    (".hidden", "hidden.safetensors"),
    ("my model (v2)!.safetensors", "my-model-v2.safetensors"),
    ("a" * 500, "a" * 80 + ".safetensors"),
])
def test_user_names_become_plain_file_names(raw, expected):
    assert safe_filename(raw) == expected


@pytest.fixture
def checkpoint_bytes(tmp_path, digits_mlp):
    p = save_checkpoint(tmp_path / "src.safetensors", digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    return p.read_bytes()


def test_an_upload_is_validated_and_kept_under_a_safe_unused_name(tmp_path, checkpoint_bytes):
    folder = tmp_path / "models"
    first = store_upload(checkpoint_bytes, "../../outside.safetensors", folder)
    second = store_upload(checkpoint_bytes, "../../outside.safetensors", folder)
    assert first == folder / "outside.safetensors" and second == folder / "outside-1.safetensors"
    assert not (tmp_path / "outside.safetensors").exists()
    assert sorted(e.name for e in list_models({"local": folder})) == ["outside", "outside-1"]


def test_bad_uploads_leave_nothing_behind(tmp_path, checkpoint_bytes):
    folder = tmp_path / "models"
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cases = [(pickle.dumps(Exploit()), 10**9, "not a safetensors"), (b"", 10**9, "empty"),
             (checkpoint_bytes[:1000], 10**9, "safetensors"), (checkpoint_bytes, len(checkpoint_bytes) - 1, "limited to")]
    for data, cap, message in cases:
        with pytest.raises(CheckpointError, match=message):
            store_upload(data, "x.safetensors", folder, max_bytes=cap)
    assert not marker.exists()
    assert not folder.exists() or list(folder.iterdir()) == []


def test_listing_skips_writes_in_progress_and_reports_broken_files(tmp_path, checkpoint_bytes):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "good.safetensors").write_bytes(checkpoint_bytes)
    (folder / ".good.safetensors.abc.tmp").write_bytes(checkpoint_bytes[:100])
    (folder / ".partial.safetensors").write_bytes(b"half")
    (folder / "broken.safetensors").write_bytes(b"garbage")
    entries = {e.name: e for e in list_models({"local": folder})}
    assert set(entries) == {"good", "broken"}
    assert entries["good"].meta["dataset"] == "digits" and entries["good"].error is None
    assert entries["broken"].meta is None and "not a safetensors" in entries["broken"].error


def test_an_interrupted_write_never_shows_up(tmp_path, digits_mlp, monkeypatch):
    import safetensors.torch as st

    def power_cut(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)
        raise KeyboardInterrupt

    monkeypatch.setattr(st, "save_file", power_cut)
    folder = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(folder / "new.safetensors", digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    assert list_models({"local": folder}) == []


def test_the_shipped_default_exists_and_is_listed():
    path = default_model_path()
    assert path.is_file()
    assert any(e.path == path and e.source == "shipped" and e.error is None for e in list_models())
