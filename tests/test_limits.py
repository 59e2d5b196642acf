"""Issue 20: nothing one file or one link can break. Hostile checkpoints, random metadata, random nested
JSON and random address parameters against the loader, the model listing and the link parser: never a
traceback, never an allocation beyond the stated limits (unlearning.storage.checkpoints), always one sentence.

Every case here is listed, one line each, in tests/README.md.
"""
from __future__ import annotations

import json
import os
import re
import stat
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from unlearning.storage import checkpoints
from unlearning.storage.checkpoints import (MAX_META_BYTES, MAX_META_DEPTH, MAX_PARAMS, CheckpointError, load_checkpoint,
                                    read_meta, save_checkpoint)
from unlearning.cli import main
from unlearning.codes import CODE_SPACE
from unlearning.models import build_model
from unlearning.storage.safe_io import WriteError, atomic_write
from unlearning.storage.folders import list_models

ROOT = Path(__file__).resolve().parents[1]
QUICK = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# --- files written by hand, as an attacker would --------------------------------------------------------

def tiny_meta(**over) -> dict:
    meta = {"format": checkpoints.FORMAT, "code_space": CODE_SPACE, "arch": "mlp", "dataset": "digits",
            "class_names": [str(i) for i in range(10)], "input_shape": [1, 8, 8], "mean": [0.0], "std": [1.0]}
    return {**meta, **over}


def raw_checkpoint(path: Path, meta_text: str | None, tensors: dict[str, tuple[str, list[int]]],
                   extra_meta: str = "") -> Path:
    """A safetensors file built byte by byte: ``tensors`` name -> (dtype, shape), filled with zeros;
    ``extra_meta`` is spliced into the header's metadata object as is (duplicate keys, odd values)."""
    size = {"F32": 4, "F16": 2, "I32": 4, "I64": 8}
    entries, offset = [], 0
    for name, (dtype, shape) in tensors.items():
        n = size[dtype]
        for s in shape:
            n *= s
        entries.append(f'{json.dumps(name)}: {{"dtype": "{dtype}", "shape": {json.dumps(shape)}, '
                       f'"data_offsets": [{offset}, {offset + n}]}}')
        offset += n
    meta_items = [] if meta_text is None else [f'"unlearning": {json.dumps(meta_text)}']
    if extra_meta:
        meta_items.append(extra_meta)
    header = "{" + ", ".join([f'"__metadata__": {{{", ".join(meta_items)}}}', *entries]) + "}"
    raw = header.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path


def mlp_tensors(classes: int = 10, shape=(1, 8, 8)) -> dict[str, tuple[str, list[int]]]:
    inputs = 1
    for s in shape:
        inputs *= s
    return {"codes": ("F32", [classes, *shape]), "model.net.fc1.weight": ("F32", [1000, inputs]),
            "model.net.fc1.bias": ("F32", [1000]), "model.net.fc2.weight": ("F32", [classes, 1000]),
            "model.net.fc2.bias": ("F32", [classes])}


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


# --- harm 1-3: the files of the issue --------------------------------------------------------------------

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


def test_info_fails_for_a_file_the_loader_would_refuse(tmp_path, capsys):
    for over in ({"arch": "os.system"}, {"class_names": ["a", "b", "c"]}):
        path = raw_checkpoint(tmp_path / "i.safetensors", json.dumps(tiny_meta(**over)), mlp_tensors())
        assert main(["info", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err


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


# --- property tests: random metadata, random nesting, random addresses ------------------------------------

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


@QUICK
@given(params=st.dictionaries(
    st.sampled_from(["model", "forget", "method", "l1", "l2", "owner", "x"]),
    st.lists(st.text(alphabet="[]()!:/.3 abchtps*_`$<>#\n\\", max_size=40), max_size=5)
    | st.integers(0, 1500).map(lambda n: ["3"] * n),
    max_size=5))
def test_random_address_parameters_give_a_run_none_or_a_sentence(params):
    from ui.session import links
    from ui.plain import plain

    try:
        request = links.decode(params)
    except ValueError as e:
        assert not _unescaped(plain(e))
    else:
        assert request is None or isinstance(request, links.RunRequest)


def _unescaped(shown: str) -> str:
    """The markdown left live in ``shown``: a special character without its backslash, or (in the text as
    parsed, backslashes gone) an autolink or a Streamlit directive, or a list mark at the start."""
    from ui.plain import DIRECTIVE_COLON, SPECIAL

    found = "".join(c for c in re.sub(r"\\.", "", shown) if c in SPECIAL)
    parsed = re.sub(r"\\(.)", r"\1", shown)
    if DIRECTIVE_COLON.search(parsed) or re.search(r"(?i)\bwww\.|@[\w.+-]", parsed):
        found += "(autolink or directive)"
    if re.match(r"[-+=]|\d+[.)]", shown):
        found += "(list)"
    return found


@given(text=st.text(max_size=300))
def test_plain_escapes_every_markdown_character_and_keeps_one_line(text):
    from ui.plain import plain

    shown = plain(text)
    assert "\n" not in shown and not _unescaped(shown)


def test_plain_defuses_the_links_and_images_of_the_issue():
    from ui.plain import plain

    for text in ("[Session expired - click here to sign in](https://evil.example/login)",
                 "![t](https://evil.example/pixel.png)", "[Model outdated](https://evil.example/fix.exe)"):
        shown = plain(text)
        assert re.search(r"(?<!\\)\]\(", shown) is None and "https:\u200b//" in shown and not _unescaped(shown)


# --- writes: the mode of a replaced file, dead writers' leftovers, a full disk ---------------------------

def test_saving_over_a_private_file_keeps_it_private(tmp_path):
    target = tmp_path / "good.safetensors"
    target.write_bytes(b"old")
    target.chmod(0o600)
    atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() == b"new"


def test_the_temporary_files_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    left = tmp_path / f".out.safetensors.{pid}.abc123.tmp"
    left.write_bytes(b"half")
    mine = tmp_path / f".other.safetensors.{os.getpid()}.xyz.tmp"  # a live writer's: kept
    mine.write_bytes(b"busy")
    atomic_write(tmp_path / "out.safetensors", b"whole")
    assert not left.exists() and mine.exists()


def test_a_full_disk_names_the_path(tmp_path):
    from safetensors import SafetensorError

    def fill(tmp: str) -> None:
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    target = tmp_path / "full.safetensors"
    with pytest.raises(WriteError, match=re.escape(repr(str(target))) + ".*No space left"):
        atomic_write(target, fill)
    assert list(tmp_path.iterdir()) == []


# --- the command line: quiet or late inputs --------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits_mlp):
    path = tmp_path_factory.mktemp("cli") / "d.safetensors"
    save_checkpoint(path, digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    return path


def one_error(capsys, argv: list[str], *words: str) -> None:
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("... ")]
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    for w in words:
        assert w in err[0], err[0]


@pytest.mark.parametrize("flags, words", [
    (["--save", ""], ["--save is empty"]),
    (["--save", "DIR/newdir/"], ["names a folder"]),
    (["--save", "out.pt"], ["must end in .safetensors"]),
    (["--device", ""], ["unknown device ''"]),
    (["--device", "foo"], ["unknown device 'foo'"]),
    (["--lambda1", "nan", "--mode", "paper"], ["--lambda1"]),
])
def test_forget_refuses_quiet_inputs_up_front(saved, tmp_path, capsys, flags, words):
    flags = [f.replace("DIR", str(tmp_path)) for f in flags]
    one_error(capsys, ["forget", str(saved), "--classes", "3", "--no-depth", *flags], *words)
    assert not (tmp_path / "newdir").exists() and not Path("out.pt").exists()


@pytest.mark.parametrize("flags, words", [
    (["--lr", "inf"], ["--lr"]), (["--lr", "1e30"], ["--lr"]), (["--weight-decay", "nan"], ["--weight-decay"]),
    (["--seed", str(2**70)], ["--seed"]), (["--epochs", "0"], ["--epochs"]), (["--t-mix", "2"], ["--t-mix"]),
    (["--out", "x.pt"], ["must end in .safetensors"]),
])
def test_train_refuses_bad_numbers_before_training(tmp_path, capsys, flags, words):
    out = ["--out", str(tmp_path / "m.safetensors")] if "--out" not in flags else []
    one_error(capsys, ["train", "--dataset", "digits", "--epochs", "1", *out, *flags], *words)
    assert list(tmp_path.iterdir()) == []


def test_repeated_classes_add_up(saved, capsys):
    assert main(["forget", str(saved), "--classes", "3", "--classes", "5", "--json", "--no-depth"]) == 0
    assert json.loads(capsys.readouterr().out)["forget_classes"] == [3, 5]


def test_the_forgetting_result_is_printed_before_the_depth_check_starts(saved, capsys, monkeypatch):
    from unlearning import cli

    seen = {}

    def depth(*args, **kwargs):
        seen.update(out=capsys.readouterr())
        raise ValueError("stopped here by the test")

    monkeypatch.setattr(cli, "check_depth", depth)
    assert main(["forget", str(saved), "--classes", "3"]) == 2
    assert seen["out"].out.startswith("forgot ['3']") and "E_F" in seen["out"].out
    assert "... depth check" in seen["out"].err and "... forgetting" in seen["out"].err


def test_a_file_name_with_a_newline_cannot_forge_a_line(saved, tmp_path, capsys):
    target = tmp_path / "x\nsaved /etc/passwd.safetensors"
    assert main(["forget", str(saved), "--classes", "3", "--no-depth", "--save", str(target)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("saved /etc/passwd") for line in out)
    assert any(line.startswith("saved '") and "\\n" in line for line in out)


# --- the library ------------------------------------------------------------------------------------------

def test_the_library_refuses_string_lambdas_and_meta_codes(digits_mlp):
    from unlearning.methods.forgetting import forget

    with pytest.raises(ValueError, match="lambda1 must be a number"):
        forget(digits_mlp.model, digits_mlp.codes, [1], lambda1="0.001", mode="paper")
    with pytest.raises(ValueError, match="meta"):
        forget(digits_mlp.model, digits_mlp.codes.to("meta"), [1], mode="classifier")


def test_the_readme_states_the_limits_the_code_enforces():
    from unlearning.storage.checkpoints import MAX_CLASSES, MAX_FILE_BYTES, MAX_HEADER_BYTES, MAX_SIDE

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for fact in (f"| file size | {MAX_FILE_BYTES // 2**20} MiB |", f"{MAX_PARAMS:,} values",
                 f"sides 1 to {MAX_SIDE} px", f"2 to {MAX_CLASSES} |", f"| safetensors header | {MAX_HEADER_BYTES // 2**20} MiB |",
                 f"{MAX_META_BYTES // 1024} KiB, nested at most {MAX_META_DEPTH} levels"):
        assert fact in text, fact


# --- the app: markdown from the address and from files, hostile files in the folder and in uploads ---------

APP = str(ROOT / "app.py")


def _app(query: dict | None = None, page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    if query:
        at.query_params = query
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shown_text(at) -> list[str]:
    return [m.value for kind in (at.warning, at.error, at.info, at.markdown, at.caption) for m in kind]


@pytest.mark.parametrize("query", [
    {"model": "[Session expired - click here to sign in](https://evil.example/login)", "forget": ["3"]},
    {"model": "![t](https://evil.example/pixel.png)", "forget": ["3"]},
    {"model": "mlp-mnist5k", "forget": ["3"], "method": "[fix](https://evil.example)"},
    {"model": "mlp-mnist5k", "forget": ["3"], "method": "paper", "l1": "[fix](https://evil.example)"},
    # 999 and not 1,000: Streamlit itself drops an address of over 1,000 parameters before any app code runs
    {"model": "mlp-mnist5k", "forget": ["3"] * 999},
])
def test_markdown_in_the_address_is_shown_as_text_and_every_case_is_answered(query, local_models):
    at = _app(query)
    warnings = [w.value for w in at.warning]
    assert warnings, "the address was dropped without a word"
    for text in _shown_text(at):
        assert re.search(r"(?<!\\)\]\(|(?<!\\)!\\?\[", text) is None, text  # no live link, no image


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
