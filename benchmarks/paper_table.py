"""The paper's experiment table on any dataset: its MLP (t_mix 0.1), each class forgotten alone by the published rule.

    python benchmarks/paper_table.py                                   # trains the paper's MLP on mnist5k, then forgets
    python benchmarks/paper_table.py --checkpoint mlp-mnist5k          # the shipped 5,000-digit MLP
    python benchmarks/paper_table.py --checkpoint mlp-fashion --threads 1   # at full size: 60,000 Fashion-MNIST images
    python benchmarks/paper_table.py --dataset fashion-mnist --epochs 40    # train the paper's MLP there first

Prints a Markdown table (A_F and A_R before/after on the real test split, sign, seconds) and says
plainly which classes resisted the published rule. Forgetting uses mode "paper" and the paper's
MNIST lambdas (1e-3, 10).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from unlearning import load_checkpoint, load_dataset  # noqa: E402
from unlearning.zoo import shipped  # noqa: E402
from unlearning.data import dataset_of  # noqa: E402
from unlearning.pipeline import forget_and_evaluate, train_new_model  # noqa: E402
from unlearning.training import TrainConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="a shipped model's name or a checkpoint path, instead of training one")
    ap.add_argument("--dataset", default="mnist5k", help="what to train the MLP on when no --checkpoint is given")
    ap.add_argument("--data-root", default=None, help="the folder holding the dataset (default: searched)")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of Markdown")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.checkpoint:
        entry = shipped.find_model(args.checkpoint)
        ckpt, source = load_checkpoint(entry.path), str(entry.path)
        splits = dataset_of(ckpt.meta, root=args.data_root)
    else:
        splits = load_dataset(args.dataset, root=args.data_root)
        config = TrainConfig(epochs=args.epochs, t_mix=0.1, seed=args.seed)
        ckpt, history, _ = train_new_model(splits, "mlp", config, device=args.device)
        source = f"mlp trained here: {args.epochs} epochs, t_mix 0.1, seed {args.seed}, {history.seconds:.0f} s"
    names = ckpt.class_names
    before = None
    rows = []
    for c in range(len(names)):
        out = forget_and_evaluate(ckpt, splits.test, [c], device=args.device, before=before, mode="paper")
        before = out.before
        rows.append({"class": names[c], "sign": out.result.sign,
                     "A_F_before": out.before.forget_accuracy([c]), "A_F_after": out.after.forget_accuracy([c]),
                     "A_R_before": out.before.retain_accuracy([c]), "A_R_after": out.after.retain_accuracy([c]),
                     "E_F": out.efficacy, "seconds": out.result.seconds["total"], "forgot": out.verdict.forgot})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"model: {source} ({ckpt.meta['dataset']}, {len(splits.train):,} training images); test accuracy "
          f"{ckpt.meta['test_accuracy']:.3f}; lambdas (1e-3, 10), mode paper, {torch.get_num_threads()} thread(s)\n")
    print("| class | sign | A_F before | A_F after | A_R before | A_R after | E_F % | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['class']} | {r['sign']} | {r['A_F_before']:.3f} | {r['A_F_after']:.3f} | {r['A_R_before']:.3f} "
              f"| {r['A_R_after']:.3f} | {r['E_F']:.1f} | {r['seconds']:.3f} |")
    forgotten = [r for r in rows if r["A_F_after"] <= 0.02]
    drop = statistics.mean(100 * (r["A_R_before"] - r["A_R_after"]) for r in forgotten) if forgotten else float("nan")
    resisted = [r["class"] for r in rows if r["A_F_after"] > 0.02]
    print(f"\nforgotten (A_F <= 2%): {len(forgotten)}/{len(rows)} classes; the rest lost {drop:.2f} points on average "
          f"over those")
    print(f"resisted the published rule: {resisted if resisted else 'none'}")
    print(f"seconds per forgetting: median {statistics.median(r['seconds'] for r in rows):.3f}, "
          f"max {max(r['seconds'] for r in rows):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
