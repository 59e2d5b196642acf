"""Choose the gradient-based baselines' hyperparameters on the validation split, and show SSD's.

For every setting in a small grid, forget each digit in turn from the default model and measure
on the *validation* split (never the test split): A_F (accuracy on the forgotten digit) and the
drop of A_R (accuracy on the others) from the original model. A setting "works" when the mean A_F
is at most 2% and the mean A_R drop at most 3 points (the project's success criterion); the chosen
setting is the cheapest one that works (fewest epochs), else the one with the best
(1 - A_F) + A_R. The winners are what ``unlearning.methods.baselines.VALIDATED`` holds (per family).

    python benchmarks/tune_baselines.py                  # all digits, ~10 minutes on one CPU thread
    python benchmarks/tune_baselines.py --classes 0 3    # quicker
    python benchmarks/tune_baselines.py --checkpoint assets/models/resnet8-mnist5k.safetensors --small --classes 0 4 8
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning import evaluate, load_checkpoint, load_dataset  # noqa: E402
from unlearning.methods.baselines import SGDSettings, finetune, neggrad_plus, random_labels, ssd  # noqa: E402

from unlearning.evaluation.metrics import FORGOTTEN_AT_MOST, RETAIN_DROP_AT_MOST  # noqa: E402

GRIDS = {
    "finetune": [dict(settings=SGDSettings(epochs=e, lr=lr)) for lr, e in
                 itertools.product((0.01, 0.02, 0.05, 0.1), (1, 2, 5, 10, 20))],
    "neggrad+": [dict(settings=SGDSettings(epochs=e, lr=lr), beta=b) for b, lr, e in
                 itertools.product((0.9, 0.95, 0.99, 0.999), (0.01, 0.05), (1, 2, 5))],
    "random-labels": [dict(settings=SGDSettings(epochs=e, lr=lr)) for lr, e in
                      itertools.product((0.001, 0.01, 0.05), (1, 2, 5))],
    "ssd": [dict(alpha=a, lam=lam) for a, lam in itertools.product((1.0, 2.0, 5.0, 10.0), (0.1, 1.0))],
}
# For models that take seconds per epoch (the conv nets): fewer, shorter settings.
SMALL_GRIDS = {
    "finetune": [dict(settings=SGDSettings(epochs=e, lr=lr)) for lr, e in
                 itertools.product((0.01, 0.02, 0.05, 0.1), (1, 2, 5))],
    "neggrad+": [dict(settings=SGDSettings(epochs=e, lr=lr), beta=b) for b, lr, e in
                 itertools.product((0.95, 0.99, 0.999), (0.01, 0.05), (1, 2))],
    "random-labels": [dict(settings=SGDSettings(epochs=e, lr=lr)) for lr, e in
                      itertools.product((0.001, 0.01, 0.05), (1, 2))],
    "ssd": [dict(alpha=a, lam=1.0) for a in (5.0, 6.0, 7.0, 8.0, 10.0)],  # finer near the published alpha
}
FUNCTIONS = {"finetune": finetune, "neggrad+": neggrad_plus, "random-labels": random_labels, "ssd": ssd}


def describe(kwargs: dict) -> str:
    parts = []
    for k, v in kwargs.items():
        if isinstance(v, SGDSettings):
            parts += [f"epochs={v.epochs}", f"lr={v.lr:g}"]
        else:
            parts.append(f"{k}={v:g}")
    return " ".join(parts)


def cost(kwargs: dict) -> float:
    s = kwargs.get("settings")
    return float(s.epochs) if s is not None else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="default: the model named in assets/models/DEFAULT")
    ap.add_argument("--classes", type=int, nargs="*", default=None, help="digits to forget, one at a time (default: all)")
    ap.add_argument("--methods", nargs="*", default=list(GRIDS), choices=list(GRIDS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="the smaller grids (for conv nets)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    path = args.checkpoint or ROOT / "assets" / "models" / (ROOT / "assets/models/DEFAULT").read_text().strip()
    ckpt = load_checkpoint(path)
    splits = load_dataset(ckpt.meta["dataset"])
    n = ckpt.num_classes
    classes = args.classes if args.classes is not None else list(range(n))
    base = evaluate(ckpt.model, splits.val, n)
    print(f"model {Path(path).name}; validation split of {ckpt.meta['dataset']} ({len(splits.val)} samples); "
          f"forgetting each of {classes} in turn")
    grids = SMALL_GRIDS if args.small else GRIDS
    for method in args.methods:
        rows = []
        t0 = time.perf_counter()
        for kwargs in grids[method]:
            af, drop = [], []
            for c in classes:
                res = FUNCTIONS[method](ckpt.model, splits.train, [c], device="cpu", **kwargs)
                ev = evaluate(res.model, splits.val, n)
                af.append(ev.forget_accuracy([c]))
                drop.append(base.retain_accuracy([c]) - ev.retain_accuracy([c]))
            maf, mdrop = statistics.mean(af), statistics.mean(drop)
            works = maf <= FORGOTTEN_AT_MOST and mdrop <= RETAIN_DROP_AT_MOST
            rows.append((kwargs, maf, mdrop, works))
            print(f"  {method:14s} {describe(kwargs):32s} val A_F {maf:6.3f}  A_R drop {100 * mdrop:+6.2f} pts"
                  f"{'  works' if works else ''}", flush=True)
        working = [r for r in rows if r[3]]
        if working:
            best = min(working, key=lambda r: (cost(r[0]), r[1] + r[2]))
            why = "cheapest setting that works"
        else:
            best = min(rows, key=lambda r: (r[1] + r[2], cost(r[0])))
            why = "no setting works; best (1 - A_F) + A_R"
        print(f"=> {method}: {describe(best[0])} ({why}; val A_F {best[1]:.3f}, A_R drop {100 * best[2]:+.2f} pts) "
              f"[{time.perf_counter() - t0:.0f} s]\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
