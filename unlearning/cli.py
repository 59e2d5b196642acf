"""Command line: ``python -m unlearning {train,forget,info,zoo} --help``.

Errors end the program with one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence

from . import __version__, distributed
from .methods import registry as methods
from .storage import strict_json
from .storage.checkpoints import CheckpointError, load_checkpoint, read_meta, save_checkpoint
from .data import LOADERS, DataError, dataset_of, load_dataset
from .device import pick_device
from .inputs import check_classes, class_index
from .models import ARCHITECTURES, ModelError
from .pipeline import check_depth, default_lambdas, forget_and_evaluate, forgotten_meta, train_new_model
from .methods.paper_rule import check_lambda
from .storage.safe_io import check_target
from .storage.folders import SUFFIX
from .training import RECIPE_DEFAULTS, TrainConfig, codes_warning, data_kind

# Numeric flags, checked before any work starts: (smallest, largest) accepted, both inclusive.
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a signed 64-bit integer
INT_RANGES = {"epochs": (1, 100_000), "batch_size": (1, 1 << 20), "seed": (0, MAX_SEED)}
FLOAT_RANGES = {"lr": (1e-12, 10.0), "weight_decay": (0.0, 1.0), "t_mix": (0.0, 1.0)}


def shown(text: object) -> str:
    """A path or name as it may be printed: quoted and escaped when it holds a newline or another control
    character, so that no file name can forge a line of output."""
    s = str(text)
    return s if s.isprintable() else repr(s)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_numbers(args: argparse.Namespace) -> None:
    """Every numeric flag within its range and finite, before a minute of work is spent on it
    (``--lr inf`` would otherwise train to the end and fail on NaN weights)."""
    for name, (lo, hi) in INT_RANGES.items():
        v = getattr(args, name, None)
        if v is not None and not lo <= v <= hi:
            raise ValueError(f"{_flag(name)} must be an integer from {lo:,} to {hi:,}, got {v}")
    for name, (lo, hi) in FLOAT_RANGES.items():
        v = getattr(args, name, None)
        if v is not None and not (math.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"{_flag(name)} must be a number from {lo:g} to {hi:g}, got {v}")
    for name in ("lambda1", "lambda2"):
        v = getattr(args, name, None)
        if v is not None:
            check_lambda(_flag(name), v)


def check_checkpoint_path(text: str, flag: str) -> None:
    """A path to write a checkpoint to: named, a file (not a folder), ending in .safetensors."""
    if not text.strip():
        raise ValueError(f"{flag} is empty: name the .safetensors file to write")
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise ValueError(f"{flag} {shown(text)} names a folder; name the .safetensors file to write in it")
    if not text.endswith(SUFFIX):
        raise ValueError(f"{flag} {shown(text)} must end in {SUFFIX}: checkpoints are written as safetensors only")


def _progress_to_stderr(stats, total: int) -> None:
    print(f"epoch {stats.epoch:>4}/{total}  loss {stats.loss:.4f}  train {stats.train_accuracy:.3f}  "
          f"val {stats.val_accuracy:.3f}  ({stats.seconds:.2f}s)", file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    check_checkpoint_path(args.out, "--out")
    check_target(args.out, probe=True, create=False)  # a bad --out fails now, not after the training
    launch = distributed.launch_from_environment()  # torchrun: one of several processes
    device = distributed.start(launch, args.device) if launch is not None else args.device
    try:
        first = launch is None or launch.local_rank == 0  # downloads, once per machine, before the others read
        splits = load_dataset(args.dataset, root=args.data_root, download=args.download) if first else None
        distributed.barrier()
        splits = splits or load_dataset(args.dataset, root=args.data_root)
        kind = data_kind(splits.info.input_shape)
        unset = [k for k in RECIPE_DEFAULTS[kind] if getattr(args, k) is None]
        chosen = {k: RECIPE_DEFAULTS[kind][k] if k in unset else getattr(args, k) for k in RECIPE_DEFAULTS[kind]}
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                             weight_decay=args.weight_decay, **chosen)
        ckpt, history, path = train_new_model(splits, args.arch, config, out=args.out, device=device,
                                              progress=_progress_to_stderr if distributed.is_main() else None,
                                              defaults={"data": kind, "taken": unset} if unset else None)
    finally:
        distributed.stop()
    if launch is not None and not launch.is_main:
        return 0
    print(f"test accuracy {ckpt.meta['test_accuracy']:.4f}; codes recognised {history.code_accuracy:.0%}; "
          f"trained {history.seconds:.1f}s; saved {shown(path)}", file=sys.stderr)
    warning = codes_warning(history.code_accuracy, ckpt.num_classes)
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _checkpoint_path(text: str) -> str:
    """A checkpoint argument: a file path, or the name of a shipped model (``resnet8-fashion``)."""
    if os.path.exists(text) or os.sep in text or text.endswith(SUFFIX):
        return text  # a path: the loader says what is wrong with it
    from .zoo import shipped

    return str(shipped.find_model(text).path)


def _fmt(v: float, spec: str = ".4f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


def _fmt_row(label: str, summary: dict) -> str:
    return f"{label:<7} A_F {_fmt(summary['forget_accuracy'])}   A_R {_fmt(summary['retain_accuracy'])}"


def cmd_forget(args: argparse.Namespace) -> int:
    if args.mode != "paper" and (args.lambda1 is not None or args.lambda2 is not None):
        raise ValueError(f"--lambda1 / --lambda2 apply to --mode paper only; mode {args.mode!r} does not use them")
    if args.save is not None:
        check_checkpoint_path(args.save, "--save")
        check_target(args.save, probe=True, create=False)  # a bad --save fails now, not after the forgetting
    ckpt = load_checkpoint(_checkpoint_path(args.checkpoint))
    names = ckpt.class_names
    classes = check_classes([class_index(c, names) for c in args.classes], len(names), names)
    d1, d2 = default_lambdas(ckpt.meta["arch"])
    splits = dataset_of(ckpt.meta, root=args.data_root)
    if splits.info.class_names != tuple(names):
        raise DataError(f"dataset {ckpt.meta['dataset']!r} has classes {list(splits.info.class_names)[:5]}..., "
                        f"the checkpoint {names[:5]}...")
    _say(f"forgetting ({args.mode}) and measuring on the test split")
    outcome = forget_and_evaluate(ckpt, splits.test, classes,
                                  lambda1=args.lambda1 if args.lambda1 is not None else d1,
                                  lambda2=args.lambda2 if args.lambda2 is not None else d2, device=args.device,
                                  mode=args.mode, calibration=splits.val if methods.reads_validation(args.mode) else None)
    for note in outcome.result.notes:
        if note.startswith("warning: "):
            print(note, file=sys.stderr)
    if not args.json:  # the result first: the depth check below may take a while
        _print_forgetting(outcome, names)
    if not args.no_depth:
        _say("depth check: a 10-shot linear probe on the features (--no-depth skips it)")
        outcome = check_depth(ckpt, outcome, splits, device=args.device, train_reference=args.train_reference)
    report = outcome.to_dict()
    if args.save is not None:
        save_checkpoint(args.save, outcome.result.model.to("cpu"), ckpt.codes, forgotten_meta(ckpt, outcome))
    if args.json:
        print(strict_json.dumps(report))
    else:
        if outcome.depth is not None:
            d = outcome.depth
            print(f"depth: {d.verdict.level.upper()}. {d.verdict.message}")
            _print_depths(d)
            if d.probe_retrained is None:
                print("       (no retrained reference for these classes: --train-reference trains one, minutes)")
        if args.save is not None:
            print(f"saved {shown(args.save)}")
    return 0


def _print_depths(d) -> None:
    """The 10-shot recoverability at every depth, and the Anamnesis Index, under the verdict that reads them."""
    rows = d.rows()
    if rows:
        w = max(len(r["depth"]) for r in rows)
        print(f"       {'depth':<{w}}  original  unlearned  retrained  above retrained")
        for r in rows:
            cells = [_fmt(r[k], ".1f") if r[k] is not None else "-" for k in
                     ("original %", "unlearned %", "retrained %", "above retrained (points)")]
            print(f"       {r['depth']:<{w}}  {cells[0]:>8}  {cells[1]:>9}  {cells[2]:>9}  {cells[3]:>15}")
    a = d.anamnesis
    if a is not None:
        steps = lambda s: f"{s}" if s is not None else f"> {a.max_steps}"  # noqa: E731
        print(f"       Anamnesis Index {_fmt(a.index, '.2f') if a.index is not None else '-'}: relearnt to 50 % "
              f"in {steps(a.unlearned_steps)} steps, retrained model {steps(a.retrained_steps)}")


def _say(message: str) -> None:
    """Progress on stderr, so that stdout stays the result (and --json one object)."""
    print(f"... {message}", file=sys.stderr, flush=True)


def _print_forgetting(outcome, names: Sequence[str]) -> None:
    report = outcome.to_dict()
    r = outcome.result
    how = (f"lambda1={r.lambda1:g}, lambda2={r.lambda2:g}" if r.mode == "paper"
           else f"mode {r.mode}, layer {r.layer}, strength {r.strength:.3g}")
    print(f"forgot {[names[c] for c in r.forget_classes]} with sign {r.sign} "
          f"({how}) on {r.device} in {r.seconds['total']:.3f}s")
    if outcome.previously_forgotten:
        print(f"already forgotten before: {[names[c] for c in outcome.previously_forgotten]} "
              "(counted neither as forgotten now nor as remaining)")
    print(_fmt_row("before", report["before"]))
    print(_fmt_row("after", report["after"]))
    ef = report["E_F"]
    print(f"E_F {_fmt(ef, '.1f')}{'%' if math.isfinite(ef) else ''}   {outcome.verdict.message}")
    for note in report["notes"]:
        print(f"note: {note}")
    sys.stdout.flush()


def cmd_zoo(args: argparse.Namespace) -> int:
    from .zoo import remake, shipped, table as zoo_table, targets

    if not args.rebuild and (args.only or args.no_table):
        raise ValueError(f"{'--only' if args.only else '--no-table'} needs --rebuild (listing the zoo shows every model)")
    if args.rebuild:
        log = (lambda msg: print(msg, file=sys.stderr, flush=True))
        remake.rebuild(names=args.only or None, table=not args.no_table, log=log, data_root=args.data_root)
    models = shipped.list_zoo()
    if args.json:
        print(strict_json.dumps([{"name": m.name, "default": m.is_default, "path": str(m.path),
                                        "card": m.card, "test_accuracy": m.meta.get("test_accuracy")}
                                 for m in models], indent=2))
        return 0
    for m in models:
        card = m.card
        print(f"{m.name}{'  (default)' if m.is_default else ''}: {card.get('title', m.meta['arch'])}, "
              f"{card.get('parameters', 0):,} parameters, test accuracy {m.meta.get('test_accuracy', float('nan')):.4f}, "
              f"trained {card.get('training_seconds', float('nan')):.0f} s")
        for s in (targets.summaries(zoo_table.table_rows(m.name)) if zoo_table.table_rows(m.name) else []):
            print(f"    {s.mode:<11} singles worst A_F {s.singles_max_forget:.1%}, mean drop {s.singles_mean_drop:+.2f} pts; "
                  f"sets worst A_F {s.sets_max_forget:.1%}, worst drop {s.sets_max_drop:+.2f} pts; "
                  f"targets {'met' if s.meets_targets else 'missed'}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    print(strict_json.dumps(read_meta(_checkpoint_path(args.checkpoint)), indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unlearning",
                                description="One-shot machine unlearning with mnemonic codes.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a classifier with mnemonic codes and save a checkpoint",
                       description="Train a classifier with mnemonic codes; progress goes to stderr.")
    t.add_argument("--dataset", default="mnist5k", choices=sorted(LOADERS))
    t.add_argument("--data-root", default=None, help="folder for torchvision datasets or imagefolder")
    t.add_argument("--download", action="store_true", help="allow torchvision to download the dataset")
    t.add_argument("--arch", default="mlp", help=f"{', '.join(ARCHITECTURES)}, or tv:<name> for any torchvision "
                   "classifier (resized inside the model when the images are too small for it)")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--batch-size", type=int, default=128)
    grey, colour = RECIPE_DEFAULTS["grey"], RECIPE_DEFAULTS["colour"]
    t.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default: {grey['lr']} on grey images, {colour['lr']} on colour ones)")
    t.add_argument("--weight-decay", type=float, default=5e-4)
    t.add_argument("--t-mix", type=float, default=None,
                   help=f"probability of swapping a sample for its class code (default: {grey['t_mix']} on grey "
                        f"images, {colour['t_mix']} on colour ones, so that colour models learn their codes)")
    t.add_argument("--schedule", default=None, choices=["constant", "cosine"],
                   help=f"learning-rate schedule (default: {grey['schedule']} on grey images, "
                        f"{colour['schedule']} on colour ones)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    t.add_argument("--out", required=True, help="where to write the .safetensors checkpoint")
    t.set_defaults(func=cmd_train)

    f = sub.add_parser("forget", help="forget classes in one shot and measure it on the test split",
                       description="Forget classes in one shot and evaluate on the dataset's test split: on the "
                                   "outputs (A_F, A_R) and on the features (is the class gone or only hidden?).")
    f.add_argument("checkpoint", help="a .safetensors file, or a shipped model's name (e.g. resnet8-fashion)")
    f.add_argument("--classes", nargs="+", action="extend", required=True,
                   help="class indices or names (any case) to forget; repeating --classes adds to the list (3 and "
                        "5 in --classes 3 --classes 5)")
    f.add_argument("--mode", default=methods.DEFAULT_MODE, choices=list(methods.names(one_shot=True)),
                   help=f"default {methods.DEFAULT_MODE}; "
                   + "; ".join(f"{m}: {methods.REGISTRY[m].description}" for m in methods.names(one_shot=True))
                   + " (docs/zoo.md, docs/depth.md)")
    f.add_argument("--no-depth", action="store_true",
                   help="skip the depth check (a 10-shot linear probe on the features: hidden or gone?)")
    f.add_argument("--train-reference", action="store_true",
                   help="train the retrained reference for these classes when none is shipped or cached (minutes)")
    f.add_argument("--lambda1", type=float, default=None, help="per-tensor scale cap (default: the paper's)")
    f.add_argument("--lambda2", type=float, default=None, help="cap on the largest perturbation (default: the paper's)")
    f.add_argument("--device", default=None)
    f.add_argument("--data-root", default=None, help="the folder holding the model's dataset (default: the folder "
                   "it was trained from, else ./data, $UNLEARNING_DATA or Debian's /usr/share/datasets)")
    f.add_argument("--save", default=None, help="write the forgotten model to this .safetensors path")
    f.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    f.set_defaults(func=cmd_forget)

    i = sub.add_parser("info", help="print a checkpoint's metadata", description="Print a checkpoint's metadata.")
    i.add_argument("checkpoint")
    i.set_defaults(func=cmd_info)

    z = sub.add_parser("zoo", help="list the shipped models, or rebuild them from scratch",
                       description="List the shipped models with their cards and forgetting-table summaries. "
                                   "--rebuild retrains every zoo model on the CPU (deterministic, a few minutes), "
                                   "then remakes docs/forgetting_table.* , the cards and assets/models/DEFAULT.")
    z.add_argument("--rebuild", action="store_true", help="retrain the zoo from scratch into assets/models")
    z.add_argument("--only", nargs="+", default=None, help="rebuild only these recipes (e.g. cnn-mnist5k)")
    z.add_argument("--no-table", action="store_true", help="with --rebuild: skip the forgetting table")
    z.add_argument("--json", action="store_true", help="print the listing as JSON")
    z.add_argument("--data-root", default=None, help="with --rebuild: the folder holding the full-size zoo's "
                   "Fashion-MNIST (default: Debian's /usr/share/datasets/fashion-mnist)")
    z.set_defaults(func=cmd_zoo)
    for computing in (t, f, z):
        computing.add_argument("--threads", type=_threads, default=None,
                               help="CPU threads for torch (default: torch's own choice, one per core)")
    return p


def _threads(text: str) -> int:
    """``--threads``: a whole number from 1 to 1024."""
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 1024, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        check_numbers(args)
        if getattr(args, "device", None) is not None:
            try:
                pick_device(args.device)
            except RuntimeError as e:
                raise ValueError(str(e)) from None
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler, not at exit
        return status
    except BrokenPipeError:  # `... | head`: the reader has gone, which is no error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (CheckpointError, DataError, ModelError, ValueError, OSError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - one line, never a traceback; UNLEARNING_TRACEBACK=1 shows it
        if os.environ.get("UNLEARNING_TRACEBACK"):
            raise
        print(f"error: unexpected {type(e).__name__}: {_one_line(e)} (UNLEARNING_TRACEBACK=1 shows where)",
              file=sys.stderr)
        return 2


def _one_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    return " ".join(lines)[:500] if lines else type(e).__name__
