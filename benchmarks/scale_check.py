"""Does a 60,000-image model cost what a 5,000-image one does? Forgetting and the depth check, timed.

    python benchmarks/scale_check.py                  # ResNet-8 on 5,000 digits against ResNet-8 on Fashion-MNIST
    python benchmarks/scale_check.py --small mlp-mnist5k --large mlp-fashion
    python benchmarks/scale_check.py --depth-only --depth resnet8-fashion mlp-fashion   # the depth check alone

One process, one CPU thread (``--threads``), the default mode. Each model forgets every single class
once untimed (warm-up: lazy imports, caches), then every class again, timed by the method's own
``seconds["total"]``; the median and the ratio large / small are printed (target: at most 2x). Then
the depth check (``pipeline.check_depth``: the 10-shot probes of the original, the unlearned and the
retrained model at every depth, on the bounded audit sample, and the relearning behind the Anamnesis
Index) is timed, from cold (no cached features), with its per-depth table, after one forget of each class that has a
shipped reference (target: within 30 s for the full-size ResNet-8).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from unlearning import load_checkpoint  # noqa: E402
from unlearning.zoo import recipes, shipped, table  # noqa: E402
from unlearning.data import dataset_of  # noqa: E402
from unlearning.evaluation.metrics import evaluate  # noqa: E402
from unlearning.pipeline import check_depth, forget_and_evaluate  # noqa: E402
from unlearning.evaluation.references import find_reference  # noqa: E402

FORGET_RATIO_AT_MOST = 2.0
DEPTH_SECONDS_AT_MOST = 30.0


def forget_seconds(name: str, data_root: str | None = None) -> tuple[float, list]:
    """Median seconds of a default-mode forget over the ten classes, and the (checkpoint, splits, before)."""
    ckpt = load_checkpoint(shipped.find_model(name).path)
    splits = dataset_of(ckpt.meta, root=data_root)
    before = evaluate(ckpt.model, splits.test, ckpt.num_classes, device="cpu")
    runs = [lambda c=c: forget_and_evaluate(ckpt, splits.test, [c], device="cpu", before=before,
                                            calibration=splits.val) for c in range(ckpt.num_classes)]
    for run in runs:  # warm-up
        run()
    secs = [run().result.seconds["total"] for run in runs]
    return statistics.median(secs), [ckpt, splits, before]


def depth_seconds(ckpt, splits, before, show: bool = False) -> list[tuple[str, float, str]]:
    """(classes, seconds of check_depth, verdict) for every single class and pair with a shipped reference; for
    class 0 alone (two probes instead of three) when none has one."""
    sets = [s for s in (*table.SINGLES, *table.PAIRS) if find_reference(ckpt, s) is not None] or [(0,)]
    out = []
    for classes in sets:
        outcome = forget_and_evaluate(ckpt, splits.test, list(classes), device="cpu", before=before,
                                      calibration=splits.val)
        t0 = time.perf_counter()
        checked = check_depth(ckpt, outcome, splits, device="cpu")
        out.append(("+".join(ckpt.class_names[c] for c in classes), time.perf_counter() - t0,
                    checked.depth.verdict.level))
        if show:
            d = checked.depth
            print(f"  {out[-1][0]}: {d.verdict.level}, worst depth {d.verdict.worst_depth}, Anamnesis Index "
                  f"{d.anamnesis.index if d.anamnesis is not None else None}", flush=True)
            for r in d.rows():
                print("    " + "  ".join(f"{k} {v}" for k, v in r.items()), flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", default="resnet8-mnist5k")
    ap.add_argument("--large", default=recipes.FULL_SIZE_DEFAULT)
    ap.add_argument("--depth", nargs="*", default=None, help="models whose depth check to time (default: --large)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--depth-only", action="store_true", help="time the depth check alone, with its per-depth table")
    ap.add_argument("--data-root", default=None, help="the folder holding the full-size data (default: searched)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    large_ctx = None
    if not args.depth_only:
        small, _ = forget_seconds(args.small)
        large, large_ctx = forget_seconds(args.large, args.data_root)
        ratio = large / small
        print(f"forget, default mode, {args.threads} thread(s), median of 10 classes: {args.small} {small:.3f} s, "
              f"{args.large} {large:.3f} s: {ratio:.2f}x (target <= {FORGET_RATIO_AT_MOST:.0f}x): "
              f"{'met' if ratio <= FORGET_RATIO_AT_MOST else 'NOT met'}")
    for name in args.depth if args.depth is not None else [args.large]:
        ctx = large_ctx if name == args.large and large_ctx is not None else None
        if ctx is None:
            ckpt = load_checkpoint(shipped.find_model(name).path)
            splits = dataset_of(ckpt.meta, root=args.data_root)
            ctx = [ckpt, splits, evaluate(ckpt.model, splits.test, ckpt.num_classes, device="cpu")]
        rows = depth_seconds(*ctx, show=args.depth_only)
        for classes, secs, level in rows:
            print(f"depth check, {name}, {classes}: {secs:.1f} s ({level})")
        worst = max(s for _, s, _ in rows)
        print(f"depth check, {name}: slowest {worst:.1f} s (target <= {DEPTH_SECONDS_AT_MOST:.0f} s for the "
              f"full-size ResNet-8): {'met' if worst <= DEPTH_SECONDS_AT_MOST else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
