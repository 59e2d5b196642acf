"""How long the guided tour takes to compute, per shipped model: all six steps of the paper's rule and
the strength sweep the page's slider indexes (A_F / A_R on the real test images at every factor).

    python benchmarks/tour.py --threads 1            # every shipped model, digit 3
    python benchmarks/tour.py --models resnet8-mnist5k --classes 0 --repeats 5

Target: the sweep under ~2 s on the default ResNet-8 on one CPU thread, so the page's first view is
quick and the slider then only indexes precomputed results.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.methods import forgetting  # noqa: E402
from unlearning import tour  # noqa: E402
from unlearning.storage.checkpoints import load_checkpoint  # noqa: E402
from unlearning.data import load_dataset  # noqa: E402
from unlearning.methods.fisher import code_fisher  # noqa: E402
from unlearning.evaluation.metrics import evaluate  # noqa: E402
from unlearning.pipeline import default_lambdas  # noqa: E402
from unlearning.storage.folders import SHIPPED_DIR  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", help="shipped model names (default: all)")
    ap.add_argument("--classes", nargs="+", type=int, default=[3])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sorted(SHIPPED_DIR.glob("*.safetensors"))
    if args.models:
        paths = [p for p in paths if p.stem in args.models]
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), classes {args.classes}, "
          f"median of {args.repeats}; factors {list(tour.SWEEP_FACTORS)}")
    print("| model | tour, all steps (s) | sweep alone (s) | forward passes in the sweep | one test pass (s) "
          "| default-mode sweep (s) |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        ckpt = load_checkpoint(path)
        splits = load_dataset(ckpt.meta["dataset"])
        l1, l2 = default_lambdas(ckpt.meta["arch"])
        # the sweep as paper_tour runs it: k = 0 and k = 1 are the check step's evaluations
        fishers = code_fisher(ckpt.model, ckpt.codes, args.classes, device="cpu")
        _, deltas, _ = forgetting.perturbations(ckpt.model, fishers, l1, l2)
        result = forgetting.forget(ckpt.model, ckpt.codes, args.classes, l1, l2, device="cpu", mode="paper")
        known = {0.0: evaluate(ckpt.model, splits.test, ckpt.num_classes, device="cpu"),
                 1.0: evaluate(result.model, splits.test, ckpt.num_classes, device="cpu")}
        sign = 1.0 if result.sign == "+" else -1.0
        times = {"tour": [], "sweep": [], "default": [], "pass": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            tour.paper_tour(ckpt, args.classes, splits.test, splits.val, device="cpu")
            t1 = time.perf_counter()
            tour.strength_sweep(ckpt.model, ckpt.codes, deltas, sign, splits.test, args.classes, known=known)
            t2 = time.perf_counter()
            tour.default_mode_sweep(ckpt, args.classes, splits.test, splits.val, device="cpu")
            t3 = time.perf_counter()
            times["tour"].append(t1 - t0)
            times["sweep"].append(t2 - t1)
            times["default"].append(t3 - t2)
            evaluate(result.model, splits.test, ckpt.num_classes, device="cpu")
            times["pass"].append(time.perf_counter() - t3)
        med = {k: statistics.median(v) for k, v in times.items()}
        passes = len([k for k in tour.SWEEP_FACTORS if k not in known])
        print(f"| {path.stem} | {med['tour']:.2f} | {med['sweep']:.2f} | {passes} x {len(splits.test):,} images "
              f"| {med['pass']:.3f} | {med['default']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
