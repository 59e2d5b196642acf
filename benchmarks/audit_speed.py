"""How long the audit page's instant part takes for one run (everything but relearning and the 50-shot probe).

    python benchmarks/audit_speed.py                  # the default model, class 1, one CPU thread
    python benchmarks/audit_speed.py --classes 3 --repeats 5

Two figures: *per run* is what the page computes when it opens on a new run, with the original's
and the retrained reference's figures already cached (they depend on the model and the classes, not
on the run): the unlearned model's features, 1/5/10-shot probes, both attacks, layer-wise CKA and
the embedding map. *Cold* adds the original's and the reference's figures (the first run on a
model and class set after the server starts). Median of ``--repeats``, after one warm-up.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from unlearning.evaluation import run_audit  # noqa: E402
from unlearning.evaluation import audit  # noqa: E402
from unlearning.methods import registry as methods  # noqa: E402
from unlearning.storage.checkpoints import load_checkpoint  # noqa: E402
from unlearning.data import load_dataset  # noqa: E402
from unlearning.pipeline import forget_and_evaluate  # noqa: E402
from unlearning.evaluation.references import find_reference  # noqa: E402
from unlearning.storage.folders import default_model_path  # noqa: E402


def _timed(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=default_model_path())
    ap.add_argument("--classes", nargs="+", type=int, default=[1])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.checkpoint)
    splits = load_dataset(ckpt.meta["dataset"])
    mode = methods.DEFAULT_MODE
    outcome = forget_and_evaluate(ckpt, splits.test, args.classes, device="cpu", mode=mode,
                                  calibration=splits.val if methods.reads_validation(mode) else None)
    ref = find_reference(ckpt, args.classes)
    retrained = ref.checkpoint.model if ref is not None else None
    classes, model = args.classes, outcome.result.model

    def facts(m):
        return run_audit.model_facts(m, splits, classes, "cpu")

    orig = facts(ckpt.model)
    ref_facts = facts(retrained) if retrained is not None else None
    # the depth check (every depth, the Anamnesis Index) is the run's own, made once after the forget (the app
    # keeps it with the run): timed apart, then handed to the instant audit as the app hands it
    depth_s, depth = _timed(lambda: audit.depth_check(
        ckpt.model, model, splits, classes, outcome.after.forget_accuracy(classes),
        outcome.before.forget_accuracy(classes), retrained=retrained, reference=ref.source if ref else "none",
        device="cpu", retain_drop=outcome.before.retain_accuracy(classes) - outcome.after.retain_accuracy(classes)),
        args.repeats)
    per_run, inst = _timed(lambda: run_audit.instant_audit(ckpt.model, model, splits, classes, retrained=retrained,
                                                          original_facts=orig, retrained_facts=ref_facts, depth=depth),
                           args.repeats)
    cold, _ = _timed(lambda: run_audit.instant_audit(ckpt.model, model, splits, classes, retrained=retrained),
                     args.repeats)
    parts = {
        "unlearned: one forward pass per split (features + logits)":
            _timed(lambda: run_audit._passes(model, splits, "cpu"), args.repeats)[0],
        "unlearned: layer Gram matrices for CKA": _timed(lambda: run_audit.grams(model, splits, classes, "cpu"),
                                                         args.repeats)[0],
    }
    print(f"model {args.checkpoint.name}, classes {classes}, mode {mode}, {args.threads} thread(s), "
          f"reference: {ref.source if ref else 'none'}")
    print(f"depth check, cold (every depth, relearning for the index): {depth_s:.2f} s")
    print(f"instant audit per run (original and reference cached): {per_run:.2f} s")
    print(f"instant audit cold (nothing cached):                    {cold:.2f} s")
    for k, v in parts.items():
        print(f"  {k}: {v:.2f} s")
    d = inst.depth
    print(f"verdict: {d.verdict.level}; 10-shot probe original {d.probe_original:.3f}, unlearned "
          f"{d.probe_unlearned:.3f}, retrained {d.probe_retrained if d.probe_retrained is None else round(d.probe_retrained, 3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
