"""What the kept activations save: measuring a forgotten model on the test split in full, and from the trunk.

    python benchmarks/trunk_speed.py                               # the four full-size models, 2 threads
    python benchmarks/trunk_speed.py --models resnet8-mnist5k cnn-mnist5k --threads 1

For each model: forget one class with a mode (default ``erase``), build the trunk of the layers it changed
(``unlearning.evaluation.trunk``: one pass of the original, what the Forget page does while it loads), then
time ``evaluate`` on the test split both ways (median of ``--repeats``) and count the test images whose
predicted class differs (must be 0). Prints one line per model: the changed layers, the kept values'
size, the two times and their ratio. Where the edit reaches most layers there is no trunk, and it says so.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from unlearning.data import dataset_of  # noqa: E402
from unlearning.evaluation import trunk  # noqa: E402
from unlearning.evaluation.metrics import evaluate  # noqa: E402
from unlearning.methods.forgetting import forget  # noqa: E402
from unlearning.zoo import shipped  # noqa: E402

FULL_SIZE = ["resnet8-fashion", "cnn-fashion", "mlp-fashion", "vit-fashion"]


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(name: str, mode: str, cls: int, repeats: int) -> str:
    ckpt = shipped.find_model(name).load()
    splits = dataset_of(ckpt.meta)
    edited = forget(copy.deepcopy(ckpt.model), ckpt.codes, [cls], mode=mode, calibration=splits.val).model
    changed = trunk.changed_names(ckpt.model, edited)
    t = time.perf_counter()
    kept = trunk.build(ckpt.model, splits.test, changed)
    build = time.perf_counter() - t
    n = ckpt.num_classes
    full = evaluate(edited, splits.test, n)
    if kept is None:
        return f"{name:16s} {mode}: no trunk (the edit reaches {len(changed)} tensors, most of the network)"
    tail = evaluate(edited, splits.test, n, trunk=kept)
    differ = int((full.confusion != tail.confusion).any(axis=1).sum())  # classes whose predictions moved
    t_full = _median_seconds(lambda: evaluate(edited, splits.test, n), repeats)
    t_tail = _median_seconds(lambda: evaluate(edited, splits.test, n, trunk=kept), repeats)
    mb = sum(v.numel() * v.element_size() for v in kept.values) / 2**20
    layers = sorted({c.rsplit(".", 1)[0] for c in changed})
    return (f"{name:16s} {mode}: {len(splits.test):,} test images; changed {', '.join(layers)}; kept {mb:.0f} MB "
            f"(built in {build:.2f} s); full {t_full:.3f} s, trunk {t_tail:.3f} s: {t_full / t_tail:.1f}x; "
            f"classes whose confusion row differs: {differ}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=FULL_SIZE)
    ap.add_argument("--mode", default="erase")
    ap.add_argument("--cls", type=int, default=1, help="the class forgotten (index)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), median of {args.repeats}")
    for name in args.models:
        print(measure(name, args.mode, args.cls, args.repeats), flush=True)


if __name__ == "__main__":
    main()
