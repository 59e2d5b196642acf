"""Train and ship the retrained references (``assets/references/``) the audit reads instantly.

    python benchmarks/references.py                         # the default model, every single class
    python benchmarks/references.py --models cnn-mnist5k --sets singles pairs fives

Each reference is the parent's architecture trained from scratch on the remaining classes with the
parent's own recipe (``baselines.retrain``), one CPU thread, seeded: the same command gives the same files.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.zoo import shipped, table  # noqa: E402
from unlearning.data import dataset_of  # noqa: E402
from unlearning.evaluation.references import SHIPPED_REFERENCES, retrained_reference  # noqa: E402

SETS = {"singles": table.SINGLES, "pairs": table.PAIRS, "fives": table.FIVES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=[shipped.default_name()])
    ap.add_argument("--sets", nargs="+", default=["singles"], choices=sorted(SETS))
    ap.add_argument("--classes", nargs="+", type=int, default=None, help="only these single classes")
    ap.add_argument("--pairs", nargs="+", default=None, help="only these class sets, e.g. 0+6")
    ap.add_argument("--out", type=Path, default=SHIPPED_REFERENCES)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-root", default=None, help="the folder holding the models' dataset (default: where "
                    "each was trained, else searched)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        ckpt = shipped.find_model(name).load()
        splits = dataset_of(ckpt.meta, root=args.data_root)
        sets = [s for k in args.sets for s in SETS[k]]
        if args.classes is not None or args.pairs is not None:
            sets = [(c,) for c in args.classes or ()] + [tuple(int(c) for c in p.split("+")) for p in args.pairs or ()]
        for classes in sets:
            t0 = time.perf_counter()
            ref = retrained_reference(ckpt, splits, classes, device="cpu", folder=args.out, folders=[args.out])
            print(f"{name} {'+'.join(map(str, classes))}: {ref.source} {ref.path.relative_to(ROOT)} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
