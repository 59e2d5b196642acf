import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.cli import main


def run(*args, check=True):
    proc = run_cli(*args)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "digits.safetensors"
    proc = run("train", "--dataset", "digits", "--arch", "mlp", "--epochs", "30", "--lr", "0.05",
               "--t-mix", "0.1", "--seed", "0", "--out", str(out))
    return out, proc


def test_train_writes_a_checkpoint_and_reports_progress_on_stderr(trained):
    out, proc = trained
    assert proc.stdout == ""
    assert proc.stderr.count("epoch ") == 30 and "test accuracy" in proc.stderr
    assert "codes recognised 100%" in proc.stderr and "warning" not in proc.stderr
    ck = load_checkpoint(out)
    assert ck.meta["training"]["epochs"] == 30 and ck.meta["t_mix"] == 0.1 and ck.meta["arch"] == "mlp"
    assert ck.meta["test_accuracy"] > 0.8


def test_forget_json_has_the_documented_shape(trained, tmp_path):
    out, _ = trained
    saved = tmp_path / "forgot.safetensors"
    proc = run("forget", str(out), "--classes", "0", "--json", "--save", str(saved), "--mode", "paper")
    report = json.loads(proc.stdout)
    for key in ("forget_classes", "sign", "lambda1", "lambda2", "device", "seconds", "before", "after", "E_F"):
        assert key in report
    assert report["forget_classes"] == [0] and report["sign"] in ("+", "-")
    assert report["lambda1"] == 1e-3 and report["lambda2"] == 10.0 and report["device"] == "cpu"
    assert set(report["seconds"]) >= {"fisher", "perturb", "total"}
    for side in ("before", "after"):
        acc = report[side]
        assert len(acc["per_class_accuracy"]) == 10
        assert all(0 <= a <= 1 for a in acc["per_class_accuracy"] + [acc["forget_accuracy"], acc["retain_accuracy"]])
    assert report["before"]["forget_accuracy"] == report["before"]["per_class_accuracy"][0]
    expected_ef = 100 * (report["before"]["forget_accuracy"] - report["after"]["forget_accuracy"]) / report["before"]["forget_accuracy"]
    assert report["E_F"] == pytest.approx(expected_ef)
    forgotten = load_checkpoint(saved)
    assert forgotten.meta["forgotten"]["forget_classes"] == [0]


def test_forget_takes_classes_by_name_and_several_lambdas(trained):
    out, _ = trained
    report = json.loads(run("forget", str(out), "--classes", "3", "7", "--mode", "paper", "--lambda1", "0.002", "--lambda2", "5",
                            "--json").stdout)
    assert report["forget_classes"] == [3, 7] and report["lambda1"] == 0.002 and report["lambda2"] == 5.0
    human = run("forget", str(out), "--classes", "3").stdout
    assert "A_F" in human and "E_F" in human


def test_info_prints_the_metadata(trained):
    out, _ = trained
    meta = json.loads(run("info", str(out)).stdout)
    assert meta["dataset"] == "digits" and meta["class_names"][0] == "0"


@pytest.mark.parametrize("args, message", [
    (["--classes"] + [str(i) for i in range(10)], "every class"),
    (["--classes", "42"], "unknown class"),
    (["--classes", "zebra"], "unknown class"),
    (["--classes", "1", "--lambda1", "-1"], "lambda1"),
    (["--classes", "1", "--lambda2", "nan"], "lambda2"),
    (["--classes", "1", "--device", "cuda:7"], "device"),
])
def test_bad_requests_exit_nonzero_with_one_line(trained, args, message, capsys):
    out, _ = trained
    assert main(["forget", str(out), *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_bad_files_exit_nonzero_with_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04not a checkpoint")
    # once for real, in its own process: the exit-status contract a shell script relies on
    proc = subprocess.run([sys.executable, "-m", "unlearning", "forget", str(junk), "--classes", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    for args in (["info", str(junk)], ["info", str(tmp_path / "nope")],
                 ["train", "--arch", "nonsense", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "x")]):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), args


@pytest.mark.parametrize("command", [[], ["train"], ["forget"], ["info"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0
    assert "usage: python -m unlearning" in capsys.readouterr().out


def test_forget_by_default_erases_and_reports_the_depth_on_the_features(trained):
    out, _ = trained
    report = json.loads(run("forget", str(out), "--classes", "2", "--json").stdout)
    assert report["mode"] == "erase"
    depth = report["depth"]
    assert depth["features_changed"] is True and depth["reference"] == "none" and depth["probe_retrained"] is None
    assert 0 <= depth["probe_unlearned"] <= 1 and depth["probe_original"] > 0.5
    assert depth["verdict"]["level"] in ("hidden", "unknown depth", "not forgotten")
    assert json.loads(run("forget", str(out), "--classes", "2", "--json", "--no-depth").stdout)["depth"] is None
    stages = depth["profile"]["stages"]
    assert "penultimate" in stages and len(stages) >= 4 and len(depth["profile"]["unlearned"]) == len(stages)
    # the headline probe is the penultimate depth (the MLP's logits come after it)
    assert depth["profile"]["unlearned"][stages.index("penultimate")] == depth["probe_unlearned"]
    text = run("forget", str(out), "--classes", "2").stdout
    assert all(s in text for s in stages) and "above retrained" in text  # the per-depth table under the verdict


def test_train_and_forget_warn_on_a_model_that_did_not_learn_its_codes(tmp_path, capsys):
    out = tmp_path / "blind.safetensors"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--t-mix", "0", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: the model recognises only" in err
    assert load_checkpoint(out).meta["code_accuracy"] < 0.9
    assert main(["forget", str(out), "--classes", "0", "--json", "--no-depth"]) == 0
    captured = capsys.readouterr()
    # progress lines ("... ") come first; the warning is the one line that is not progress
    assert [l for l in captured.err.splitlines() if not l.startswith("... ")][0].startswith(
        "warning: the model recognises only")
    json.loads(captured.out)


def test_forget_takes_a_shipped_model_by_name_and_class_names_in_any_case(capsys):
    from unlearning.cli import main

    assert main(["forget", "mlp-mnist5k", "--classes", "3", "--no-depth", "--mode", "classifier", "--json",
                 "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["forget_classes"] == [3]
    from unlearning.inputs import class_index

    names = ["T-shirt/top", "Trouser", "Ankle boot"]
    assert class_index("ankle BOOT", names) == 2 and class_index("Trouser", names) == 1
    assert main(["forget", "no-such-model", "--classes", "3"]) == 2
    assert "neither a shipped model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # argparse refuses it before anything runs
        main(["forget", "mlp-mnist5k", "--classes", "3", "--threads", "0"])
    assert stop.value.code == 2 and "whole number from 1 to 1024" in capsys.readouterr().err
