"""The GPU check: one prepared run of every figure that needs a GPU, written to a folder.

    benchmarks/gpu_check.sh OUTDIR                      # one CUDA GPU, at most 8 minutes
    benchmarks/gpu_check.sh OUTDIR --device cpu --small # the same steps, small sizes, a minute or two

Steps, in order (each a subprocess killed past its cap in ``STEP_CAPS`` or past what is left of
``--budget`` seconds, whichever comes first):

- ``device``: the GPU's name, memory, torch and CUDA versions (``device.txt``);
- ``tests``: the device variants of the test suite, the tests parametrised over ``DEVICES`` in
  tests/conftest.py (``pytest -k cuda`` on the files that use it; ``tests.txt``). On CUDA a skipped
  test is a failure: it means the GPU was not used;
- ``forget``: forgetting digit 3 from the shipped transformer (``vit-mnist5k``) in every mode, the
  median of ``repeats`` timed runs after a warm-up, with A_F / A_R on the real test split
  (``forget.txt``: a table, then the rows as JSON on a line starting ``json:``);
- ``fisher``: ``fisher_speed.py`` on the MLP, CNN, ResNet-18 (32 px) and the ViT with 10 and 100
  classes, then torchvision's ResNet-18 at 224 px with 100 and 1,000 classes (synthetic inputs;
  ``fisher.txt``);
- ``compare``: ``compare.py`` on the default model, every method (``compare.txt``).

Each step's output is printed as it runs and written to ``OUTDIR/<step>.txt``; ``OUTDIR/summary.json``
and ``OUTDIR/summary.md`` list every step with its status (ok, failed, timeout, not run), exit
code and seconds. Exit status: 0 when every step passed, 1 when one failed or ran out of time,
2 when the device asked for is absent (one ``gpu_check: error:`` line, nothing else run) or the
arguments are wrong. benchmarks/README.md describes the output.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_S = 480  # the whole check, on a GPU: 8 minutes
TRANSFORMER = ROOT / "assets" / "models" / "vit-mnist5k.safetensors"
STEPS = ("device", "tests", "forget", "fisher", "compare")
# The most seconds each step may take (and never more than what is left of the budget), so that one
# slow step cannot starve the ones after it. Their sum exceeds the budget: most steps finish early.
STEP_CAPS = {"tests": 150, "forget": 60, "fisher": 180, "compare": 150}


class CheckError(Exception):
    """The check cannot run at all here (the device asked for is absent)."""


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # "ok", "failed", "timeout" or "not run"
    returncode: int | None
    seconds: float
    output: str  # file name inside OUTDIR


def device_report(device: str) -> dict:
    """What the device is; raises CheckError when CUDA is asked for and torch cannot use it."""
    import torch

    info = {"requested": device, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    if device == "cuda":
        if not torch.cuda.is_available():
            why = ("torch was built without CUDA" if torch.version.cuda is None
                   else f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU")
            raise CheckError(f"CUDA was requested but torch.cuda.is_available() is False: {why}")
        props = torch.cuda.get_device_properties(0)
        info.update(name=torch.cuda.get_device_name(0), devices=torch.cuda.device_count(),
                    memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cudnn=torch.backends.cudnn.version())
    else:
        info["name"] = platform.processor() or platform.machine()
    return info


def device_test_files() -> list[str]:
    """The test files whose tests are parametrised over conftest's DEVICES."""
    uses = re.compile(r"parametrize\(\s*[\"']device[\"']\s*,\s*DEVICES\b")
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
                  if uses.search(p.read_text()))


def step_commands(device: str, small: bool) -> dict[str, list[list[str]]]:
    """The command lines of every subprocess step (one step may run several)."""
    py = sys.executable
    here = str(Path(__file__).resolve())
    threads = ["--threads", "1"] if device == "cpu" else []
    tests = [py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k", device, *device_test_files()]
    forget = [py, here, "_forget", "--device", device, "--repeats", "1" if small else "5"]
    if small:
        fisher = [[py, "benchmarks/fisher_speed.py", "--device", device, "--models", "mlp", "vit", "tv:resnet18",
                   "--classes", "10", "--repeats", "1", *threads]]  # tv:resnet18 at 32 px
        compare = [[py, "benchmarks/compare.py", "--device", device, "--methods", "mnemonic", "ssd",
                    "--repeats", "1", *threads]]
    else:
        fisher = [[py, "benchmarks/fisher_speed.py", "--device", device, "--models", "mlp", "cnn", "resnet18", "vit",
                   "--classes", "10", "100", "--repeats", "5", *threads],
                  [py, "benchmarks/fisher_speed.py", "--device", device, "--models", "tv:resnet18", "--size", "224",
                   "--classes", "100", "1000", "--repeats", "3", *threads]]
        compare = [[py, "benchmarks/compare.py", "--device", device, *threads]]
    return {"tests": [tests], "forget": [forget], "fisher": fisher, "compare": compare}


def run_streamed(argv: list[str], log, timeout: float) -> tuple[int | None, bool]:
    """Run ``argv`` from the repository root, copying its output line by line to ``log``;
    (exit code, timed out). A command past ``timeout`` is killed with its whole process group."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)

    def pump():
        for line in proc.stdout:
            log(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=max(timeout, 1))
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc, timed_out = proc.wait(), True
    reader.join(timeout=5)
    return rc, timed_out


def skipped_count(text: str) -> int:
    m = re.search(r"(\d+) skipped", text)
    return int(m.group(1)) if m else 0


def run_check(outdir: Path, device: str, small: bool, budget: float, steps: tuple[str, ...] = STEPS,
              echo=print) -> tuple[int, list[StepResult]]:
    """Every step in ``steps``; writes OUTDIR/<step>.txt, summary.json and summary.md. (exit code, results)."""
    start = time.perf_counter()
    info = device_report(device)  # raises CheckError before anything is written
    outdir.mkdir(parents=True, exist_ok=True)
    results: list[StepResult] = []
    commands = step_commands(device, small)
    for name in steps:
        path = outdir / f"{name}.txt"
        remaining = budget - (time.perf_counter() - start)
        if name != "device" and remaining < 5:
            results.append(StepResult(name, "not run", None, 0.0, path.name))
            path.write_text(f"not run: the {budget:.0f} s budget was spent\n")
            continue
        echo(f"== {name}")
        t0 = time.perf_counter()
        with open(path, "w") as f:
            def log(line: str, f=f):
                echo(line)
                f.write(line + "\n")
                f.flush()

            if name == "device":
                for k, v in info.items():
                    log(f"{k}: {v}")
                rc, timed_out = 0, False
            else:
                rc, timed_out = 0, False
                deadline = min(start + budget, t0 + STEP_CAPS.get(name, budget))
                for argv in commands[name]:
                    log("$ " + " ".join(Path(a).name if a == sys.executable else a for a in argv))
                    rc, timed_out = run_streamed(argv, log, deadline - time.perf_counter())
                    if rc != 0 or timed_out:
                        break
        seconds = time.perf_counter() - t0
        status = "timeout" if timed_out else ("ok" if rc == 0 else "failed")
        if name == "tests" and status == "ok" and device != "cpu" and skipped_count(path.read_text()):
            status = "failed"  # a skipped device test did not run on the device
            with open(path, "a") as f:
                f.write(f"gpu_check: {skipped_count(path.read_text())} {device} tests were skipped: counted as failed\n")
        echo(f"== {name}: {status} in {seconds:.1f} s")
        results.append(StepResult(name, status, rc, round(seconds, 2), path.name))
    ok = all(r.status == "ok" for r in results)
    total = time.perf_counter() - start
    (outdir / "summary.json").write_text(json.dumps(
        {"ok": ok, "device": info, "small": small, "budget_s": budget, "seconds": round(total, 2),
         "steps": [asdict(r) for r in results]}, indent=2) + "\n")
    lines = [f"# GPU check on {info.get('name')} ({device}{', small' if small else ''})", "",
             f"torch {info['torch']}, CUDA {info['torch_cuda']}; {total:.0f} s of a {budget:.0f} s budget; "
             f"{'all steps passed' if ok else 'NOT all steps passed'}", "",
             "| step | status | exit code | seconds | output |", "|---|---|---|---|---|"]
    lines += [f"| {r.name} | {r.status} | {'' if r.returncode is None else r.returncode} | {r.seconds:.1f} "
              f"| {r.output} |" for r in results]
    (outdir / "summary.md").write_text("\n".join(lines) + "\n")
    echo("\n".join(lines))
    return (0 if ok else 1), results


def forget_timing(device: str, checkpoint: Path = TRANSFORMER, classes: tuple[int, ...] = (3,),
                  repeats: int = 5) -> list[dict]:
    """Forget ``classes`` in every mode: median seconds of ``repeats`` runs after a warm-up, and the
    accuracies on the real test split of the last run."""
    from unlearning import load_checkpoint, load_dataset
    from unlearning.methods import registry as methods
    from unlearning.evaluation.metrics import evaluate
    from unlearning.pipeline import default_lambdas, forget_and_evaluate

    ckpt = load_checkpoint(checkpoint)
    splits = load_dataset(ckpt.meta["dataset"], seed=0)
    before = evaluate(ckpt.model, splits.test, ckpt.num_classes, device=device)
    l1, l2 = default_lambdas(ckpt.meta["arch"])
    rows = []
    for mode in methods.names(one_shot=True):
        calibration = splits.val if methods.reads_validation(mode) else None
        runs = [forget_and_evaluate(ckpt, splits.test, classes, lambda1=l1, lambda2=l2, device=device, mode=mode,
                                    before=before, calibration=calibration) for _ in range(1 + max(repeats, 1))]
        last = runs[-1]
        rows.append({"model": checkpoint.stem, "mode": mode, "classes": list(classes), "device": str(last.result.device),
                     "seconds": statistics.median(r.result.seconds["total"] for r in runs[1:]),
                     "A_F_before": before.forget_accuracy(classes), "A_F_after": last.after.forget_accuracy(classes),
                     "A_R_before": before.retain_accuracy(classes), "A_R_after": last.after.retain_accuracy(classes)})
    return rows


def _forget_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="gpu_check.py _forget")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--checkpoint", default=str(TRANSFORMER))
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = forget_timing(args.device, Path(args.checkpoint), repeats=args.repeats)
    print(f"forget digit 3 from {Path(args.checkpoint).name}: median of {args.repeats} after a warm-up\n")
    print("| mode | device | seconds | A_F before | A_F after | A_R before | A_R after |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['device']} | {r['seconds']:.4f} | {r['A_F_before']:.3f} | {r['A_F_after']:.3f} "
              f"| {r['A_R_before']:.3f} | {r['A_R_after']:.3f} |")
    print("json: " + json.dumps(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_forget"]:
        return _forget_main(argv[1:])
    ap = argparse.ArgumentParser(prog="benchmarks/gpu_check.sh", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("outdir", help="folder for the figures (created)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--small", action="store_true", help="small sizes: the CPU form, a minute or two")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help=f"seconds for the whole check (default {BUDGET_S})")
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS), help="run only these steps")
    args = ap.parse_args(argv)
    try:
        code, _ = run_check(Path(args.outdir), args.device, args.small, args.budget, tuple(args.steps))
    except CheckError as e:
        print(f"gpu_check: error: {e}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
