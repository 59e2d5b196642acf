"""Careless and hostile input, end to end: one `error:` line and exit status 2, or the right answer.

The command line runs as a subprocess (``python3 -m unlearning ...``), exactly as a user runs it;
every refusal must leave the file system as it was. Library-level cases follow.
"""
from __future__ import annotations

import copy
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli
from unlearning.storage import strict_json
from unlearning.storage.checkpoints import load_checkpoint, save_checkpoint
from unlearning.methods.forgetting import forget
from unlearning.inputs import check_classes, check_codes, class_index, model_dtype
from unlearning.evaluation.metrics import Evaluation, evaluate
from unlearning.models import ARCHITECTURES
from unlearning.pipeline import forget_and_evaluate, forgotten_meta, previously_forgotten, verdict
from unlearning.storage.safe_io import WriteError, atomic_write, check_target
from unlearning.storage.folders import store_upload

SHIPPED = ROOT / "assets" / "models" / "mlp-mnist5k.safetensors"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


cli = run_cli  # in this process: refusals need no interpreter of their own (test_cli keeps one real process)


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, exactly one line on stderr starting with 'error:', nothing on stdout, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for w in words:
        assert w in lines[0], lines[0]


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder``: kind, mode, device number, link target, bytes of regular files."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        out[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_rdev,
                                           os.readlink(p) if p.is_symlink() else None,
                                           p.read_bytes() if stat.S_ISREG(st.st_mode) else None)
    return out


def make_target(folder: Path, kind: str) -> Path:
    target = folder / "target.safetensors"
    if kind == "character device":
        if not IS_ROOT:
            pytest.skip("making a character device needs root")
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    elif kind == "symbolic link":
        (folder / "precious.txt").write_text("keep me")
        target.symlink_to(folder / "precious.txt")
    elif kind == "dangling link":
        target.symlink_to(folder / "nowhere.safetensors")
    elif kind == "directory":
        target.mkdir()
        (target / "inside.txt").write_text("keep me too")
    return target


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory, digits_mlp):
    """The small digits model as a file, for the CLI (its dataset loads in a blink)."""
    path = tmp_path_factory.mktemp("hostile") / "digits.safetensors"
    return save_checkpoint(path, digits_mlp.model, digits_mlp.codes, digits_mlp.meta)


def _rewrite(src: Path, dst: Path, change) -> Path:
    """A copy of a checkpoint with its tensors or header changed by ``change(tensors, header)``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), "pt") as f:
        header = f.metadata()
    tensors = load_file(str(src))
    header = change(tensors, header) or header
    save_file(tensors, str(dst), metadata=header)
    return dst


def _int_weights(t, h):
    t["model.net.fc2.weight"] = (t["model.net.fc2.weight"] * 100).to(torch.int32)


def _nan_meta(t, h):
    meta = json.loads(h["unlearning"])
    meta["forgotten"] = {"forget_classes": [3], "E_F": float("nan")}
    return {"unlearning": json.dumps(meta)}  # Python's json writes NaN here, as saving once did


# name: (how to prepare the folder, the command, words the one error line must hold)
REFUSALS = {
    "save onto a character device": ("character device", ["forget", SHIPPED, "--classes", "3", "--save", "{target}"],
                                     ["character device"]),
    "save onto a symbolic link": ("symbolic link", ["forget", SHIPPED, "--classes", "3", "--save", "{target}"],
                                  ["symbolic link"]),
    "save onto a directory": ("directory", ["forget", SHIPPED, "--classes", "3", "--save", "{target}"], ["directory"]),
    "train --out onto a directory": ("directory", ["train", "--dataset", "digits", "--epochs", "1", "--out", "{target}"],
                                     ["directory"]),
    "save under /sys": (None, ["forget", SHIPPED, "--classes", "3", "--save", "/sys/kernel/forgotten.safetensors"],
                        ["/sys/kernel/forgotten.safetensors"]),
    "zoo --only without --rebuild": (None, ["zoo", "--only", "mlp-mnist5k"], ["--only needs --rebuild"]),
    "a class that is not a whole number": (None, ["forget", SHIPPED, "--classes", "2.5"], ["unknown class '2.5'"]),
    "a lambda for a mode that ignores it": (None, ["forget", SHIPPED, "--classes", "3", "--mode", "classifier",
                                                   "--lambda1", "0.1"], ["--mode paper only"]),
    "integer weights": (None, ["forget", "{int_weights}", "--classes", "3"], ["int32", "floating-point weights"]),
}


@pytest.fixture(scope="module")
def refusals(tmp_path_factory, digits_file):
    """Every refusal case, run at once as subprocesses (they only pay the start-up): name -> (proc, folder, snapshot)."""
    base = tmp_path_factory.mktemp("refusals")
    int_weights = _rewrite(digits_file, base / "int.safetensors", _int_weights)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = {}
    for name, (kind, args, _) in REFUSALS.items():
        if kind == "character device" and not IS_ROOT:
            continue
        if "/sys/" in " ".join(map(str, args)) and not Path("/sys/kernel").is_dir():
            continue
        folder = base / name.replace(" ", "-").replace("/", "")
        folder.mkdir()
        target = make_target(folder, kind) if kind else folder / "unused"
        args = [str(a).format(target=target, int_weights=int_weights) for a in args]
        started[name] = (subprocess.Popen([sys.executable, "-m", "unlearning", *args], cwd=ROOT, env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE), folder, snapshot(folder))
    done = {}
    for name, (proc, folder, before) in started.items():
        out, err = proc.communicate(timeout=300)
        done[name] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), folder, before)
    return done


@pytest.mark.parametrize("name", list(REFUSALS))
def test_careless_or_hostile_commands_are_one_line_and_change_nothing(name, refusals):
    if name not in refusals:
        pytest.skip("needs root (a character device) or /sys")
    proc, folder, before = refusals[name]
    assert_refused(proc, *REFUSALS[name][2])
    assert snapshot(folder) == before
    assert not Path("/sys/kernel/forgotten.safetensors").exists()


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders; see the library-level test")
def test_save_into_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = cli("forget", SHIPPED, "--classes", "3", "--save", folder / "x.safetensors")
        assert_refused(proc, "permission")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_closed_pipe_ends_quietly():
    """`python3 -m unlearning info x | head`: the reader goes away; no traceback, no noise."""
    proc = subprocess.Popen([sys.executable, "-m", "unlearning", "info", str(SHIPPED)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0 and err == ""


def test_version_and_every_architecture_in_the_help():
    assert cli("--version").stdout.split() == ["python", "-m", "unlearning", "0.1.0"]
    text = " ".join(cli("train", "--help").stdout.split())
    assert all(name in text for name in ARCHITECTURES) and "tv:<name>" in text


def test_float64_codes_are_cast_to_the_model(tmp_path, digits_file):
    def doubles(t, h):
        t["codes"] = t["codes"].double()

    wide = _rewrite(digits_file, tmp_path / "d.safetensors", doubles)
    assert load_checkpoint(wide).codes.dtype == torch.float32
    proc = cli("forget", wide, "--classes", "3", "--mode", "calibrated", "--no-depth", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["forget_classes"] == [3]


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_info_prints_strict_json_even_when_the_metadata_holds_nan(tmp_path, digits_file):
    proc = cli("info", _rewrite(digits_file, tmp_path / "n.safetensors", _nan_meta))
    assert proc.returncode == 0, proc.stderr
    assert _strict(proc.stdout)["forgotten"]["E_F"] is None


def test_chained_forgetting_knows_what_was_forgotten_before(tmp_path, digits, digits_file):
    first, second = tmp_path / "f29.safetensors", tmp_path / "f5.safetensors"
    assert cli("forget", digits_file, "--classes", "2", "9", "--mode", "calibrated", "--no-depth", "--save", first).returncode == 0
    proc = cli("forget", first, "--classes", "5", "--mode", "calibrated", "--no-depth", "--json", "--save", second)
    assert proc.returncode == 0, proc.stderr
    report = _strict(proc.stdout)
    assert report["forget_classes"] == [5] and report["previously_forgotten"] == [2, 9]
    assert any("forgotten before" in n for n in report["notes"])
    parent = evaluate(load_checkpoint(first).model, digits.test, 10, device="cpu")
    keep = [c for c in range(10) if c not in (2, 5, 9)]
    by_hand = parent.confusion[keep][:, keep].trace() / parent.confusion[keep].sum()
    assert report["before"]["retain_accuracy"] == pytest.approx(by_hand)
    assert report["before"]["retain_accuracy"] != pytest.approx(parent.retain_accuracy([5]))
    done = load_checkpoint(second).meta["forgotten"]
    assert done["all_forgotten"] == [2, 5, 9] and previously_forgotten(load_checkpoint(second).meta) == (2, 5, 9)
    text = cli("forget", second, "--classes", "0", "--mode", "calibrated", "--no-depth")
    assert text.returncode == 0 and "already forgotten before: ['2', '5', '9']" in text.stdout


def test_notes_reach_the_text_output(digits_file):
    """(The JSON's notes are checked in the chained test.) A strength this small leaves the codes recognised."""
    proc = cli("forget", digits_file, "--classes", "1", "--mode", "paper", "--lambda2", "1e-4", "--no-depth")
    assert proc.returncode == 0, proc.stderr
    assert "note: 100% of the forgotten classes' codes are still recognised" in proc.stdout


# ---------------------------------------------------------------------------------------------
# Writing: the library

@pytest.mark.parametrize("kind", ["character device", "symbolic link", "dangling link", "directory"])
def test_save_checkpoint_refuses_special_targets(kind, tmp_path, digits_mlp):
    target = make_target(tmp_path, kind)
    before = snapshot(tmp_path)
    with pytest.raises(WriteError, match="refusing to write"):
        save_checkpoint(target, digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    assert snapshot(tmp_path) == before


def test_a_failed_write_leaves_the_original_untouched(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"original")

    def half_then_fail(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match="No space left"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"original" and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_a_folder_without_write_access_is_refused_first(tmp_path, monkeypatch):
    import unlearning.storage.safe_io as safe_io

    monkeypatch.setattr(safe_io.os, "access", lambda path, mode: False)  # what a non-root user sees in 0o555
    with pytest.raises(WriteError, match="no permission to write"):
        atomic_write(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_check_target_without_create_makes_no_folder(tmp_path):
    check_target(tmp_path / "a" / "b" / "x.safetensors", probe=True, create=False)
    assert list(tmp_path.iterdir()) == []


def test_an_upload_never_lands_on_a_link(tmp_path, digits_mlp):
    data = save_checkpoint(tmp_path / "src.safetensors", digits_mlp.model, digits_mlp.codes, digits_mlp.meta).read_bytes()
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "precious.txt").write_text("keep me")
    (folder / "m.safetensors").symlink_to(tmp_path / "precious.txt")
    stored = store_upload(data, "m.safetensors", folder)
    assert stored == folder / "m-1.safetensors" and (tmp_path / "precious.txt").read_text() == "keep me"
    assert (folder / "m.safetensors").is_symlink()


def test_strict_json_writes_null_never_nan():
    text = strict_json.dumps({"a": float("nan"), "b": [float("inf"), 1.5], "c": np.float64("nan"), "d": np.int64(3)})
    assert _strict(text) == {"a": None, "b": [None, 1.5], "c": None, "d": 3}


# ---------------------------------------------------------------------------------------------
# Strict inputs

@pytest.mark.parametrize("classes, words", [
    ([2.7], "got 2.7"), ([True], "boolean"), ([np.True_], "boolean"), ([torch.tensor(True)], "boolean"),
    ("29", "got the string '29'"), (3, "a list of class indices"), (["3"], "got the string '3'"),
    ([None], "got None"), ([], "at least one"), ([10], "unknown class index 10"),
])
def test_class_lists_are_integers_only(classes, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        check_classes(classes, 10)


def test_class_lists_accept_integer_kinds_and_names():
    assert check_classes([np.int64(3), torch.tensor(1), 3], 10) == [1, 3]
    assert check_classes(torch.tensor([4, 2]), 10) == [2, 4]
    assert check_classes(["cat", 0], 3, names=["dog", "cat", "bird"]) == [0, 1]
    assert class_index("7", [str(i) for i in range(10)]) == 7
    for token in ("2.5", "-1", " 3", "3e0", "٣"):
        with pytest.raises(ValueError, match="unknown class"):
            class_index(token, [str(i) for i in range(10)])


def test_forget_and_evaluate_takes_names_and_notes_ignored_lambdas(digits, digits_mlp):
    out = forget_and_evaluate(digits_mlp, digits.test, ["3"], mode="classifier", lambda1=0.5, device="cpu")
    assert out.result.forget_classes == (3,)
    assert any("lambda1=0.5 ignored" in n for n in out.to_dict()["notes"])
    plain = forget_and_evaluate(digits_mlp, digits.test, [3], mode="classifier", device="cpu")
    assert not any("ignored" in n for n in plain.to_dict()["notes"])


def test_codes_must_fit_the_model(digits_mlp):
    model, codes = digits_mlp.model, digits_mlp.codes
    cases = [(codes[:9], "10 outputs but there are 9 codes"), ((codes * 255).to(torch.uint8), "floating point"),
             (torch.rand(10, 1, 9, 9), "do not fit"), (codes.clone().fill_(float("nan")), "NaN"),
             (codes.numpy(), "torch.Tensor")]
    for bad, words in cases:
        with pytest.raises(ValueError, match=words):
            forget(model, bad, [3], device="cpu")
    assert check_codes(model, codes.double()).dtype == torch.float32  # the codes follow the model


def test_integer_weights_are_refused_by_the_library(digits_mlp):
    model = copy.deepcopy(digits_mlp.model)
    model.net.fc2.weight = torch.nn.Parameter(model.net.fc2.weight.data.to(torch.int32), requires_grad=False)
    with pytest.raises(ValueError, match="floating-point weights"):
        model_dtype(model)
    with pytest.raises(ValueError, match="floating-point weights"):
        forget(model, digits_mlp.codes, [3], device="cpu")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_model_is_forgotten_in_float32(dtype, digits, digits_mlp):
    half = copy.deepcopy(digits_mlp.model).to(dtype)
    original = {k: v.clone() for k, v in half.state_dict().items()}
    before = evaluate(half, digits.test, 10, device="cpu")  # evaluation feeds it images of its own dtype
    result = forget(half, digits_mlp.codes, [3], device="cpu", mode="classifier")
    assert next(result.model.parameters()).dtype == torch.float32
    assert any("float32" in n for n in result.notes)
    assert all(torch.equal(v, original[k]) and v.dtype == dtype for k, v in half.state_dict().items())
    after = evaluate(result.model, digits.test, 10, device="cpu")
    assert before.forget_accuracy([3]) > 0.5 and after.forget_accuracy([3]) < before.forget_accuracy([3])


# ---------------------------------------------------------------------------------------------
# Honest verdicts

def _ev(per_class):
    cm = np.diag([int(round(100 * a)) for a in per_class]).astype(np.int64)
    for i, a in enumerate(per_class):
        cm[i, (i + 1) % len(per_class)] += 100 - int(round(100 * a))
    return Evaluation(tuple(per_class), cm, float(np.trace(cm) / cm.sum()))


def test_a_class_never_recognised_is_not_called_forgotten():
    v = verdict(_ev([0.0, 0.9, 0.9]), _ev([0.0, 0.9, 0.9]), [0])
    assert not v.forgot and not v.recognised and v.message.startswith("Never recognised")
    assert "Forgotten" not in v.message


def test_no_change_is_never_minus_zero_points():
    v = verdict(_ev([0.9, 0.9, 0.9]), _ev([0.0, 0.9, 0.9]), [0])
    assert "-0.0" not in v.message and "kept their accuracy" in v.message and v.forgot and v.kept


def test_retain_accuracy_can_leave_out_earlier_classes():
    ev = _ev([0.0, 0.5, 1.0, 1.0])  # class 0 forgotten earlier, forgetting 1 now
    assert ev.retain_accuracy([1]) == pytest.approx(2 / 3)  # the old call still counts class 0
    assert ev.retain_accuracy([1], exclude=[0]) == pytest.approx(1.0)
    assert ev.summary([1], [0])["retain_accuracy"] == pytest.approx(1.0)


def test_forgotten_metadata_carries_the_union(digits, digits_mlp):
    first = forget_and_evaluate(digits_mlp, digits.test, [2, 9], mode="classifier", device="cpu")
    from unlearning.storage.checkpoints import Checkpoint, complete_meta

    child = Checkpoint(first.result.model, digits_mlp.codes, complete_meta(forgotten_meta(digits_mlp, first)))
    second = forget_and_evaluate(child, digits.test, [5], mode="classifier", device="cpu")
    assert second.previously_forgotten == (2, 9) and second.forgotten_so_far == (2, 5, 9)
    meta = forgotten_meta(child, second)
    assert meta["forgotten"]["all_forgotten"] == [2, 5, 9] and meta["forgotten"]["forget_classes"] == [5]
    assert math.isclose(second.to_dict()["before"]["retain_accuracy"], first.after.retain_accuracy([5], [2, 9]))
    with pytest.raises(ValueError, match="would leave no class"):
        forget_and_evaluate(child, digits.test, [0, 1, 3, 4, 5, 6, 7, 8], mode="classifier", device="cpu")
