"""Does ``deep-erase`` meet issue 18's targets? Each one-shot mode against retraining, at every depth.

    python benchmarks/deep_erase.py                                  # the digits zoo, ten single classes
    python benchmarks/deep_erase.py --models cnn-mnist5k --classes 3 --modes erase deep-erase
    python benchmarks/deep_erase.py --models resnet8-fashion --sets singles pairs

Per (model, classes, mode): A_F and the retained drop on the test split (all rows); where a retrained
reference is on disk, the worst gap over the depths of ``stages.stage_names`` between the unlearned
and the retrained model's 10-shot recoverability (``audit.probe`` on each stage's features), and the
Anamnesis Index (relearning steps to 50 % of the original's A_F, unlearned / retrained; a model that
does not relearn within the budget counts the budget). Seconds: the mode's own, one CPU thread.
The last lines give, per (model, mode), how many rows meet each target and the worst miss.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.evaluation import audit as A  # noqa: E402
from unlearning.methods import forgetting  # noqa: E402
from unlearning.zoo import shipped, table  # noqa: E402
from unlearning.data import dataset_of  # noqa: E402
from unlearning.evaluation.metrics import evaluate  # noqa: E402
from unlearning.evaluation.references import find_reference  # noqa: E402

DIGITS = ("resnet8-mnist5k", "cnn-mnist5k", "mlp-mnist5k", "vit-mnist5k")
SETS = {"singles": table.SINGLES, "pairs": table.PAIRS, "fives": table.FIVES}
# issue 18's targets: (single class, class set)
AF_MAX = (0.02, 0.05)
DROP_MAX = (0.03, 0.05)
GAP_MAX = 0.05
INDEX_MIN = 0.8
SECONDS_MAX = 2.0


def steps(model, splits, classes, target) -> int:
    curve = A.relearn(model, splits, classes, target, device="cpu")
    return curve.steps_to_50 if curve.steps_to_50 is not None else curve.settings.max_steps


def rows_for(name, ckpt, splits, classes, modes, log) -> list[dict]:
    n = ckpt.num_classes
    before = evaluate(ckpt.model, splits.test, n, device="cpu")
    target = before.forget_accuracy(classes)
    ref = find_reference(ckpt, classes)
    ref_probes = A.stage_probes(A.stage_feature_sets(ref.checkpoint.model, splits, "cpu"), classes) if ref else None
    ref_steps = steps(ref.checkpoint.model, splits, classes, target) if ref else None
    rows = []
    for mode in modes:
        t0 = time.perf_counter()
        res = forgetting.forget(ckpt.model, ckpt.codes, list(classes), device="cpu", mode=mode, calibration=splits.val)
        seconds = time.perf_counter() - t0
        ev = evaluate(res.model, splits.test, n, device="cpu")
        row = {"model": name, "classes": "+".join(map(str, classes)), "mode": mode,
               "af": ev.forget_accuracy(classes), "drop": before.retain_accuracy(classes) - ev.retain_accuracy(classes),
               "gap": None, "gap_at": None, "index": None, "seconds": seconds}
        if ref:
            probes = A.stage_probes(A.stage_feature_sets(res.model, splits, "cpu"), classes)
            gaps = {k: probes[k] - ref_probes[k] for k in probes}
            row["gap_at"] = max(gaps, key=gaps.get)
            row["gap"] = gaps[row["gap_at"]]
            row["index"] = steps(res.model, splits, classes, target) / max(ref_steps, 1)
        rows.append(row)
        log(line(row))
    return rows


def _f(x, spec="+.3f") -> str:
    return "–" if x is None else format(x, spec)


def line(r: dict) -> str:
    return (f"{r['model']:<16} {r['classes']:>9} {r['mode']:<11} A_F {r['af']:.3f}  drop {_f(r['drop'])}  "
            f"worst gap {_f(r['gap'])} ({r['gap_at'] or '–'})  index {_f(r['index'], '.2f')}  {r['seconds']:.2f} s")


def summary(rows: list[dict]) -> list[str]:
    """Per (model, mode): rows meeting each target, and the worst value beside its bound."""
    out = []
    for key in dict.fromkeys((r["model"], r["mode"]) for r in rows):
        rs = [r for r in rows if (r["model"], r["mode"]) == key]
        one = ["+" not in r["classes"] for r in rs]
        ref = [r for r in rs if r["gap"] is not None]
        af = sum(r["af"] <= AF_MAX[not s] for r, s in zip(rs, one))
        drop = sum(r["drop"] <= DROP_MAX[not s] for r, s in zip(rs, one))
        gap = sum(r["gap"] <= GAP_MAX for r in ref)
        idx = sum(r["index"] >= INDEX_MIN for r in ref)
        fast = sum(r["seconds"] <= SECONDS_MAX for r in rs)
        worst = lambda k, f: _f(f(r[k] for r in (ref if k in ("gap", "index") else rs)) if (ref or k not in ("gap", "index")) else None,  # noqa: E731
                                "+.3f" if k != "seconds" else ".2f")
        out.append(f"{key[0]:<16} {key[1]:<11} A_F {af}/{len(rs)} (max {worst('af', max)} vs {AF_MAX[0]})  "
                   f"drop {drop}/{len(rs)} (max {worst('drop', max)} vs {DROP_MAX[0]})  "
                   f"gap {gap}/{len(ref)} (max {worst('gap', max)} vs {GAP_MAX})  "
                   f"index {idx}/{len(ref)} (min {worst('index', min)} vs {INDEX_MIN})  "
                   f"time {fast}/{len(rs)} (max {worst('seconds', max)} s vs {SECONDS_MAX})")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(DIGITS))
    ap.add_argument("--modes", nargs="+", default=["erase", "deep-erase"], choices=list(forgetting.MODES))
    ap.add_argument("--sets", nargs="+", default=["singles"], choices=list(SETS))
    ap.add_argument("--classes", nargs="+", type=int, help="single classes only (overrides --sets)")
    ap.add_argument("--only-references", action="store_true", help="only the class sets with a retrained reference")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    for name in args.models:
        ckpt = shipped.find_model(name).load()
        splits = dataset_of(ckpt.meta)
        sets = ([(c,) for c in args.classes] if args.classes
                else [tuple(s) for k in args.sets for s in SETS[k]])
        for classes in sets:
            if args.only_references and find_reference(ckpt, classes) is None:
                continue
            rows += rows_for(name, ckpt, splits, classes, args.modes, lambda s: print(s, flush=True))
    print()
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
