import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import save_file

from conftest import make_target, snapshot, state_hash
from unlearning.checkpoints import (FORMAT, CheckpointError, complete_meta, load_checkpoint, read_meta,
                                    save_checkpoint, validate_meta)
from unlearning.safe_io import WriteError


@pytest.fixture
def saved(tmp_path, digits_mlp):
    path = save_checkpoint(tmp_path / "m.safetensors", digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    return path


def _rewrite(path, tensors=None, meta=None, drop=()):
    """Write a variant of a saved checkpoint: other tensors or metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        old = {k: f.get_tensor(k) for k in f.keys()}
        header = f.metadata()
    old.update(tensors or {})
    for k in drop:
        old.pop(k)
    if meta is not None:
        header = {"unlearning": json.dumps(meta)}
    save_file(old, str(path), metadata=header)


def test_round_trip_keeps_weights_codes_and_metadata(saved, digits_mlp):
    ck = load_checkpoint(saved)
    assert state_hash(ck.model) == state_hash(digits_mlp.model)
    assert torch.equal(ck.codes, digits_mlp.codes)
    assert ck.meta["format"] == FORMAT and ck.meta["code_space"] == "raw"
    assert ck.meta["arch"] == "mlp" and ck.meta["dataset"] == "digits"
    assert ck.class_names == [str(i) for i in range(10)]
    for key in ("t_mix", "seed", "training", "test_accuracy", "package_version"):
        assert key in ck.meta
    assert not ck.model.training
    assert read_meta(saved) == ck.meta


def test_a_pickle_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("model.pt", "model.safetensors"):
        p = tmp_path / name
        p.write_bytes(pickle.dumps(Exploit()))
        with pytest.raises(CheckpointError, match="not a safetensors file"):
            load_checkpoint(p)
    torch.save({"w": torch.zeros(2)}, tmp_path / "zip.safetensors")
    with pytest.raises(CheckpointError, match="not a safetensors"):
        load_checkpoint(tmp_path / "zip.safetensors")
    assert not marker.exists()


def test_corrupt_and_truncated_files_are_clear_errors(tmp_path, saved):
    data = saved.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "trunc.safetensors")
    bad_header = struct.pack("<Q", 20) + b"{not json at all!!!"
    (tmp_path / "hdr.safetensors").write_bytes(bad_header)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "hdr.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "empty.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_foreign_safetensors_without_our_metadata(tmp_path):
    save_file({"w": torch.zeros(3)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match="not saved by this tool"):
        load_checkpoint(tmp_path / "x.safetensors")


def test_missing_or_misshapen_codes(saved):
    _rewrite(saved, drop=["codes"])
    with pytest.raises(CheckpointError, match="no mnemonic codes"):
        load_checkpoint(saved)
    _rewrite(saved, tensors={"codes": torch.rand(10, 1, 9, 9)})
    with pytest.raises(CheckpointError, match="codes have shape"):
        load_checkpoint(saved)


def test_weights_that_do_not_match_the_architecture(saved, digits_mlp):
    meta = dict(read_meta(saved), arch="cnn")
    _rewrite(saved, meta=meta)
    with pytest.raises(CheckpointError, match="do not match architecture 'cnn'"):
        load_checkpoint(saved)


def test_class_count_must_match_the_head(saved):
    meta = read_meta(saved)
    meta = dict(meta, class_names=meta["class_names"] + ["ten"])
    _rewrite(saved, meta=meta, tensors={"codes": torch.rand(11, 1, 8, 8)})
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(saved)


def test_unknown_architecture_in_metadata(saved):
    _rewrite(saved, meta=dict(read_meta(saved), arch="mystery"))
    with pytest.raises(CheckpointError, match="cannot rebuild the model: unknown architecture"):
        load_checkpoint(saved)


def test_nan_or_infinite_weights_are_refused(saved, digits_mlp, tmp_path):
    w = digits_mlp.model.state_dict()["net.fc1.weight"].clone()
    w[0, 0] = float("nan")
    _rewrite(saved, tensors={"model.net.fc1.weight": w})
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_checkpoint(saved)
    bad = torch.nn.Linear(2, 2)
    with torch.no_grad():
        bad.weight[0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        save_checkpoint(tmp_path / "inf.safetensors", bad, torch.rand(2, 1, 1, 1),
                        dict(arch="mlp", dataset="x", class_names=["a", "b"], input_shape=[1, 1, 1], mean=[0.0], std=[1.0]))


GOOD = dict(arch="mlp", dataset="digits", class_names=["a", "b"], input_shape=[1, 8, 8], mean=[0.0], std=[1.0])


@pytest.mark.parametrize("change, message", [
    (dict(arch=3), "wrong type"),
    (dict(class_names=["a"]), "class_names"),
    (dict(class_names=["a", "a"]), "distinct"),
    (dict(class_names=["a", ""]), "class_names"),
    (dict(input_shape=[2, 8, 8]), "input_shape"),
    (dict(input_shape=[1, 8]), "input_shape"),
    (dict(input_shape=[1, 8, 100000]), "input_shape"),
    (dict(mean=[0.0, 0.0]), "mean"),
    (dict(std=[0.0]), "positive"),
    (dict(std=[float("nan")]), "std"),
    (dict(t_mix=1.5), "t_mix"),
    (dict(t_mix=True), "wrong type"),
    (dict(test_accuracy=2.0), "test_accuracy"),
    (dict(seed="zero"), "wrong type"),
    (dict(code_space="normalised"), "code_space"),
    (dict(format="other/9"), "unsupported"),
])
def test_metadata_is_validated_field_by_field(change, message):
    with pytest.raises(CheckpointError, match=message):
        validate_meta({**complete_meta(GOOD), **change})
    with pytest.raises(CheckpointError, match="lacks the field 'arch'"):
        validate_meta({k: v for k, v in complete_meta(GOOD).items() if k != "arch"})
    with pytest.raises(CheckpointError, match="JSON object"):
        validate_meta(["not", "a", "dict"])


def test_save_refuses_codes_of_the_wrong_shape(tmp_path, digits_mlp):
    with pytest.raises(CheckpointError, match="codes have shape"):
        save_checkpoint(tmp_path / "m.safetensors", digits_mlp.model, torch.rand(3, 1, 8, 8), digits_mlp.meta)
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic_no_half_written_file_on_failure(tmp_path, digits_mlp, monkeypatch):
    import safetensors.torch as st

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(st, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "m.safetensors", digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["character device", "symbolic link", "dangling link", "directory"])
def test_save_checkpoint_refuses_special_targets(kind, tmp_path, digits_mlp):
    target = make_target(tmp_path, kind)
    before = snapshot(tmp_path)
    with pytest.raises(WriteError, match="refusing to write"):
        save_checkpoint(target, digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    assert snapshot(tmp_path) == before
