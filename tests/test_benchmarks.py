"""Smoke tests of the benchmark scripts on the tiny digits model: they run and print what they promise."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from unlearning.storage.checkpoints import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
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
    # every depth, and the index: the reference against itself is level with retraining everywhere
    assert by["retrain"]["depths"].split("|") == ["input", "fc1 pre-activation", "penultimate", "logits"]
    assert by["retrain"]["worst_depth_gap"] == 0.0 and by["retrain"]["anamnesis_index"] == pytest.approx(1.0)
    assert by["retrain"]["probe_depths"] == by["erase"]["probe_depths_retrain"]
    assert "### digits-mlp" in md and "| 3 | erase |" in md


def test_gpu_check_refuses_loudly_when_cuda_is_asked_for_and_absent(tmp_path):
    """Not a skip: exit 2, one error line, nothing written (CUDA hidden, so this holds on a GPU machine too)."""
    import os
    import subprocess

    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(out), "--device", "cuda"],
                          capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: error: CUDA was requested")
    assert proc.stdout == "" and not out.exists()


def test_gpu_check_cpu_form_writes_each_step_and_a_summary(tmp_path):
    gpu_check = _script("gpu_check")
    echoed = []
    code, results = gpu_check.run_check(tmp_path, "cpu", small=True, budget=300, steps=("device", "fisher"),
                                        echo=echoed.append)
    assert code == 0 and [(r.name, r.status) for r in results] == [("device", "ok"), ("fisher", "ok")]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] is True and summary["device"]["requested"] == "cpu" and summary["small"] is True
    assert [s["name"] for s in summary["steps"]] == ["device", "fisher"]
    fisher = (tmp_path / "fisher.txt").read_text()
    for model in ("mlp", "vit", "tv:resnet18"):
        assert f"| {model} |" in fisher
    assert "| fisher | ok | 0 |" in (tmp_path / "summary.md").read_text()
    assert "torch:" in (tmp_path / "device.txt").read_text() and "== fisher: ok" in "\n".join(echoed)


def test_gpu_check_full_form_covers_the_issue_s_figures():
    gpu_check = _script("gpu_check")
    full = gpu_check.step_commands("cuda", small=False)
    flat = [" ".join(argv) for argv in full["fisher"]]
    assert any("tv:resnet18 --size 224 --classes 100 1000" in f for f in flat)
    assert any("vit" in f and "--classes 10 100" in f for f in flat)
    tests = full["tests"][0]
    assert tests[tests.index("-k") + 1] == "cuda"
    files = [a for a in tests if a.startswith("tests/")]  # the files parametrised over conftest's DEVICES
    assert {"tests/methods/test_fisher.py", "tests/methods/test_forgetting.py", "tests/methods/test_classifier_edit.py"} <= set(files)
    assert "tests/test_benchmarks.py" not in files  # which mentions CUDA_VISIBLE_DEVICES, and would recurse
    assert "--device" in full["compare"][0] and "cuda" in full["compare"][0]


def test_gpu_check_kills_a_step_past_its_time_and_says_so(tmp_path):
    gpu_check = _script("gpu_check")
    lines = []
    rc, timed_out = gpu_check.run_streamed([sys.executable, "-c", "import time; print('started', flush=True); "
                                            "time.sleep(60)"], lines.append, timeout=2)
    assert timed_out and lines == ["started"]
    assert gpu_check.skipped_count("3 passed, 2 skipped in 1.0s") == 2 and gpu_check.skipped_count("3 passed") == 0


def test_trunk_speed_times_both_ways_and_finds_the_same_predictions(digits_cnn, digits_path, tmp_path):
    trunk_speed = _script("trunk_speed")
    cnn = tmp_path / "digits-cnn.safetensors"
    save_checkpoint(cnn, digits_cnn.model, digits_cnn.codes, digits_cnn.meta)
    line = trunk_speed.measure(str(cnn), "erase", 1, 1)
    assert "changed net.head" in line and line.endswith("classes whose confusion row differs: 0")
    assert "no trunk" in trunk_speed.measure(str(digits_path), "paper", 1, 1)  # the published rule edits every layer


def test_reference_spread_probes_every_seed_at_every_depth(digits, digits_mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNING_CACHE", str(tmp_path / "cache"))
    bench = _script("reference_spread")
    rows = bench.spread(digits_mlp, digits, [3], [1], log=lambda m: None)
    assert list(rows) == ["original", "retrain seed 0", "retrain seed 1"]
    depths = ["input", "fc1 pre-activation", "penultimate", "logits"]
    assert all(list(r) == depths and all(0.0 <= v <= 1.0 for v in r.values()) for r in rows.values())
    # the input is the same pixels for every model, so every retrained seed reads it alike: no spread there
    assert rows["retrain seed 0"]["input"] == rows["retrain seed 1"]["input"] == rows["original"]["input"]
    assert rows["retrain seed 0"] != rows["retrain seed 1"]  # another seed is another model
    md = bench.table("digits-mlp", [3], rows)
    assert md.count("\n| ") == len(depths) + 1 and "| input |" in md and "retrained spread" in md
