"""The two stories end to end, shared by the CLI and the app: train a model, forget and measure."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from . import distributed
from .storage.checkpoints import Checkpoint, complete_meta, save_checkpoint
from .codes import make_codes
from .data import ImageTensors, Splits, dataset_of, load_dataset
from .device import pick_device
from .methods import registry as methods
from .methods.forgetting import DEFAULT_MODE, PAPER_LAMBDAS, ForgetResult, forget
from .inputs import check_classes
from .evaluation.metrics import (  # noqa: F401  the thresholds, re-exported where the verdict is
    FORGOTTEN_AT_MOST, RETAIN_DROP_AT_MOST, Evaluation, code_accuracy, evaluate, forgetting_efficacy,
)
from .models import build_model, count_parameters
from .evaluation.trunk import Trunk
from .methods.paper_rule import check_lambda
from .training import ProgressFn, TrainConfig, TrainHistory, codes_warning, train

if TYPE_CHECKING:
    from .evaluation.audit import DepthCheck



def default_lambdas(arch: str) -> tuple[float, float]:
    """The paper's lambdas for this kind of model: its MNIST MLP values, else its ResNet values."""
    return PAPER_LAMBDAS["mnist"] if arch == "mlp" else PAPER_LAMBDAS["cifar10"]


@dataclass(frozen=True)
class Verdict:
    forgot: bool
    kept: bool
    message: str
    recognised: bool = True  # False: the model did not recognise the classes before forgetting either


def _change(drop: float) -> str:
    """What happened to the remaining classes, in words; never "gained -0.0 points"."""
    if drop != drop:
        return "cannot be measured (no test images of the remaining classes)"
    points = round(100 * drop, 1)
    if points == 0:
        return "kept their accuracy (within 0.05 points)"
    return f"lost {points:.1f} points" if points > 0 else f"gained {-points:.1f} points"


def verdict(before: Evaluation, after: Evaluation, classes: Sequence[int], exclude: Sequence[int] = ()) -> Verdict:
    """Plain words on whether forgetting worked on real data, never on the codes.

    ``exclude``: classes forgotten earlier (chained forgetting); they are not part of the remaining ones.
    A class the model never recognised (A_F already at most FORGOTTEN_AT_MOST before) is not
    called forgotten: there was nothing to forget.
    """
    af0, af = before.forget_accuracy(classes), after.forget_accuracy(classes)
    ar0, ar1 = before.retain_accuracy(classes, exclude), after.retain_accuracy(classes, exclude)
    drop = ar0 - ar1
    kept = not drop > RETAIN_DROP_AT_MOST  # NaN (nothing remaining to measure) is no loss we saw
    change = _change(drop)
    if af0 != af0:
        return Verdict(False, kept, "Not measured: the test split holds no images of the chosen classes.", False)
    if af0 <= FORGOTTEN_AT_MOST:
        return Verdict(False, kept, f"Never recognised: the model scored {af0:.1%} on these classes before this run "
                                    f"(now {af:.1%}), so there was nothing to forget; the rest {change}.", False)
    forgot = af <= FORGOTTEN_AT_MOST
    if forgot and kept:
        msg = f"Forgotten at the outputs: the forgotten classes' test accuracy is {af:.1%}, the rest {change}."
    elif not forgot and kept:
        msg = (f"Not forgotten: the forgotten classes still score {af:.1%} on real test images "
               f"(the method judged its result on the codes alone).")
    elif forgot:
        msg = f"Forgotten, but at a cost: the remaining classes {change} of accuracy."
    else:
        msg = f"Failed: the forgotten classes still score {af:.1%} and the rest {change}."
    return Verdict(forgot, kept, msg)


def previously_forgotten(meta: dict) -> tuple[int, ...]:
    """Every class a checkpoint's model has already forgotten, from its metadata (empty for an original)."""
    done = meta.get("forgotten") or {}
    classes: set[int] = set()
    for key in ("forget_classes", "previously_forgotten", "all_forgotten"):
        classes.update(done.get(key) or ())
    return tuple(sorted(classes))


@dataclass(frozen=True)
class ForgetOutcome:
    result: ForgetResult
    before: Evaluation
    after: Evaluation
    verdict: Verdict  # on the outputs (A_F, A_R)
    depth: "DepthCheck | None" = None  # on the features: hidden or gone (``check_depth``)
    previously_forgotten: tuple[int, ...] = ()  # forgotten before this run: neither forgotten now nor remaining
    notes: tuple[str, ...] = ()  # the pipeline's own notes, after the method's (result.notes)

    @property
    def efficacy(self) -> float:
        c = self.result.forget_classes
        return forgetting_efficacy(self.before.forget_accuracy(c), self.after.forget_accuracy(c))

    @property
    def all_notes(self) -> tuple[str, ...]:
        return tuple(self.result.notes) + tuple(self.notes)

    @property
    def forgotten_so_far(self) -> tuple[int, ...]:
        """Everything the forgotten model has forgotten: this run's classes and the earlier ones."""
        return tuple(sorted(set(self.result.forget_classes) | set(self.previously_forgotten)))

    def overall_verdict(self) -> dict:
        """The one verdict a reader of the run should take away, depth included: ``forgot`` is true only
        when the class left the features as deep as retraining, false when it did not, None when nobody
        measured how deep (the outputs alone say "forgotten" for a class that is only hidden). The
        outputs' own verdict is kept under ``outputs``; the depth check's figures under ``depth``."""
        v, d = self.verdict, self.depth
        outputs = {"forgot": v.forgot, "kept": v.kept, "message": v.message, "recognised": v.recognised}
        if not v.recognised:
            level, forgot, message = "never recognised", False, v.message
        elif not v.forgot:
            level, forgot, message = "not forgotten", False, v.message
        elif d is None:
            level, forgot = "forgotten at the outputs, depth not measured", None
            message = f"{v.message} Whether the classes left the features or are only hidden was not measured."
        else:
            level = d.verdict.level
            forgot = True if level == "forgotten" else (None if level == "unknown depth" else False)
            message = f"{d.verdict.message} Outputs: {v.message}"
        return {"level": level, "forgot": forgot, "kept": v.kept, "message": message, "outputs": outputs}

    def to_dict(self) -> dict:
        r = self.result
        gone = self.previously_forgotten
        return {
            "forget_classes": list(r.forget_classes), "previously_forgotten": list(gone),
            "sign": r.sign, "mode": r.mode,
            "lambda1": r.lambda1, "lambda2": r.lambda2, "device": r.device,
            "strength": r.strength, "layer": r.layer, "calibration": dict(r.calibration),
            "seconds": dict(r.seconds),
            "before": self.before.summary(r.forget_classes, gone), "after": self.after.summary(r.forget_classes, gone),
            "E_F": self.efficacy,
            "code_accuracy": {s: {"forget": f, "retain": k} for s, (f, k) in r.code_scores.items()},
            "moved_parameters": r.moved_params, "total_parameters": r.total_params,
            "notes": list(self.all_notes),
            "verdict": self.overall_verdict(),
            "depth": None if self.depth is None else self.depth.to_dict(),
        }


def forget_and_evaluate(checkpoint: Checkpoint, test_set: ImageTensors, classes: Sequence[int | str],
                        lambda1: float | None = None, lambda2: float | None = None,
                        device: str | torch.device | None = None, before: Evaluation | None = None,
                        mode: str = DEFAULT_MODE, calibration: ImageTensors | None = None,
                        data_root: str | None = None,
                        trunk: Callable[[nn.Module], Trunk | None] | None = None) -> ForgetOutcome:
    """Forget with ``mode`` (default: ``forgetting.DEFAULT_MODE``), then measure before and after on real
    held-out data.

    ``classes`` are indices or the checkpoint's class names. The "calibrated" and "erase" modes read
    validation images: ``calibration``, or when it is None the validation split of the checkpoint's
    dataset (never ``test_set``). Classes the checkpoint had already forgotten (its metadata says
    which) count neither as forgotten now nor as remaining. A lambda other than the paper's given
    to a mode that does not use it is noted in ``notes``. ``trunk``, given the edited model, returns the
    original's kept activations on ``test_set`` (``unlearning.evaluation.trunk``) so that the "after" evaluation runs
    only the layers the method changed, or None.
    """
    for name, value in (("lambda1", lambda1), ("lambda2", lambda2)):
        if value is not None:
            check_lambda(name, value)  # a string or NaN is refused here, not formatted or coerced below
    d1, d2 = default_lambdas(checkpoint.meta["arch"])
    dev = pick_device(device)
    n = checkpoint.num_classes
    warning = untrusted_codes(checkpoint)
    chosen = check_classes(classes, n, checkpoint.class_names)
    earlier = tuple(c for c in previously_forgotten(checkpoint.meta) if c not in chosen and 0 <= c < n)
    if len(set(chosen) | set(earlier)) >= n:
        raise ValueError(f"classes {list(earlier)} were forgotten before; forgetting {chosen} too would leave no class")
    notes = []
    if not methods.takes_lambdas(mode):
        ignored = [f"{k}={v:g}" for k, v, d in (("lambda1", lambda1, d1), ("lambda2", lambda2, d2))
                   if v is not None and v != d]
        if ignored:
            notes.append(f"{', '.join(ignored)} ignored: mode {mode!r} does not use the lambdas")
    if methods.reads_validation(mode) and calibration is None:
        calibration = dataset_of(checkpoint.meta, root=data_root).val
    # The method is told about the earlier classes too: left among the "kept" ones, their codes (no
    # longer recognised) make it hunt for a strength that would bring them back (measured on
    # mlp-mnist5k, 2 and 9 forgotten, then 5: A_R 0.947 -> 0.879 that way, -> 0.957 this way).
    result = forget(checkpoint.model, checkpoint.codes, sorted(set(chosen) | set(earlier)),
                    lambda1=d1 if lambda1 is None else lambda1, lambda2=d2 if lambda2 is None else lambda2,
                    device=dev, mode=mode, calibration=calibration)
    if warning is not None:
        result = replace(result, notes=(f"warning: {warning}", *result.notes))
    if earlier:
        result = replace(result, forget_classes=tuple(chosen))
        notes.append(f"classes {list(earlier)}, forgotten before, were forgotten again with these so that the "
                     "method does not try to keep them")
    if before is None:
        before = evaluate(checkpoint.model, test_set, n, device=dev)
    # forget() may have fallen back to the CPU after a device fault: measure where the result lives
    after = evaluate(result.model, test_set, n, device=next(result.model.parameters()).device,
                     trunk=None if trunk is None else trunk(result.model))
    return ForgetOutcome(result, before, after, verdict(before, after, result.forget_classes, earlier),
                         previously_forgotten=earlier, notes=tuple(notes))


def untrusted_codes(checkpoint: Checkpoint) -> str | None:
    """A loud warning when the model does not recognise its own codes (None when it does).

    Measured on the model itself, so checkpoints made before training recorded ``code_accuracy``
    are checked too; classes a forgotten model has already forgotten are left out.
    """
    done = set(previously_forgotten(checkpoint.meta))
    kept = [c for c in range(checkpoint.num_classes) if c not in done]
    share = code_accuracy(checkpoint.model, checkpoint.codes, kept,
                          device=next(checkpoint.model.parameters()).device)
    return codes_warning(share, len(kept))


def forgotten_meta(checkpoint: Checkpoint, outcome: ForgetOutcome) -> dict:
    """Metadata for saving a forgotten model: the parent's, plus what was forgotten and how.

    ``forgotten.forget_classes`` is this run's classes, ``forgotten.previously_forgotten`` the earlier
    ones and ``forgotten.all_forgotten`` their union, so a later run knows every class already gone.
    """
    meta = {k: v for k, v in checkpoint.meta.items() if k not in ("format", "code_space", "package_version", "code_accuracy")}
    meta["test_accuracy"] = outcome.after.accuracy
    meta["forgotten"] = {k: v for k, v in outcome.to_dict().items() if k != "code_accuracy"}
    meta["forgotten"]["previously_forgotten"] = list(previously_forgotten(checkpoint.meta))
    meta["forgotten"]["all_forgotten"] = sorted(set(outcome.result.forget_classes) | set(previously_forgotten(checkpoint.meta)))
    meta["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return meta


def train_new_model(dataset: str | Splits, arch: str, config: TrainConfig, out: str | Path | None = None,
                    device: str | torch.device | None = None, data_root: str | None = None,
                    progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
                    defaults: dict | None = None) -> tuple[Checkpoint, TrainHistory, Path | None]:
    """Build, train with mnemonic codes, evaluate on the test split and (if ``out``) save a checkpoint.

    Under torchrun (a torch.distributed process group) every rank trains and only rank 0 writes
    ``out``; the others return ``path`` None. The metadata records ``training.world_size``, and
    ``defaults`` (which settings the caller took from ``RECIPE_DEFAULTS``) as ``training.defaults``.
    """
    splits = dataset if isinstance(dataset, Splits) else load_dataset(dataset, root=data_root, seed=0)
    info = splits.info
    torch.manual_seed(config.seed)
    model = build_model(arch, info.input_shape, info.num_classes, info.mean, info.std)
    codes = make_codes(info.num_classes, info.input_shape, seed=config.seed)
    history = train(model, codes, splits.train, splits.val, config, device=device,
                    progress=progress, should_stop=should_stop)
    model = model.to("cpu").eval()
    test = evaluate(model, splits.test, info.num_classes, device="cpu")
    meta = {
        "arch": arch, "dataset": info.name, "class_names": list(info.class_names),
        "input_shape": list(info.input_shape), "mean": list(info.mean), "std": list(info.std),
        "t_mix": config.t_mix, "seed": config.seed, "code_seed": config.seed,
        "training": {**config.to_dict(), "epochs_run": len(history.epochs), "cancelled": history.cancelled,
                     "seconds": round(history.seconds, 2), "world_size": distributed.world_size(),
                     **({"defaults": dict(defaults)} if defaults else {})},
        "test_accuracy": test.accuracy,
        "val_accuracy": history.epochs[-1].val_accuracy if history.epochs else None,
        "code_accuracy": history.code_accuracy if history.code_accuracy == history.code_accuracy else None,
        "card": {"parameters": count_parameters(model)},
        **({"data_root": splits.source} if splits.source else {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta = complete_meta(meta)
    ckpt = Checkpoint(model, codes, meta)
    path = save_checkpoint(out, model, codes, meta) if out is not None and distributed.is_main() else None
    return ckpt, history, path



def check_depth(checkpoint: Checkpoint, outcome: ForgetOutcome, splits: Splits,
                device: str | torch.device | None = None, train_reference: bool = False,
                progress=None) -> ForgetOutcome:
    """The outcome with its depth check: is the class gone from the features, or only hidden?

    Reads the retrained reference for these classes when one is shipped or cached; with
    ``train_reference`` a missing one is trained now (minutes) and cached.
    """
    from dataclasses import replace

    from .evaluation.audit import depth_check
    from .evaluation.references import find_reference, retrained_reference

    classes = outcome.result.forget_classes
    ref = (retrained_reference(checkpoint, splits, classes, device=device, progress=progress) if train_reference
           else find_reference(checkpoint, classes))
    check = depth_check(checkpoint.model, outcome.result.model, splits, classes,
                        forget_accuracy=outcome.after.forget_accuracy(classes),
                        original_accuracy=outcome.before.forget_accuracy(classes),
                        retrained=ref.checkpoint.model if ref is not None else None,
                        reference=ref.source if ref is not None else "none", device=device,
                        retain_drop=outcome.before.retain_accuracy(classes) - outcome.after.retain_accuracy(classes))
    return replace(outcome, depth=check)
