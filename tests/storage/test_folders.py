import pickle
from pathlib import Path

import pytest

from unlearning.storage.checkpoints import CheckpointError, save_checkpoint
from unlearning.storage.folders import (SHIPPED_DIR, default_model_path, is_owner, list_models, model_folders, new_owner,
                                owner_dir, safe_filename, store_upload, unique_path)


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


# --- each session's own models -------------------------------------------------------------------------

@pytest.mark.parametrize("token, ok", [
    ("0123456789abcdef", True), ("f" * 32, True), ("0123456789abcde", False), ("f" * 33, False),
    ("0123456789ABCDEF", False), ("../../etc/passwd", False), ("0123456789abcdef/..", False),
    ("0123456789abcdef\n", False), ("", False), (None, False), (123, False), (["a" * 16], False),
])
def test_an_owner_token_is_16_to_32_lowercase_hex_digits_and_nothing_else(token, ok):
    assert is_owner(token) is ok
    if ok:
        assert owner_dir(token, "/m") == Path("/m/sessions") / token
    else:
        with pytest.raises(ValueError):
            owner_dir(token, "/m")


def test_new_owner_tokens_are_valid_and_different():
    tokens = {new_owner() for _ in range(50)}
    assert len(tokens) == 50 and all(is_owner(t) for t in tokens)


def test_a_session_lists_shipped_its_own_then_the_operators_models_never_anothers(tmp_path, monkeypatch,
                                                                                checkpoint_bytes):
    monkeypatch.setenv("UNLEARNING_MODELS", str(tmp_path / "models"))
    me, other = "a" * 32, "b" * 32
    mine = store_upload(checkpoint_bytes, "mine", owner_dir(me))
    theirs = store_upload(checkpoint_bytes, "theirs", owner_dir(other))
    operator = store_upload(checkpoint_bytes, "operator", tmp_path / "models")
    assert list(model_folders(me)) == ["shipped", "yours", "local"] and list(model_folders()) == ["shipped", "local"]
    entries = list_models(owner=me)
    by_source = {s: [e.path for e in entries if e.source == s] for s in ("shipped", "yours", "local")}
    assert by_source["yours"] == [mine] and by_source["local"] == [operator]
    assert by_source["shipped"] == sorted(SHIPPED_DIR.glob("*.safetensors"))
    assert [e.source for e in entries] == sorted((e.source for e in entries), key=["shipped", "yours", "local"].index)
    assert theirs not in [e.path for e in entries]
    assert [e.path for e in list_models(owner=other) if e.source == "yours"] == [theirs]
    assert [e.source for e in list_models() if e.path == mine] == []  # no owner: nobody's models but the operator's


def test_a_new_models_name_repeats_none_in_the_other_listed_folders(tmp_path, checkpoint_bytes):
    own, local = tmp_path / "models" / "sessions" / ("c" * 16), tmp_path / "models"
    store_upload(checkpoint_bytes, "same", local)
    assert unique_path(own, "same", also=(local,)) == own / "same-1.safetensors"
    assert store_upload(checkpoint_bytes, "same", own, also=(local,)) == own / "same-1.safetensors"
    assert unique_path(own, "same", also=(local,)) == own / "same-2.safetensors"
    assert unique_path(own, "../other/../same") == own / "same.safetensors"  # still a plain name in the folder


def test_an_upload_never_lands_on_a_link(tmp_path, digits_mlp):
    data = save_checkpoint(tmp_path / "src.safetensors", digits_mlp.model, digits_mlp.codes, digits_mlp.meta).read_bytes()
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "precious.txt").write_text("keep me")
    (folder / "m.safetensors").symlink_to(tmp_path / "precious.txt")
    stored = store_upload(data, "m.safetensors", folder)
    assert stored == folder / "m-1.safetensors" and (tmp_path / "precious.txt").read_text() == "keep me"
    assert (folder / "m.safetensors").is_symlink()
