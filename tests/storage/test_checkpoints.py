import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given, strategies as st
from safetensors.torch import save_file

from conftest import (QUICK, ROOT, make_target, mlp_tensors, raw_checkpoint, snapshot, state_hash,
                      tiny_meta)
from unlearning.storage.checkpoints import (FORMAT, CheckpointError, complete_meta, load_checkpoint, read_meta,
                                    save_checkpoint, validate_meta)
from unlearning.storage import checkpoints
from unlearning.storage.checkpoints import MAX_META_BYTES, MAX_META_DEPTH, MAX_PARAMS
from unlearning.models import build_model
from unlearning.storage.safe_io import WriteError
from unlearning.storage.folders import list_models


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


@pytest.fixture
def real_builds(monkeypatch):
    """Every model the loader builds for real (not on the meta device): none may exceed MAX_PARAMS."""
    built = []

    def watched(*args, **kwargs):
        model = build_model(*args, **kwargs)
        if any(p.device.type != "meta" for p in model.parameters()):
            count = sum(p.numel() for p in model.parameters())
            assert count <= MAX_PARAMS, count
            built.append(count)
        return model

    monkeypatch.setattr(checkpoints, "build_model", watched)
    return built


def refused(path: Path, *words: str) -> str:
    """Both readers refuse ``path`` with one CheckpointError sentence holding ``words``; the listing names it."""
    for read in (read_meta, load_checkpoint):
        with pytest.raises(CheckpointError) as e:
            read(path)
        message = str(e.value)
        assert "\n" not in message and len(message) < 700, message
        for w in words:
            assert w in message, message
    [entry] = list_models({"local": path.parent})
    assert entry.meta is None and entry.error
    return message


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


def test_deeply_nested_metadata_is_refused_and_the_listing_goes_on(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    raw_checkpoint(tmp_path / "deep.safetensors", deep, mlp_tensors())
    refused(tmp_path / "deep.safetensors", "deep.safetensors")
    # just under the parser's own limit too: refused by depth, not by a RecursionError later
    raw_checkpoint(tmp_path / "deep.safetensors", json.dumps(tiny_meta(training={"a": _nested(MAX_META_DEPTH)})),
                   mlp_tensors())
    refused(tmp_path / "deep.safetensors", f"more than {MAX_META_DEPTH} levels")


def test_the_memory_bomb_is_refused_before_anything_is_built(tmp_path, real_builds):
    """MLP on [3, 1024, 1024] with float16 codes and no weights: the model would be 3.1 G parameters."""
    bomb = raw_checkpoint(tmp_path / "bomb.safetensors", json.dumps(tiny_meta(
        class_names=["a", "b"], input_shape=[3, 1024, 1024], mean=[0.0] * 3, std=[1.0] * 3)),
        {"codes": ("F16", [2, 3, 1024, 1024])})
    refused(bomb, "limit is 100,000,000")
    assert real_builds == []


def test_a_huge_torchvision_model_named_by_a_small_file_is_refused_at_once(tmp_path, real_builds):
    import time

    vit = raw_checkpoint(tmp_path / "vit.safetensors", json.dumps(tiny_meta(
        arch="tv:vit_h_14", input_shape=[3, 32, 32], mean=[0.0] * 3, std=[1.0] * 3)),
        {"codes": ("F32", [10, 3, 32, 32]), "model.x": ("F32", [700_000])})
    start = time.perf_counter()
    refused(vit, "'tv:vit_h_14'", "limit")
    assert time.perf_counter() - start < 20 and real_builds == []  # was 127 s building 632 M parameters


def test_weights_that_do_not_match_the_architecture_are_refused_before_it_is_built(tmp_path, real_builds):
    tensors = mlp_tensors()
    tensors["model.net.fc1.weight"] = ("F32", [1000, 63])
    refused(raw_checkpoint(tmp_path / "m.safetensors", json.dumps(tiny_meta()), tensors), "wrong shape")
    del tensors["model.net.fc1.weight"]
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(raw_checkpoint(tmp_path / "m.safetensors", json.dumps(tiny_meta()), tensors))
    assert real_builds == []


@pytest.mark.parametrize("case, meta_text, extra, words", [
    ("two unlearning keys", json.dumps(tiny_meta()), f'"unlearning": {json.dumps(json.dumps(tiny_meta()))}',
     ["appears twice"]),
    ("duplicate key inside the metadata", '{"arch": "mlp", "arch": "cnn"}', "", ["appears twice"]),
    ("huge integer", json.dumps(tiny_meta()).replace('"mean"', '"seed": ' + "9" * 5000 + ', "mean"'), "",
     ["not valid JSON"]),
    ("integer beyond 64 bits", json.dumps(tiny_meta(seed=2**70)), "", ["64 bits"]),
    ("metadata over the byte limit", json.dumps(tiny_meta(created="x" * MAX_META_BYTES)), "", ["KiB"]),
    ("architecture os.system", json.dumps(tiny_meta(arch="os.system")), "", ["unknown architecture 'os.system'"]),
    ("codes not matching the classes", json.dumps(tiny_meta(class_names=["a", "b", "c"])), "", ["codes have shape"]),
    ("a class name with a link for the charts",
     json.dumps(tiny_meta(class_names=['<a href="https://evil.example">0</a>', *map(str, range(1, 10))])), "",
     ["markup characters"]),
    ("not JSON", "{nope", "", ["not valid JSON"]),
    ("metadata not text", None, '"unlearning": 5', ["not text"]),
])
def test_a_hostile_header_is_one_sentence(tmp_path, case, meta_text, extra, words):
    refused(raw_checkpoint(tmp_path / "h.safetensors", meta_text, mlp_tensors(), extra_meta=extra), *words)


def test_the_app_process_stays_small_while_it_lists_and_refuses_the_bomb(tmp_path):
    """Peak memory of a fresh process that lists the bomb, uploads it and loads it (the 12.6 GB case)."""
    raw_checkpoint(tmp_path / "bomb.safetensors", json.dumps(tiny_meta(
        class_names=["a", "b"], input_shape=[3, 1024, 1024], mean=[0.0] * 3, std=[1.0] * 3)),
        {"codes": ("F16", [2, 3, 1024, 1024])})
    script = (
        "import resource, sys; from pathlib import Path\n"
        "from unlearning.storage.folders import list_models, store_upload\n"
        "from unlearning.storage.checkpoints import load_checkpoint, CheckpointError\n"
        f"p = Path({str(tmp_path / 'bomb.safetensors')!r})\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert list_models({'local': p.parent})[0].error\n"
        "for f in (lambda: load_checkpoint(p), lambda: store_upload(p.read_bytes(), 'b.safetensors', p.parent / 'up')):\n"
        "    try: f()\n"
        "    except CheckpointError: pass\n"
        "    else: sys.exit('accepted')\n"
        "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    before, peak = (int(x) for x in proc.stdout.split())
    assert (peak - before) < 200 * 1024, (before, peak)  # KiB: the file's own 12.5 MB, never the 12.6 GB model


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


FIELDS = sorted({*checkpoints.REQUIRED, *checkpoints.OPTIONAL, "forgotten"})


odd_fields = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=4)


@QUICK
@given(changes=odd_fields, drop=st.lists(st.sampled_from(FIELDS), max_size=2))
def test_random_metadata_never_raises_anything_but_a_sentence(real_builds, changes, drop):
    with tempfile.TemporaryDirectory() as d:
        meta = {k: v for k, v in {**tiny_meta(), **changes}.items() if k not in drop}
        path = raw_checkpoint(Path(d) / "r.safetensors", json.dumps(meta), mlp_tensors())
        for read in (read_meta, load_checkpoint):
            try:
                read(path)
            except CheckpointError as e:
                assert "\n" not in str(e)
        assert len(list_models({"local": Path(d)})) == 1


@QUICK
@given(text=st.text(max_size=200))
def test_random_metadata_text_never_raises_anything_but_a_sentence(text):
    with tempfile.TemporaryDirectory() as d:
        path = raw_checkpoint(Path(d) / "t.safetensors", text, mlp_tensors())
        with pytest.raises(CheckpointError):
            read_meta(path)


def test_random_nested_json_never_breaks_the_loader_or_the_listing(tmp_path):
    import random

    rng = random.Random(20)
    for i in range(40):
        depth = rng.choice([1, 5, MAX_META_DEPTH - 2, MAX_META_DEPTH + 1, 900, 5000, rng.randint(1, 200_000)])
        opens = "".join(rng.choice(['[', '{"k":']) for _ in range(depth))
        closes = "".join("]" if c == "[" else "}" for c in reversed([o[0] for o in re.findall(r'\[|\{"k":', opens)]))
        nested = opens + "1" + closes
        where = rng.choice(["whole", "training", "card"])
        text = nested if where == "whole" else json.dumps(tiny_meta()).replace('"arch"', f'"{where}": {nested}, "arch"')
        path = raw_checkpoint(tmp_path / f"n{i}.safetensors", text, mlp_tensors())
        try:
            read_meta(path)
        except CheckpointError:
            pass
    entries = list_models({"local": tmp_path})
    assert len(entries) == 40 and all(e.meta is not None or e.error for e in entries)


def test_the_readme_states_the_limits_the_code_enforces():
    from unlearning.storage.checkpoints import MAX_CLASSES, MAX_FILE_BYTES, MAX_HEADER_BYTES, MAX_SIDE

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for fact in (f"| file size | {MAX_FILE_BYTES // 2**20} MiB |", f"{MAX_PARAMS:,} values",
                 f"sides 1 to {MAX_SIDE} px", f"2 to {MAX_CLASSES} |", f"| safetensors header | {MAX_HEADER_BYTES // 2**20} MiB |",
                 f"{MAX_META_BYTES // 1024} KiB, nested at most {MAX_META_DEPTH} levels"):
        assert fact in text, fact


@pytest.mark.parametrize("kind", ["character device", "symbolic link", "dangling link", "directory"])
def test_save_checkpoint_refuses_special_targets(kind, tmp_path, digits_mlp):
    target = make_target(tmp_path, kind)
    before = snapshot(tmp_path)
    with pytest.raises(WriteError, match="refusing to write"):
        save_checkpoint(target, digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    assert snapshot(tmp_path) == before
