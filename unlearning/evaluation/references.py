"""Retrained references: the model trained from scratch without the forgotten classes, kept on disk.

Every figure about forgetting is read against retraining (the gold standard), so the references
must be at hand, not minutes away. A reference is an ordinary checkpoint (weights, the parent's
codes, metadata) made by ``baselines.retrain`` with the parent's own recipe. It is looked up by the
parent's weights hash and the class set, first among the shipped ones
(``assets/references/<model>/``), then in the local cache (``$UNLEARNING_CACHE`` or
``~/.cache/mnemonic-unlearning/references``); ``retrained_reference`` trains and caches a missing
one (with progress, cancellable), ``python benchmarks/references.py`` ships them.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..methods.baselines import ProgressFn, StopFn
from ..methods.registry import run_baseline
from ..storage.checkpoints import Checkpoint, CheckpointError, load_checkpoint, read_meta, save_checkpoint, weights_sha256
from ..data import Splits
from ..storage.folders import ROOT

SHIPPED_REFERENCES = ROOT / "assets" / "references"


def cache_dir() -> Path:
    """Where references trained on demand are kept (``$UNLEARNING_CACHE`` or ~/.cache/...)."""
    base = os.environ.get("UNLEARNING_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "mnemonic-unlearning" / "references"


def parent_key(ckpt: Checkpoint) -> str:
    """A short fingerprint of the parent's weights and codes: a reference belongs to one exact model."""
    return weights_sha256(ckpt)[:16]


def file_name(classes: Sequence[int]) -> str:
    return "retrain-" + "+".join(str(int(c)) for c in sorted(set(classes))) + ".safetensors"


@dataclass(frozen=True)
class Reference:
    """A retrained model and where it came from ("shipped", "cache" or "trained" just now)."""

    checkpoint: Checkpoint
    source: str
    path: Path
    seconds: float  # training time recorded when it was made


def _candidates(ckpt: Checkpoint, classes: Sequence[int], folders: Sequence[Path]) -> list[Path]:
    key = parent_key(ckpt)
    return [Path(f) / key / file_name(classes) for f in folders]


def find_reference(ckpt: Checkpoint, classes: Sequence[int],
                   folders: Sequence[Path] | None = None) -> Reference | None:
    """The shipped or cached reference for (this exact model, these classes), or None."""
    folders = list(folders) if folders is not None else [SHIPPED_REFERENCES, cache_dir()]
    for path in _candidates(ckpt, classes, folders):
        if not path.is_file():
            continue
        try:
            meta = read_meta(path)
            if sorted(meta.get("forgotten", {}).get("forget_classes", [])) != sorted(set(classes)):
                continue
            if meta["arch"] != ckpt.meta["arch"] or not str(meta.get("parent", {}).get("weights_sha256", "")).startswith(
                    parent_key(ckpt)):
                continue  # a file under the wrong parent's folder is never read against this model
            ref = load_checkpoint(path)
        except CheckpointError:
            continue  # a broken cache entry is rebuilt, never trusted
        source = "shipped" if Path(SHIPPED_REFERENCES) in path.parents else "cache"
        return Reference(ref, source, path, float(meta["forgotten"].get("seconds", float("nan"))))
    return None


def retrained_reference(ckpt: Checkpoint, splits: Splits, classes: Sequence[int], device: str | None = None,
                        progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                        folder: Path | None = None, folders: Sequence[Path] | None = None) -> Reference:
    """The reference for ``classes``: found on disk, or retrained now with the parent's recipe and cached.

    ``folder`` is where a new one is written (default: the cache). Raises baselines.Cancelled when stopped.
    """
    found = find_reference(ckpt, classes, folders)
    if found is not None:
        return found
    result = run_baseline("retrain", ckpt, splits.train, classes, device=device, progress=progress,
                          should_stop=should_stop)
    model = result.model.to("cpu").eval()
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("format", "code_space", "package_version", "forgotten")}
    meta["forgotten"] = {"method": "retrain", "forget_classes": list(result.forget_classes),
                         "seconds": round(float(result.seconds["total"]), 2), "notes": list(result.notes)}
    meta["parent"] = {"weights_sha256": weights_sha256(ckpt)}
    meta.pop("test_accuracy", None)
    meta.pop("created", None)
    target = Path(folder) if folder is not None else cache_dir()
    path = target / parent_key(ckpt) / file_name(result.forget_classes)
    save_checkpoint(path, model, ckpt.codes, meta)
    return Reference(Checkpoint(model, ckpt.codes, meta), "trained", path, float(result.seconds["total"]))
