"""The forgetting table: every shipped model, every mode, each class alone and fixed 2- and 5-class sets.

    python benchmarks/forgetting_table.py                 # all modes; writes docs/forgetting_table.{md,csv}
    python benchmarks/forgetting_table.py --modes erase    # re-measure one mode, keep the other rows
    python benchmarks/forgetting_table.py --models vit-mnist5k   # measure one model, keep the others' rows

Measured on the real mnist5k test split (the calibrated mode looks at the validation split only),
one CPU thread. Besides the two table files it rewrites each model's card (assets/models/<name>.md)
with its summary and points assets/models/DEFAULT at the model with the best table in the app's
default mode (unless --no-default). Exit status 1 if a model misses a target in the default mode.
The logic lives in unlearning/zoo/ (table.py measures, remake.py writes) so that
`python -m unlearning zoo --rebuild` runs it too.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unlearning.zoo import remake, table, targets  # noqa: E402
from unlearning.methods.registry import DEFAULT_MODE, names  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", nargs="+", choices=list(names(one_shot=True)), default=None, help="measure only these modes; the others keep their rows (default: every mode)")
    ap.add_argument("--csv", default=str(table.TABLE_CSV))
    ap.add_argument("--md", default=str(table.TABLE_MD))
    ap.add_argument("--models", nargs="+", default=None,
                    help="measure only these shipped models; the others keep their rows from the existing CSV")
    ap.add_argument("--no-default", action="store_true", help="leave assets/models/DEFAULT as it is")
    ap.add_argument("--data-root", default=None, help="the folder holding the models' datasets (default: where each "
                    "was trained from, else searched)")
    args = ap.parse_args()
    rows = remake.make_table(csv_path=Path(args.csv), md_path=Path(args.md), modes=args.modes,
                          write_default=not args.no_default, names=args.models, data_root=args.data_root,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
    missed = [s for s in targets.summaries(rows) if s.mode == DEFAULT_MODE and not s.meets_targets]
    for s in targets.summaries(rows):
        print(f"{s.model:<18} {s.mode:<11} singles worst A_F {s.singles_max_forget:6.1%}  mean drop "
              f"{s.singles_mean_drop:+5.2f}  sets worst A_F {s.sets_max_forget:6.1%}  worst drop {s.sets_max_drop:+5.2f}  "
              f"slowest {s.max_seconds:.3f}s  {'met' if s.meets_targets else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
