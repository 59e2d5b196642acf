"""The paper's MNIST experiment on the embedded data: the MLP with t_mix = 0.1, each digit forgotten alone.

    python benchmarks/paper_mnist.py                  # trains the paper's MLP (200 epochs, ~30 s), then forgets
    python benchmarks/paper_mnist.py --checkpoint assets/models/mlp-mnist5k.safetensors

Prints a Markdown table (A_F and A_R before/after on the real test split, sign, seconds) and says
plainly which digits resisted the published rule. Forgetting uses mode "paper" and the paper's
MNIST lambdas (1e-3, 10).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unlearning import load_checkpoint, load_dataset  # noqa: E402
from unlearning.pipeline import forget_and_evaluate, train_new_model  # noqa: E402
from unlearning.training import TrainConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="use this checkpoint instead of training one")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of Markdown")
    args = ap.parse_args()

    splits = load_dataset("mnist5k")
    if args.checkpoint:
        ckpt = load_checkpoint(args.checkpoint)
        source = args.checkpoint
    else:
        config = TrainConfig(epochs=args.epochs, t_mix=0.1, seed=args.seed)
        ckpt, history, _ = train_new_model(splits, "mlp", config, device=args.device)
        source = f"mlp trained here: {args.epochs} epochs, t_mix 0.1, seed {args.seed}, {history.seconds:.0f} s"
    before = None
    rows = []
    for digit in range(10):
        out = forget_and_evaluate(ckpt, splits.test, [digit], device=args.device, before=before, mode="paper")
        before = out.before
        rows.append({"digit": digit, "sign": out.result.sign,
                     "A_F_before": out.before.forget_accuracy([digit]), "A_F_after": out.after.forget_accuracy([digit]),
                     "A_R_before": out.before.retain_accuracy([digit]), "A_R_after": out.after.retain_accuracy([digit]),
                     "E_F": out.efficacy, "seconds": out.result.seconds["total"], "forgot": out.verdict.forgot})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model: {source}; test accuracy {ckpt.meta['test_accuracy']:.3f}; lambdas (1e-3, 10), mode paper\n")
    print("| digit | sign | A_F before | A_F after | A_R before | A_R after | E_F % | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['digit']} | {r['sign']} | {r['A_F_before']:.3f} | {r['A_F_after']:.3f} | {r['A_R_before']:.3f} "
              f"| {r['A_R_after']:.3f} | {r['E_F']:.1f} | {r['seconds']:.3f} |")
    forgotten = [r for r in rows if r["A_F_after"] <= 0.02]
    drop = statistics.mean(100 * (r["A_R_before"] - r["A_R_after"]) for r in forgotten) if forgotten else float("nan")
    resisted = [r["digit"] for r in rows if r["A_F_after"] > 0.02]
    print(f"\nforgotten (A_F <= 2%): {len(forgotten)}/10 digits; the rest lost {drop:.2f} points on average over those")
    print(f"resisted the published rule: {resisted if resisted else 'none'}")
    print(f"seconds per forgetting: median {statistics.median(r['seconds'] for r in rows):.3f}, "
          f"max {max(r['seconds'] for r in rows):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
