"""How much does the retrained reference itself vary at each depth? Retrain with other seeds and probe them all.

    python benchmarks/reference_spread.py --models resnet8-mnist5k --classes 0 --seeds 1 2
    python benchmarks/reference_spread.py --models vit-mnist5k --classes 3 --seeds 1 2

Every depth's verdict reads the unlearned model against *one* retrained model (seed 0, the shipped or cached
reference). A second retraining with another seed is an equally good reference; where two of them read the
forgotten class 20 points apart at a depth, a 5-point margin there judges the seed as much as the method.
This prints, per depth, the 10-shot recoverability (``audit.probe`` on the test split) of the original, of
each retrained seed, and their spread (largest minus smallest retrained figure). Seed 0 is read from disk
where it is shipped or cached; the others are trained now with the parent's recipe (one CPU thread).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.data import Splits, dataset_of  # noqa: E402
from unlearning.evaluation import audit  # noqa: E402
from unlearning.evaluation.references import retrained_reference  # noqa: E402
from unlearning.methods.registry import run_baseline  # noqa: E402
from unlearning.storage.checkpoints import Checkpoint  # noqa: E402
from unlearning.zoo import shipped  # noqa: E402


def depth_probes(model: torch.nn.Module, splits: Splits, classes: Sequence[int]) -> dict[str, float]:
    """The forgotten classes' 10-shot recoverability on the test split at every depth."""
    return audit.stage_probes(audit.stage_feature_sets(model, splits, "cpu"), classes)


def spread(ckpt: Checkpoint, splits: Splits, classes: Sequence[int], seeds: Sequence[int],
           log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    """{"original": {depth: probe}, "retrain seed 0": ..., "retrain seed s": ...} for every seed in ``seeds``."""
    rows = {"original": depth_probes(ckpt.model, splits, classes)}
    ref = retrained_reference(ckpt, splits, classes, device="cpu")
    rows["retrain seed 0"] = depth_probes(ref.checkpoint.model, splits, classes)
    for seed in seeds:
        t0 = time.perf_counter()
        model = run_baseline("retrain", ckpt, splits.train, classes, device="cpu", seed=seed).model
        rows[f"retrain seed {seed}"] = depth_probes(model, splits, classes)
        log(f"  retrained with seed {seed} in {time.perf_counter() - t0:.0f} s")
    return rows


def table(name: str, classes: Sequence[int], rows: dict[str, dict[str, float]]) -> str:
    """A markdown table: one row per depth, one column per model, then the retrained models' spread."""
    depths = list(rows["original"])
    refs = [k for k in rows if k.startswith("retrain")]
    head = f"{name}, forgetting {'+'.join(map(str, classes))}: 10-shot recoverability (%) on the test split\n\n"
    lines = ["| depth | " + " | ".join(rows) + " | retrained spread |", "|---" * (len(rows) + 2) + "|"]
    for d in depths:
        vals = [rows[k][d] for k in refs]
        lines.append(f"| {d} | " + " | ".join(f"{100 * rows[k][d]:.1f}" for k in rows)
                     + f" | {100 * (max(vals) - min(vals)):.1f} |")
    return head + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=[shipped.default_name()], help="zoo names or checkpoint paths")
    ap.add_argument("--classes", nargs="+", type=int, default=[0], help="the class set forgotten (together)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2], help="retraining seeds besides the reference's 0")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        ckpt = shipped.find_model(name).load()
        splits = dataset_of(ckpt.meta)
        print(table(name, args.classes, spread(ckpt, splits, args.classes, args.seeds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
