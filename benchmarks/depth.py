"""How deep does each method forget? Every method on every shipped model, read against retraining.

    python benchmarks/depth.py                               # the zoo, single classes, references on disk
    python benchmarks/depth.py --models resnet8-mnist5k --classes 3 --json
    python benchmarks/depth.py --sets singles pairs fives --train-missing   # trains missing references (long)
    python benchmarks/depth.py --write-docs                  # also regenerates docs/depth.md and docs/depth.csv

For each (model, classes, method): A_F and A_R on the test split, the 10-shot recoverability
(``audit.probe``: a linear probe on the penultimate features fitted on 50 images of each retained class
and 10 of each forgotten class, 3 draws), the relearning steps to 50 % of the original's forgotten
accuracy (``audit.relearn``), both membership attacks (entropy: ``privacy``; SVC: ``audit.svc_mia``),
the linear CKA of the penultimate features to the original's on the forgotten test images, and the
method's seconds; each beside the retrained model's value. The same 10-shot probe at every depth
(``stages.stage_names``: conv maps pooled, ViT tokens averaged), the worst depth (most points above
retraining), and the Anamnesis Index (relearning steps over the retrained model's); the verdict is
``audit.depth_verdict`` on the worst depth and the index, as in the app and the CLI. Methods: the original model, every
one-shot mode, retrain (the reference, read from ``assets/references`` or the cache), fine-tuning
and SSD. Rows without a reference leave the retrain columns empty. Timings are one CPU thread.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.evaluation import audit as A  # noqa: E402
from unlearning import comparison  # noqa: E402
from unlearning.zoo import shipped, table  # noqa: E402
from unlearning.methods.registry import names as registered  # noqa: E402
from unlearning.data import dataset_of  # noqa: E402
from unlearning.evaluation.metrics import evaluate  # noqa: E402
from unlearning.evaluation.privacy import membership_attack  # noqa: E402
from unlearning.evaluation.references import find_reference, retrained_reference  # noqa: E402

SETS = {"singles": table.SINGLES, "pairs": table.PAIRS, "fives": table.FIVES}
ONE_SHOT_MODES = registered(one_shot=True)
METHODS = ("original", *ONE_SHOT_MODES, "retrain", "finetune", "ssd")
KEYS = ("model", "classes", "method", "forget_accuracy", "retain_accuracy", "probe_forget", "probe_forget_retrain",
        "relearn_steps", "relearn_steps_retrain", "relearn_steps_90", "mia_entropy", "mia_svc", "mia_svc_retrain",
        "cka_forgotten", "seconds", "depths", "probe_depths", "probe_depths_retrain", "worst_depth",
        "worst_depth_gap", "anamnesis_index", "verdict")
DOCS_MD = ROOT / "docs" / "depth.md"
DOCS_CSV = ROOT / "docs" / "depth.csv"


def measure(model, splits, classes, target, device="cpu") -> dict:
    """The depth figures of one model (no reference needed)."""
    n = len(splits.info.class_names)
    ev = evaluate(model, splits.test, n, device=device)
    sample = A.audit_sample(splits)  # the attack, like every audit figure, reads a bounded sample
    stages = A.stage_feature_sets(model, splits, device)  # one pass per split serves every depth
    fs = stages["penultimate"]
    curve = A.relearn(model, splits, classes, target, device=device)
    by_depth = A.stage_probes(stages, classes)
    return {"forget_accuracy": ev.forget_accuracy(classes), "retain_accuracy": ev.retain_accuracy(classes),
            "probe_forget": by_depth["penultimate"], "_by_depth": by_depth, "_curve": curve,
            "relearn_steps": curve.steps_to_50,
            "relearn_steps_90": curve.steps_to_90,
            "mia_entropy": membership_attack(model, sample.train, sample.test, classes, device=device).member_fraction,
            "mia_svc": A.svc_mia(model, splits, classes, device), "_features": fs}


def cka_forgotten(fs_a: A.FeatureSet, fs_b: A.FeatureSet, classes) -> float:
    import numpy as np

    mask = np.isin(fs_a.y_test, list(classes))
    return A.linear_cka(torch.from_numpy(fs_a.test[mask]), torch.from_numpy(fs_b.test[mask]))


def rows_for(name: str, ckpt, splits, classes: tuple[int, ...], methods, train_missing: bool, log) -> list[dict]:
    ref = (retrained_reference(ckpt, splits, classes, device="cpu") if train_missing
           else find_reference(ckpt, classes))
    mask = torch.isin(splits.test.labels, torch.tensor(list(classes)))
    before = evaluate(ckpt.model, splits.test, ckpt.num_classes, device="cpu")
    target = before.forget_accuracy(classes)
    base = measure(ckpt.model, splits, classes, target)
    ref_m = measure(ref.checkpoint.model, splits, classes, target) if ref is not None else None
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        if method == "original":
            m, seconds, got = ckpt.model, 0.0, base
        elif method == "retrain":
            if ref is None:
                continue
            m, seconds, got = ref.checkpoint.model, ref.seconds, ref_m
        else:
            one_shot = method in ONE_SHOT_MODES
            res = comparison.run(comparison.ONE_SHOT if one_shot else method, ckpt, splits, list(classes),
                                 device="cpu", mode=method if one_shot else None)
            m, seconds = res.model, float(res.seconds["total"])
            got = measure(m, splits, classes, target)
        names = tuple(got["_by_depth"])
        profile = A.DepthProfile(names, tuple(base["_by_depth"][n] for n in names),
                                 tuple(got["_by_depth"][n] for n in names),
                                 tuple(ref_m["_by_depth"][n] for n in names) if ref_m else None)
        amn = A.anamnesis(got["_curve"], ref_m["_curve"]) if ref_m else None
        verdict = A.depth_verdict(got["forget_accuracy"], base["probe_forget"], got["probe_forget"],
                                  ref_m["probe_forget"] if ref_m else None, original_accuracy=target,
                                  features_changed=method != "original" and not _same(base, got),
                                  retain_drop=base["retain_accuracy"] - got["retain_accuracy"], profile=profile,
                                  anamnesis_index=amn.index if amn else None)
        worst = profile.worst()
        row = {"model": name, "classes": "+".join(map(str, classes)), "method": method,
               **{k: v for k, v in got.items() if not k.startswith("_")},
               "probe_forget_retrain": ref_m["probe_forget"] if ref_m else None,
               "relearn_steps_retrain": ref_m["relearn_steps"] if ref_m else None,
               "mia_svc_retrain": ref_m["mia_svc"] if ref_m else None,
               "cka_forgotten": cka_forgotten(got["_features"], base["_features"], classes),
               "seconds": seconds, "depths": "|".join(names),
               "probe_depths": "|".join(f"{v:.3f}" for v in profile.unlearned),
               "probe_depths_retrain": "|".join(f"{v:.3f}" for v in profile.retrained) if ref_m else None,
               "worst_depth": names[worst] if ref_m else None,
               "worst_depth_gap": profile.unlearned[worst] - profile.retrained[worst] if ref_m else None,
               "anamnesis_index": amn.index if amn else None, "verdict": verdict.level}
        rows.append(row)
        log(f"  {name} {row['classes']:>9} {method:<10} A_F {row['forget_accuracy']:.3f} A_R {row['retain_accuracy']:.3f} "
            f"probe {row['probe_forget']:.2f} (retrain {_f(row['probe_forget_retrain'])}) relearn {row['relearn_steps']} "
            f"(retrain {row['relearn_steps_retrain']}) worst depth {row['worst_depth']} "
            f"{_f(row['worst_depth_gap'], '+.2f')} index {_f(row['anamnesis_index'])} {row['verdict']} "
            f"[{time.perf_counter() - t0:.1f} s]")
    return rows


def _same(a: dict, b: dict) -> bool:
    import numpy as np

    return np.array_equal(a["_features"].test, b["_features"].test)


def _f(x, spec=".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def targets(rows: list[dict]) -> dict[str, dict]:
    """Per (model, method): how the issue's targets fare on the rows with a reference."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["probe_forget_retrain"] is None or r["method"] in ("original", "retrain"):
            continue
        single = "+" not in r["classes"]
        k = (r["model"], r["method"])
        t = out.setdefault(k, {"rows": 0, "af": 0, "drop": 0, "probe": 0, "relearn": 0, "worst_probe_gap": -1.0,
                               "every_depth": 0, "worst_depth_gap": -1.0, "index": 0, "lowest_index": math.inf})
        t["rows"] += 1
        t["af"] += r["forget_accuracy"] <= (0.02 if single else 0.05)
        gap = r["probe_forget"] - r["probe_forget_retrain"]
        t["probe"] += gap <= 0.05
        t["worst_probe_gap"] = max(t["worst_probe_gap"], gap)
        rl, rr = r["relearn_steps"], r["relearn_steps_retrain"]
        t["relearn"] += (rl is None) or (rr is not None and rl >= rr)
        if r.get("worst_depth_gap") is not None:
            t["every_depth"] += r["worst_depth_gap"] <= A.DEPTH_MARGIN
            t["worst_depth_gap"] = max(t["worst_depth_gap"], r["worst_depth_gap"])
        if r.get("anamnesis_index") is not None:
            t["index"] += r["anamnesis_index"] >= A.ANAMNESIS_AT_LEAST
            t["lowest_index"] = min(t["lowest_index"], r["anamnesis_index"])
    return out


def markdown(rows: list[dict], drops: dict, note: str | None = None) -> str:
    lines = ["# Depth table (generated)", "", *([note, ""] if note else []),
             "Made by `python benchmarks/depth.py --write-docs` from the shipped models and the retrained references in "
             "`assets/references/`. Every figure is measured on each model's own real test split (`mnist5k`: 1,000 "
             "digits; `fashion-mnist`: the official 10,000 images); nothing is tuned on it. The audit figures read "
             "the bounded, seeded audit sample (`audit.audit_sample`: at most 200 training and 200 test images a "
             "class). probe: 10-shot recoverability (a linear probe on the penultimate features, fitted on 50 "
             "training images of each retained class and 10 of each forgotten class, PCA to 64 dimensions when wider, "
             "mean of 3 draws): the forgotten classes' test accuracy it "
             "reaches. relearn: fine-tuning steps (20 images per class, lr 0.01, batch 64) until the forgotten classes "
             "reach 50 % of the original's accuracy (– : not within 60 steps). MIA: entropy attack's member share "
             "and SalUn's SVC efficacy (non-member share, higher = more forgotten). CKA: linear CKA of the penultimate "
             "features to the original's, on the forgotten classes. seconds: one CPU thread of a loaded 2-core machine.",
             "", "## Targets (issue 10), on rows with a retrained reference", "",
             "| model | method | rows | A_F target | retain drop target | probe <= retrain + 5 | worst probe gap "
             "| relearn no faster than retrain | every depth <= retrain + 5 | worst gap at any depth "
             f"| Anamnesis Index >= {A.ANAMNESIS_AT_LEAST} | lowest index |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (model, method), t in targets(rows).items():
        lines.append(f"| {model} | {method} | {t['rows']} | {t['af']}/{t['rows']} | {drops.get((model, method), '')} "
                     f"| {t['probe']}/{t['rows']} | {100 * t['worst_probe_gap']:+.1f} pts | {t['relearn']}/{t['rows']} "
                     f"| {t['every_depth']}/{t['rows']} | {100 * t['worst_depth_gap']:+.1f} pts | {t['index']}/{t['rows']} "
                     f"| {_f(t['lowest_index'] if math.isfinite(t['lowest_index']) else None)} |")
    lines += ["", "## Recoverability at every depth", "",
              "10-shot probe on each stage's output (input side first; \"penultimate\" is the probe above; the MLP, with "
              "one hidden layer, is read at its logits too), "
              "unlearned / retrained, in percent; the worst depth is the one most above retraining; the Anamnesis "
              "Index is the relearning steps to 50 % over the retrained model's (a count not reached in 60 steps "
              "taken as 61).", ""]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model and r.get("depths")]
        if not mine:
            continue
        depths = mine[0]["depths"].split("|")
        lines += [f"### {model}", "", "| classes | method | " + " | ".join(depths) + " | worst depth | index | verdict |",
                  "|---|---|" + "---|" * (len(depths) + 3)]
        for r in mine:
            un = r["probe_depths"].split("|")
            re_ = r["probe_depths_retrain"].split("|") if r.get("probe_depths_retrain") else ["–"] * len(un)
            cells = [f"{100 * float(u):.0f} / {'–' if x == '–' else f'{100 * float(x):.0f}'}" for u, x in zip(un, re_)]
            lines.append(f"| {r['classes']} | {r['method']} | " + " | ".join(cells)
                         + f" | {r['worst_depth'] or '–'} ({_f(r['worst_depth_gap'] and 100 * r['worst_depth_gap'], '+.1f')}) "
                         f"| {_f(r['anamnesis_index'])} | {r['verdict']} |")
    lines += ["", "## Every row", "",
              "| model | classes | method | A_F | A_R | probe | probe (retrain) | relearn | relearn (retrain) "
              "| MIA entropy | MIA SVC | MIA SVC (retrain) | CKA | seconds | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['classes']} | {r['method']} | {_f(r['forget_accuracy'], '.3f')} "
                     f"| {_f(r['retain_accuracy'], '.3f')} | {_f(r['probe_forget'])} | {_f(r['probe_forget_retrain'])} "
                     f"| {_f(r['relearn_steps'], 'd')} | {_f(r['relearn_steps_retrain'], 'd')} | {_f(r['mia_entropy'])} "
                     f"| {_f(r['mia_svc'])} | {_f(r['mia_svc_retrain'])} | {_f(r['cka_forgotten'])} "
                     f"| {_f(r['seconds'], '.3f')} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def retain_drops(rows: list[dict]) -> dict:
    """Per (model, method): retained-accuracy drop targets met (single <= 3 points on average, sets <= 5 each)."""
    base = {(r["model"], r["classes"]): r["retain_accuracy"] for r in rows if r["method"] == "original"}
    out = {}
    for key in {(r["model"], r["method"]) for r in rows if r["method"] not in ("original", "retrain")}:
        mine = [r for r in rows if (r["model"], r["method"]) == key and r["probe_forget_retrain"] is not None]
        singles = [100 * (base[(r["model"], r["classes"])] - r["retain_accuracy"]) for r in mine if "+" not in r["classes"]]
        sets = [100 * (base[(r["model"], r["classes"])] - r["retain_accuracy"]) for r in mine if "+" in r["classes"]]
        ok = (not singles or sum(singles) / len(singles) <= 3.0) and all(d <= 5.0 for d in sets)
        worst = max(singles + sets, default=float("nan"))
        out[key] = f"{'met' if ok else 'missed'} (worst {worst:+.1f} pts)"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=[m.name for m in shipped.list_zoo()],
                    help="shipped model names or checkpoint paths (default: the whole zoo)")
    ap.add_argument("--data-root", default=None, help="the folder holding the models' dataset (default: where each "
                    "was trained from, else searched)")
    ap.add_argument("--sets", nargs="+", default=["singles"], choices=sorted(SETS))
    ap.add_argument("--classes", nargs="+", default=None, help="only these class sets, e.g. 3 1+7")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--with-reference-only", action="store_true", help="skip class sets without a retrained reference")
    ap.add_argument("--train-missing", action="store_true", help="train (and cache) missing references: minutes each")
    ap.add_argument("--json", action="store_true", help="print one JSON row per (model, classes, method) on stdout")
    ap.add_argument("--write-docs", action="store_true", help="write docs/depth.md and docs/depth.csv")
    ap.add_argument("--from-json", nargs="+", type=Path, default=None,
                    help="with --write-docs: build the docs from rows saved by earlier --json runs, measuring nothing")
    ap.add_argument("--note", default=None, help="with --write-docs: a paragraph under the title (what this run covers)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.from_json:
        rows = [json.loads(line) for f in args.from_json for line in f.read_text().splitlines() if line.strip()]
        latest = {(r["model"], r["classes"], r["method"]): r for r in rows}  # a later file's row replaces an earlier one
        order = {m: i for i, m in enumerate(METHODS)}
        rows = sorted(latest.values(), key=lambda r: (r["model"], len(r["classes"]), r["classes"], order[r["method"]]))
        return _write_docs(rows, args.note) if args.write_docs else 0
    torch.set_num_threads(args.threads)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        chosen = [shipped.find_model(name) for name in args.models]
    except ValueError as e:
        ap.error(str(e))
    sets = ([tuple(int(c) for c in s.split("+")) for s in args.classes] if args.classes
            else [s for k in args.sets for s in SETS[k]])
    rows = []
    for entry in chosen:
        name, ckpt = entry.name, entry.load()
        splits = dataset_of(ckpt.meta, root=args.data_root)
        for classes in sets:
            if args.with_reference_only and not args.train_missing and find_reference(ckpt, classes) is None:
                continue
            rows += rows_for(name, ckpt, splits, classes, args.methods, args.train_missing, log)
    plain = [{k: (None if isinstance(r.get(k), float) and not math.isfinite(r[k]) else r.get(k)) for k in KEYS}
             for r in rows]
    if args.json:
        for r in plain:
            print(json.dumps(r))
    else:
        for (model, method), t in targets(rows).items():
            print(f"{model} {method}: probe within 5 pts of retrain {t['probe']}/{t['rows']}, "
                  f"worst gap {100 * t['worst_probe_gap']:+.1f} pts; relearn no faster {t['relearn']}/{t['rows']}; "
                  f"every depth within 5 pts {t['every_depth']}/{t['rows']} (worst {100 * t['worst_depth_gap']:+.1f}); "
                  f"index >= {A.ANAMNESIS_AT_LEAST} {t['index']}/{t['rows']}")
    if args.write_docs:
        _write_docs(plain, args.note)
    return 0


def _write_docs(rows: list[dict], note: str | None = None) -> int:
    DOCS_MD.write_text(markdown(rows, retain_drops(rows), note))
    with open(DOCS_CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=KEYS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: r.get(k) for k in KEYS} for r in rows)
    print(f"wrote {DOCS_MD.relative_to(ROOT)} and {DOCS_CSV.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
