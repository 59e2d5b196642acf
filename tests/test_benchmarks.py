"""Smoke tests of the benchmark scripts on the tiny digits model: they run and print what they promise."""
import importlib.util
import json
from pathlib import Path

import pytest

from unlearning.checkpoints import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits_path(digits_mlp, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "digits-mlp.safetensors"
    save_checkpoint(path, digits_mlp.model, digits_mlp.codes, digits_mlp.meta)
    return path


def test_compare_json_rows(digits_path, capsys):
    compare = _script("compare")
    assert compare.main(["--checkpoint", str(digits_path), "--methods", "mnemonic", "ssd", "finetune",
                         "--repeats", "1", "--json", "--mode", "paper"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["mnemonic", "finetune", "ssd"]
    for r in rows:
        assert set(r) == {"method", "seconds", "forget_accuracy", "retain_accuracy", "mia"}
        assert r["seconds"] >= 0 and 0 <= r["forget_accuracy"] <= 1 and 0 <= r["mia"] <= 1


def test_compare_table_states_the_targets(digits_path, capsys):
    compare = _script("compare")
    compare.main(["--checkpoint", str(digits_path), "--methods", "mnemonic", "ssd", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "| mnemonic |" in out and "| ssd |" in out
    assert "one-shot vs ssd:" in out and "target >= 10x" in out


def test_scaling_times_every_size(digits_path, capsys):
    compare = _script("compare")
    compare.main(["--checkpoint", str(digits_path), "--methods", "mnemonic", "ssd", "--repeats", "1",
                  "--scaling", "--augment", "1", "--json"])
    rows = json.loads(capsys.readouterr().out)
    sizes = sorted({r["train_size"] for r in rows})
    assert sizes[:2] == [500, 1000] and sizes[-1] == 2 * sizes[-2]  # the split and its shifted copy
    assert {r["method"] for r in rows} == {"mnemonic", "ssd"}


def test_shifted_copies_keep_labels_and_move_pixels(digits):
    compare = _script("compare")
    big = compare.shifted_copies(digits.train, 2)
    n = len(digits.train)
    assert len(big) == 3 * n
    assert (big.labels[n:2 * n] == digits.train.labels).all()
    assert (big.images[:n] == digits.train.images).all()
    assert not (big.images[n:] == digits.train.images.repeat(2, 1, 1, 1)).all()


def test_fisher_speed_prints_agreeing_paths(capsys):
    fisher_speed = _script("fisher_speed")
    assert fisher_speed.main(["--models", "mlp", "--classes", "10", "--repeats", "1"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| mlp |")][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[-1]) < 1e-4  # batched and vmap agree with the loop


def test_stratified_subsets_have_the_asked_size_and_shares(digits):
    compare = _script("compare")
    for size in (10, 500, 1000):
        sub = compare.stratified_subset(digits.train, size)
        assert len(sub) == size
        share = sub.labels.bincount(minlength=10).float() / size
        full = digits.train.labels.bincount(minlength=10).float() / len(digits.train)
        assert (share - full).abs().max() <= 1.0 / size + 1e-9


def test_tour_benchmark_times_the_tour_and_its_sweep(capsys):
    tour_bench = _script("tour")
    assert tour_bench.main(["--models", "mlp-mnist5k", "--repeats", "1"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| mlp-mnist5k |")][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].startswith("8 x 1,000") and float(cells[4]) > 0


def test_depth_rows_hold_the_documented_keys_and_read_against_retraining(digits, digits_mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNING_CACHE", str(tmp_path / "cache"))
    depth = _script("depth")
    rows = depth.rows_for("digits-mlp", digits_mlp, digits, (3,), ["original", "calibrated", "erase", "retrain"],
                          train_missing=True, log=lambda m: None)
    assert [r["method"] for r in rows] == ["original", "calibrated", "erase", "retrain"]
    for r in rows:
        assert set(depth.KEYS) <= set(r)
        assert r["probe_forget_retrain"] == rows[-1]["probe_forget"]  # every row beside the same reference
    by = {r["method"]: r for r in rows}
    assert by["calibrated"]["verdict"] == "hidden" and by["calibrated"]["cka_forgotten"] == pytest.approx(1.0)
    assert by["retrain"]["verdict"] == "forgotten" and by["original"]["verdict"] == "not forgotten"
    assert list((tmp_path / "cache").rglob("retrain-3.safetensors"))  # the reference was cached
    md = depth.markdown(rows, depth.retain_drops(rows))
    assert "| digits-mlp | erase |" in md and "| digits-mlp | 3 | retrain |" in md
