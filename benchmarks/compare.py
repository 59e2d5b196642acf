"""Forget a class with every method, on the same model in the same run, and compare.

    python benchmarks/compare.py                        # default shipped model, digit 0, CPU
    python benchmarks/compare.py --classes 3 --json     # JSON rows instead of the table
    python benchmarks/compare.py --device cuda
    python benchmarks/compare.py --scaling              # seconds as the training set grows
    python benchmarks/compare.py --dataset fashion-mnist --threads 1   # the full-size default model, 60,000 images

``--dataset fashion-mnist`` takes the full-size default (``recipes.FULL_SIZE_DEFAULT``) and holds it to the
full-size targets (1,000x retraining, 100x fine-tuning, 50x SSD). Retraining is timed live, or with
``--retrain recorded`` (the default at full size) read from the shipped reference's recorded training
time on this kind of machine: its row then says "recorded", and its accuracies are that reference's.

The one-shot method runs in the backend's default mode (what the app offers first; ``--mode paper``
for the published rule). Table: method, seconds, A_F and A_R (accuracy on the forgotten / remaining classes of the real
test split), MIA (share of the forgotten classes' training samples an entropy attack still calls
"member"; compare with the retrained model's value) and how many times slower than the one-shot
method. ``seconds`` is each method's own ``seconds["total"]``: the work from the model to the
forgotten model (the one-shot method: Fisher on the codes, perturbation, choice of sign; it leaves
out building the histograms it returns for display, and nothing else). Fast methods run once
untimed (warm-up) and then ``--repeats`` times; the median is reported. The methods that train (retraining,
fine-tuning, NegGrad+, random labels) run once.

``--json`` prints a list of rows {"method", "seconds", "forget_accuracy", "retain_accuracy", "mia"};
the one-shot row is "mnemonic", the others are named as in the method registry (``unlearning.methods.registry.REGISTRY``).

``--scaling`` times every method on training sets of growing size: stratified subsets of 500 and
1,000 digits, the full 3,500-digit training split, and a larger set made by shifting the digits by
up to two pixels (``--augment`` copies), plus torchvision's full MNIST when it is on disk. Methods
that read data (retraining, fine-tuning, NegGrad+, random labels, SSD) pay per training sample;
the one-shot method never sees the data.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning import comparison, evaluate, load_checkpoint, load_dataset  # noqa: E402
from unlearning.zoo import recipes, shipped  # noqa: E402
from unlearning.data import EMBEDDED, DataError, ImageTensors, Splits, dataset_of  # noqa: E402
from unlearning.evaluation.references import find_reference  # noqa: E402
from unlearning.device import describe, pick_device  # noqa: E402
from unlearning.methods.registry import names as registered  # noqa: E402
from unlearning.methods.forgetting import ForgetResult  # noqa: E402
from unlearning.pipeline import FORGOTTEN_AT_MOST, RETAIN_DROP_AT_MOST  # noqa: E402
from unlearning.evaluation.privacy import membership_attack  # noqa: E402

ONE_SHOT = comparison.ONE_SHOT
ALL_METHODS = list(comparison.METHOD_NAMES)
SLOW = set(comparison.TRAINING)  # methods that train run once, with no warm-up: minutes each at full size
# one-shot must be at least this many times faster: on the embedded 3,500 training digits, and at full size
TARGETS = {"retrain": 100.0, "finetune": 100.0, "ssd": 10.0}
FULL_SIZE_TARGETS = {"retrain": 1000.0, "finetune": 100.0, "ssd": 50.0}


def default_checkpoint() -> Path:
    return ROOT / "assets" / "models" / (ROOT / "assets" / "models" / "DEFAULT").read_text().strip()


MODE = comparison.default_mode()  # the one-shot method's mode; --mode changes it


RECORDED = "recorded"  # --retrain recorded: the shipped reference's own training time


def recorded_retrain(ckpt, classes: list[int]) -> ForgetResult:
    """The retrained reference as a result whose time is the one recorded when it was trained."""
    ref = find_reference(ckpt, classes)
    if ref is None:
        raise SystemExit(f"error: no shipped or cached reference for classes {classes}; run with --retrain run "
                         f"(or train one: python benchmarks/references.py --models ... --classes ...)")
    return ForgetResult(ref.checkpoint.model, tuple(sorted(classes)), "retrain", f"{RECORDED} ({ref.source})",
                        {"total": ref.seconds},
                        notes=(f"retraining timed from the {ref.source} reference's recorded training time "
                               f"({ref.seconds:.0f} s), not run now",))


def runner(method: str, ckpt, splits: Splits, train_set: ImageTensors, classes: list[int], device,
           retrain: str = "run") -> Callable[[], ForgetResult]:
    """Forget with ``method``, the baselines reading ``train_set`` (the scaling runs swap it)."""
    if method == "retrain" and retrain == RECORDED:
        return lambda: recorded_retrain(ckpt, classes)
    data = Splits(splits.info, train_set, splits.val, splits.test)
    return lambda: comparison.run(method, ckpt, data, classes, device=device, mode=MODE)


def timed(run: Callable[[], ForgetResult], repeats: int, warmup: bool) -> tuple[ForgetResult, float, float]:
    """(last result, median seconds["total"], median wall seconds of the call)."""
    if warmup:
        run()
    secs, walls = [], []
    result = None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        result = run()
        walls.append(time.perf_counter() - t0)
        secs.append(result.seconds["total"])
    assert result is not None
    return result, statistics.median(secs), statistics.median(walls)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def compare(ckpt, splits, classes: list[int], methods: list[str], device, repeats: int,
            retrain: str = "run") -> list[dict]:
    rows = []
    for method in methods:
        slow = method in SLOW
        result, seconds, wall = timed(runner(method, ckpt, splits, splits.train, classes, device, retrain),
                                      1 if slow else repeats, warmup=not slow)
        row = comparison.measure(result, splits, device=device, seconds=seconds, method=method)
        rows.append({**row.to_dict(), "_wall": wall, "_attack": row.attack_accuracy, "_notes": list(row.notes),
                     "_recorded": result.device.startswith(RECORDED)})
        log(f"  {method}: {seconds:.4f} s")
    return rows


def print_table(rows: list[dict], before, classes: list[int], before_mia: float,
                targets: dict[str, float] = TARGETS) -> None:
    one = next((r for r in rows if r["method"] == ONE_SHOT), None)
    print(f"original model: A_F {before.forget_accuracy(classes):.3f}  A_R {before.retain_accuracy(classes):.3f}  "
          f"MIA {before_mia:.3f}\n")
    print("| method | seconds | call wall s | A_F | A_R | MIA | attack acc | x one-shot time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['seconds'] / one['seconds']:.0f}x" if one and r is not one else "1x" if r is one else "-"
        name = f"{r['method']} (recorded)" if r.get("_recorded") else r["method"]
        print(f"| {name} | {r['seconds']:.4f} | {r['_wall']:.4f} | {r['forget_accuracy']:.3f} "
              f"| {r['retain_accuracy']:.3f} | {r['mia']:.3f} | {r['_attack']:.2f} | {ratio} |")
    retrain = next((r for r in rows if r["method"] == "retrain"), None)
    if retrain is not None:
        print(f"\nreference: the retrained model's MIA is {retrain['mia']:.3f}; "
              f"a method that forgot should score close to it.")
    weak = [r["method"] for r in rows if r["_attack"] < 0.55]
    if weak:
        print(f"note: the entropy attack is near chance (attack accuracy < 0.55) on {', '.join(weak)}: these models "
              f"barely tell their training samples from test samples by entropy, so their MIA figures are noise.")
    if one is not None:
        print()
        for method, target in targets.items():
            r = next((x for x in rows if x["method"] == method), None)
            if r is not None:
                ratio = r["seconds"] / one["seconds"]
                how = " (retraining time as recorded by the shipped reference)" if r.get("_recorded") else ""
                print(f"one-shot vs {method}{how}: {ratio:.0f}x faster (target >= {target:.0f}x): "
                      f"{'met' if ratio >= target else 'NOT met'}")
        drop = before.retain_accuracy(classes) - one["retain_accuracy"]
        ok = one["forget_accuracy"] <= FORGOTTEN_AT_MOST and drop <= RETAIN_DROP_AT_MOST
        print(f"one-shot A_F {one['forget_accuracy']:.3f} (target <= {FORGOTTEN_AT_MOST}), A_R drop "
              f"{100 * drop:.2f} points (target <= {100 * RETAIN_DROP_AT_MOST:.0f}): {'met' if ok else 'NOT met'}")


# --------------------------------------------------------------------------- scaling


def stratified_subset(ds: ImageTensors, size: int, seed: int = 0) -> ImageTensors:
    """Exactly ``size`` samples, every class in its original share (largest remainders; deterministic)."""
    g = torch.Generator().manual_seed(seed)
    classes, counts = ds.labels.unique(return_counts=True)
    exact = counts.double() * size / len(ds)
    take = exact.floor().long()
    for i in torch.argsort(exact - take, descending=True)[: size - int(take.sum())]:
        take[i] += 1
    picks = []
    for c, k in zip(classes, take):
        idx = torch.nonzero(ds.labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)][: int(k)])
    return ds.subset(torch.cat(picks).sort().values)


def shifted_copies(ds: ImageTensors, copies: int, max_shift: int = 2, seed: int = 0) -> ImageTensors:
    """The dataset plus ``copies`` copies of it, each image moved by a random (dx, dy) within +-max_shift."""
    g = torch.Generator().manual_seed(seed)
    images, labels = [ds.images], [ds.labels]
    pad = max_shift
    padded = torch.nn.functional.pad(ds.images, (pad, pad, pad, pad))
    h, w = ds.images.shape[-2:]
    for _ in range(copies):
        shifts = torch.randint(-max_shift, max_shift + 1, (len(ds), 2), generator=g)
        out = torch.empty_like(ds.images)
        for dy in range(-max_shift, max_shift + 1):
            for dx in range(-max_shift, max_shift + 1):
                sel = torch.nonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx)).flatten()
                if len(sel):
                    out[sel] = padded[sel, :, pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        images.append(out)
        labels.append(ds.labels)
    return ImageTensors(torch.cat(images), torch.cat(labels))


def scaling_sets(splits, augment: int, mnist_root: str | None) -> list[tuple[str, ImageTensors]]:
    train = splits.train
    if splits.info.name not in EMBEDDED:  # a full-size set: from the 5,000-digit scale up to all of it
        sets = [(f"{n:,} images", stratified_subset(train, n)) for n in (3500, 10000, 25000) if n < len(train)]
        return sets + [(f"{len(train):,} images (full training split)", train)]
    sets = [(f"{n:,} digits", stratified_subset(train, n)) for n in (500, 1000) if n < len(train)]
    sets.append((f"{len(train):,} digits (full split)", train))
    if augment > 0:
        big = shifted_copies(train, augment)
        sets.append((f"{len(big):,} digits (+{augment} shifted copies)", big))
    try:
        mnist = load_dataset("mnist", root=mnist_root, download=False)
        sets.append((f"{len(mnist.train):,} digits (torchvision MNIST on disk)", mnist.train))
    except (DataError, OSError) as e:
        log(f"  (no full MNIST on disk: {str(e).splitlines()[0][:100]}; skipped)")
    return sets


def scaling(ckpt, splits, classes: list[int], methods: list[str], device, repeats: int, augment: int,
            mnist_root: str | None) -> list[dict]:
    rows = []
    for label, train_set in scaling_sets(splits, augment, mnist_root):
        log(f"{label}:")
        for method in methods:
            slow = method in SLOW
            _, seconds, _ = timed(runner(method, ckpt, splits, train_set, classes, device),
                                  1 if slow else repeats, warmup=not slow)
            rows.append({"train_size": len(train_set), "set": label, "method": method, "seconds": seconds})
            log(f"  {method}: {seconds:.4f} s")
    return rows


def plot_scaling(rows: list[dict], methods: list[str], path: Path, title: str) -> None:
    """Seconds against training-set size, one line per method, both axes logarithmic (a PNG for the docs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for m in methods:
        pts = sorted((r["train_size"], r["seconds"]) for r in rows if r["method"] == m)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=comparison.LABELS.get(m, m))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training images the method may read")
    ax.set_ylabel("seconds to forget (one CPU thread)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    log(f"wrote {path}")


def print_scaling(rows: list[dict], methods: list[str]) -> None:
    sizes = list(dict.fromkeys((r["train_size"], r["set"]) for r in rows))
    others = [m for m in methods if m != ONE_SHOT]
    print("| training set | " + " | ".join(f"{m} s" for m in methods) + " | "
          + " | ".join(f"{m} / one-shot" for m in others) + " |")
    print("|---|" + "---|" * (len(methods) + len(others)))
    for size, label in sizes:
        by = {r["method"]: r["seconds"] for r in rows if r["train_size"] == size}
        one = by.get(ONE_SHOT)
        cells = [f"{by[m]:.4f}" for m in methods]
        ratios = [f"{by[m] / one:.0f}x" if one else "-" for m in others]
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--checkpoint", default=None, help="a shipped model's name or a checkpoint path (default: the "
                    "model named in assets/models/DEFAULT, or the full-size default with --dataset fashion-mnist)")
    ap.add_argument("--dataset", default=None, choices=["fashion-mnist"],
                    help="compare on the full-size zoo's data (default: the checkpoint's own dataset)")
    ap.add_argument("--data-root", default=None, help="the folder holding the dataset (default: where the model "
                    "was trained from, else searched)")
    ap.add_argument("--retrain", default=None, choices=["run", RECORDED],
                    help="time retraining now, or read the shipped reference's recorded time (default: run on the "
                         "digits, recorded at full size)")
    ap.add_argument("--classes", type=int, nargs="+", default=[0], help="classes to forget together (default: 0)")
    ap.add_argument("--methods", nargs="+", default=ALL_METHODS, choices=ALL_METHODS)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default: cpu)")
    ap.add_argument("--mode", default=comparison.default_mode(), choices=sorted(registered(one_shot=True)),
                    help=f"the one-shot method's mode (default: {comparison.default_mode()}, the app's)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each fast method (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    ap.add_argument("--scaling", action="store_true", help="time every method on growing training sets")
    ap.add_argument("--plot", type=Path, default=None, help="with --scaling: also draw the curve into this PNG")
    ap.add_argument("--augment", type=int, default=3, help="shifted copies for the largest scaling set (0: none)")
    ap.add_argument("--mnist-root", default=None, help="where torchvision's MNIST may be (scaling; never downloaded)")
    args = ap.parse_args(argv)
    global MODE
    MODE = args.mode
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.checkpoint:
        ckpt_path = shipped.find_model(args.checkpoint).path
    else:
        ckpt_path = shipped.find_model(recipes.FULL_SIZE_DEFAULT).path if args.dataset else default_checkpoint()
    ckpt = load_checkpoint(ckpt_path)
    if args.dataset and ckpt.meta["dataset"] != args.dataset:
        raise SystemExit(f"error: {ckpt_path.name} was trained on {ckpt.meta['dataset']}, not {args.dataset}")
    splits = dataset_of(ckpt.meta, root=args.data_root)
    full_size = ckpt.meta["dataset"] not in EMBEDDED
    retrain = args.retrain or (RECORDED if full_size else "run")
    classes = sorted(set(args.classes))
    methods = [m for m in ALL_METHODS if m in args.methods]
    log(f"{ckpt_path.name} on {describe(device)} ({torch.get_num_threads()} CPU threads); forgetting {classes}; "
        f"one-shot mode {MODE}")

    if args.scaling:
        rows = scaling(ckpt, splits, classes, methods, device, args.repeats, args.augment, args.mnist_root)
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print(f"{ckpt_path.name}, forgetting {classes}, one-shot mode {MODE}, {describe(device)}, "
                  f"{torch.get_num_threads()} threads: "
                  f"seconds of each method (median of {args.repeats}; retrain once) and its ratio to the one-shot "
                  f"method\n")
            print_scaling(rows, methods)
        if args.plot:
            plot_scaling(rows, methods, args.plot, f"{ckpt_path.stem}, forgetting {classes}: time against data size")
        return 0

    rows = compare(ckpt, splits, classes, methods, device, args.repeats, retrain)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows], indent=1))
        return 0
    before = evaluate(ckpt.model, splits.test, ckpt.num_classes, device=device)
    before_mia = membership_attack(ckpt.model, splits.train, splits.test, classes, device=device).member_fraction
    print(f"{ckpt_path.name} ({ckpt.meta['arch']}, {ckpt.meta['dataset']}), forgetting {classes}, one-shot mode "
          f"{MODE}, "
          f"{describe(device)}, {torch.get_num_threads()} threads; seconds = median of {args.repeats} after a warm-up "
          f"(retrain: once)\n")
    print_table(rows, before, classes, before_mia, FULL_SIZE_TARGETS if full_size else TARGETS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
