"""The colour recipe against the grey one, on the synthetic colour CIFAR-10 (unlearning.synthetic).

For each recipe and architecture: train through ``train_new_model`` on the synthetic batches, then
forget every class alone with the default forgetting mode and measure on the held-out test batch.
Prints a markdown table: test accuracy, codes recognised, worst A_F, mean and worst retained drop.

    python benchmarks/colour_recipe.py --threads 1            # the README's table (a few minutes)
    python benchmarks/colour_recipe.py --data-root ~/data     # a real CIFAR-10 copy instead (hours on a CPU)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unlearning.data import load_dataset  # noqa: E402
from unlearning.methods.forgetting import DEFAULT_MODE  # noqa: E402
from unlearning.pipeline import forget_and_evaluate, train_new_model  # noqa: E402
from unlearning.synthetic import write_cifar10  # noqa: E402
from unlearning.training import RECIPE_DEFAULTS, TrainConfig  # noqa: E402


def measure(splits, arch: str, recipe: str, epochs: int, batch_size: int, seed: int) -> dict:
    torch.manual_seed(seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, **RECIPE_DEFAULTS[recipe])
    ckpt, history, _ = train_new_model(splits, arch, config, device="cpu")
    drops, worst_af = [], 0.0
    for c in range(ckpt.num_classes):
        o = forget_and_evaluate(ckpt, splits.test, [c], mode=DEFAULT_MODE, device="cpu", calibration=splits.val)
        worst_af = max(worst_af, o.after.forget_accuracy([c]))
        drops.append(o.before.retain_accuracy([c]) - o.after.retain_accuracy([c]))
    return {"recipe": recipe, "arch": arch, "test": ckpt.meta["test_accuracy"], "codes": history.code_accuracy,
            "worst_af": worst_af, "mean_drop": 100 * sum(drops) / len(drops), "worst_drop": 100 * max(drops),
            "seconds": history.seconds}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["cnn", "resnet8"])
    p.add_argument("--recipes", nargs="+", default=["grey", "colour"], choices=sorted(RECIPE_DEFAULTS))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--per-class", type=int, nargs=2, default=(100, 20), metavar=("TRAIN", "TEST"),
                   help="synthetic images per class")
    p.add_argument("--data-root", default=None, help="a real CIFAR-10 folder (cifar-10-batches-py inside)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            write_cifar10(tmp, per_class=tuple(args.per_class), seed=args.seed)
            root = tmp
        splits = load_dataset("cifar10", root=root)
        rows = [measure(splits, a, r, args.epochs, args.batch_size, args.seed) for a in args.archs for r in args.recipes]
    print(f"data: {'synthetic colour CIFAR-10' if args.data_root is None else args.data_root}, "
          f"{len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test; {args.epochs} epochs, "
          f"batch {args.batch_size}, seed {args.seed}; forgetting mode {DEFAULT_MODE}, each class alone\n")
    print("| recipe | arch | t_mix, schedule, lr | test accuracy | codes recognised | worst A_F | "
          "mean retained drop | worst retained drop | training (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        d = RECIPE_DEFAULTS[r["recipe"]]
        print(f"| {r['recipe']} | {r['arch']} | {d['t_mix']}, {d['schedule']}, {d['lr']} | {r['test']:.3f} "
              f"| {r['codes']:.0%} | {r['worst_af']:.1%} | {r['mean_drop']:+.2f} pts | {r['worst_drop']:+.2f} pts "
              f"| {r['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
