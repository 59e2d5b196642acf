"""The audit's Streamlit state: what is shared (the original's and the reference's figures, per model and
classes) and what belongs to one run (the unlearned model's figures, cached with the run).

Shared caches hold plain results nobody mutates (feature arrays, probe results, evaluations); a
retrained reference is looked up on disk each run (cheap) so that one trained a moment ago is found.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import streamlit as st

from unlearning.evaluation import audit, references
from unlearning.evaluation.audit import DepthCheck, FeatureSet
from unlearning.stages import PENULTIMATE
from unlearning.evaluation.metrics import Evaluation, evaluate
from unlearning.storage.checkpoints import weights_sha256

from unlearning.evaluation import run_audit
from .. import card
from . import state


def _classes(classes) -> tuple[int, ...]:
    return tuple(sorted(set(int(c) for c in classes)))


@st.cache_resource(show_spinner=False, max_entries=16)
def _parent_key(path: str, mtime: float, size: int) -> str:
    return references.parent_key(state.shared_checkpoint(path))


def reference_path(path: str, classes) -> Path | None:
    """The shipped or cached reference file for (this model, these classes), or None."""
    key = _parent_key(*state.file_stamp(path))
    name = references.file_name(_classes(classes))
    for folder in (references.SHIPPED_REFERENCES, references.cache_dir()):
        candidate = Path(folder) / key / name
        if candidate.is_file():
            return candidate
    return None


@st.cache_resource(show_spinner="Loading the retrained reference…", max_entries=32)
def _reference(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...]
               ) -> references.Reference | None:
    return references.find_reference(state.shared_checkpoint(path), classes, folders=[Path(ref).parents[1]])


def _reference_stamp(path: str, classes) -> tuple | None:
    """The file stamp of a reference that is at hand and loads (the key of every reference cache), or None."""
    ref = reference_path(path, classes)
    if ref is None:
        return None
    stamp = state.file_stamp(ref)
    return stamp if _reference(*stamp, path, _classes(classes)) is not None else None


def shared_reference(path: str, classes) -> references.Reference | None:
    """The retrained model for these classes (shared, read-only), or None when none is at hand."""
    stamp = _reference_stamp(path, classes)
    return None if stamp is None else _reference(*stamp, path, _classes(classes))


def retrain_seconds(path: str, classes) -> float | None:
    """How long retraining without these classes took when the reference at hand was made (its recorded
    training time), or None when there is no reference or it recorded none."""
    ref = shared_reference(path, classes)
    return ref.seconds if ref is not None and ref.seconds == ref.seconds and ref.seconds > 0 else None


def card_facts(run: state.Run, path: str) -> card.CardFacts:
    """What the unlearning card needs beyond the run: the model's weights hash (computed once per run) and
    retraining's time, from the reference at hand (trained in this app, or shipped with its recorded time)."""
    if "weights_sha256" not in run.downloads:
        run.downloads["weights_sha256"] = weights_sha256(run.checkpoint).encode()
    ref = shared_reference(path, run.view.forget)
    seconds = retrain_seconds(path, run.view.forget)
    return card.CardFacts(run.asked_at, run.downloads["weights_sha256"].decode(), seconds,
                          retrain_measured=ref is not None and ref.source != "shipped")


@st.cache_resource(show_spinner="Reading the original model's features at every depth…", max_entries=8)
def _original_stages(path: str, mtime: float, size: int, device: str) -> dict[str, FeatureSet]:
    return audit.stage_feature_sets(state.shared_checkpoint(path).model, state.shared_splits(
        state.shared_checkpoint(path).meta["dataset"]), device)


@st.cache_resource(show_spinner="Reading the retrained model's features at every depth…", max_entries=32)
def _reference_stages(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...],
                      device: str) -> dict[str, FeatureSet]:
    found = _reference(ref, mtime, size, path, classes)
    return audit.stage_feature_sets(found.checkpoint.model, state.shared_splits(found.checkpoint.meta["dataset"]),
                                    device)


def _original_features(path: str, mtime: float, size: int, device: str) -> FeatureSet:
    """The penultimate features (``audit.feature_set``'s), read in the same pass as every other depth."""
    return _original_stages(path, mtime, size, device)[PENULTIMATE]


def _reference_features(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...],
                        device: str) -> FeatureSet:
    return _reference_stages(ref, mtime, size, path, classes, device)[PENULTIMATE]


def original_features(path: str, device: str) -> FeatureSet:
    return _original_features(*state.file_stamp(path), device)


def warm_depth_check(path: str, device: str) -> None:
    """Read the original model's features ahead of the click (once per process): the click's depth check then
    reads only the unlearned model's, and leaves the browser the CPU it needs to draw the result first."""
    try:
        original_features(path, device)
    except Exception:  # noqa: BLE001 - only a head start; the depth check after the click reports any failure
        pass


@st.cache_resource(show_spinner=False, max_entries=32)
def _reference_evaluation(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...],
                          device: str) -> Evaluation:
    found = _reference(ref, mtime, size, path, classes)
    ckpt = found.checkpoint
    return evaluate(ckpt.model, state.test_split(state.shared_checkpoint(path)), ckpt.num_classes, device=device)


def reference_evaluation(path: str, classes, device: str) -> Evaluation | None:
    """The retrained model's evaluation on the test split (the third series of the Forget page), or None."""
    stamp = _reference_stamp(path, classes)
    return None if stamp is None else _reference_evaluation(*stamp, path, _classes(classes), device)


@st.cache_resource(show_spinner=False, max_entries=64)
def _original_probes(path: str, mtime: float, size: int, classes: tuple[int, ...], device: str) -> dict[str, float]:
    return audit.stage_probes(_original_stages(path, mtime, size, device), classes)


@st.cache_resource(show_spinner=False, max_entries=64)
def _reference_probes(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...], device: str
                      ) -> dict[str, float]:
    return audit.stage_probes(_reference_stages(ref, mtime, size, path, classes, device), classes)


@st.cache_resource(show_spinner="Relearning the retrained model…", max_entries=64)
def _reference_relearn(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...], device: str,
                       target: float) -> audit.RelearnCurve:
    found = _reference(ref, mtime, size, path, classes)
    return audit.relearn(found.checkpoint.model, state.shared_splits(found.checkpoint.meta["dataset"]), classes,
                         target, audit.RelearnSettings(), device)  # the depth check's own: pipeline.check_depth's


def depth_check(run: state.Run, path: str) -> DepthCheck:
    """The run's depth check (``audit.depth_check``: every depth and the Anamnesis Index), the original's
    and the reference's features, probes and relearning cached; the same numbers as
    ``pipeline.check_depth`` for this run."""
    o = run.view.outcome
    classes = o.result.forget_classes
    device = run.settings["device"]
    cls = _classes(classes)
    stamp = _reference_stamp(path, classes)
    ref = None if stamp is None else _reference(*stamp, path, cls)
    splits = state.shared_splits(run.checkpoint.meta["dataset"])
    target = o.before.forget_accuracy(classes)
    return audit.depth_check(state.shared_checkpoint(path).model, o.result.model, splits, classes,
                             forget_accuracy=o.after.forget_accuracy(classes), original_accuracy=target,
                             retrained=ref.checkpoint.model if ref is not None else None,
                             reference=ref.source if ref is not None else "none", device=device,
                             original_stages=_original_stages(*state.file_stamp(path), device),
                             retrained_stages=None if stamp is None else _reference_stages(*stamp, path, cls, device),
                             original_probes=_original_probes(*state.file_stamp(path), cls, device),
                             retrained_probes=None if stamp is None else _reference_probes(*stamp, path, cls, device),
                             retrained_relearn=None if stamp is None else _reference_relearn(*stamp, path, cls, device,
                                                                                             target),
                             retain_drop=o.before.retain_accuracy(classes) - o.after.retain_accuracy(classes))


def with_depth(run: state.Run, path: str) -> state.Run:
    """The run with its depth check in ``run.view.outcome.depth`` (computed once per run)."""
    if run.view.outcome.depth is None:
        check = depth_check(run, path)
        run.view = replace(run.view, outcome=replace(run.view.outcome, depth=check))
    return run


@st.cache_resource(show_spinner=False, max_entries=16)
def _original_facts(path: str, mtime: float, size: int, classes: tuple[int, ...], device: str
                    ) -> run_audit.ModelFacts:
    ckpt = state.shared_checkpoint(path)
    return run_audit.model_facts(ckpt.model, state.shared_splits(ckpt.meta["dataset"]), classes, device)


@st.cache_resource(show_spinner=False, max_entries=32)
def _reference_facts(ref: str, mtime: float, size: int, path: str, classes: tuple[int, ...], device: str
                     ) -> run_audit.ModelFacts:
    found = _reference(ref, mtime, size, path, classes)
    return run_audit.model_facts(found.checkpoint.model, state.shared_splits(found.checkpoint.meta["dataset"]), classes,
                                device)


def run_store(run: state.Run) -> dict[str, Any]:
    """A dict that lives as long as this run in this session (the audit's per-run results)."""
    slot = st.session_state.get("_audit_store")
    key = id(run.view.outcome.result)
    if slot is None or slot[0] != key:
        slot = (key, {})
        st.session_state["_audit_store"] = slot
    return slot[1]


def instant_audit(run: state.Run, path: str) -> run_audit.InstantAudit:
    """The audit page's instant part for this run: shared facts for the original and the reference,
    the unlearned model's computed once per run."""
    store = run_store(run)
    classes = _classes(run.view.outcome.result.forget_classes)
    device = run.settings["device"]
    stamp = _reference_stamp(path, classes)
    ref = None if stamp is None else _reference(*stamp, path, classes)
    ref_key = None if ref is None else str(ref.path)
    if store.get("instant_ref") != ref_key or "instant" not in store:
        ckpt = state.shared_checkpoint(path)
        splits = state.shared_splits(ckpt.meta["dataset"])
        ref_facts = None if stamp is None else _reference_facts(*stamp, path, classes, device)
        depth = with_depth(run, path).view.outcome.depth  # the run's one depth check, not a second wording
        store["instant"] = run_audit.instant_audit(
            ckpt.model, run.view.outcome.result.model, splits, classes, depth=depth,
            retrained=ref.checkpoint.model if ref is not None else None,
            reference=ref.source if ref is not None else "none", device=device,
            original_facts=_original_facts(*state.file_stamp(path), classes, device), retrained_facts=ref_facts)
        store["instant_ref"] = ref_key
        store.pop("costly", None)
    return store["instant"]


@st.cache_resource(show_spinner=False, max_entries=32)
def _shared_costly(kind: str, stamp: tuple, path: str, classes: tuple[int, ...], device: str, target: float,
                   settings: audit.RelearnSettings) -> run_audit.CostlyFacts:
    """Relearning and large probes of the original or the reference (shared: they do not depend on the run)."""
    ckpt = state.shared_checkpoint(path)
    splits = state.shared_splits(ckpt.meta["dataset"])
    if kind == "original":
        model, fs = ckpt.model, _original_features(path, *stamp[1:], device)
    else:
        found = _reference(*stamp, path, classes)
        model, fs = found.checkpoint.model, _reference_features(*stamp, path, classes, device)
    return run_audit.costly_facts(model, splits, classes, target, fs, device, settings=settings)


def costly_for(name: str, run: state.Run, path: str, instant: run_audit.InstantAudit) -> run_audit.CostlyFacts:
    """One model's costly facts: shared for the original and the reference, per run for the unlearned."""
    classes = instant.forget
    device = run.settings["device"]
    target = instant.facts["original"].forget_accuracy
    if name == "original":
        return _shared_costly("original", state.file_stamp(path), path, classes, device, target, run_audit.RELEARN)
    if name == "retrained":
        return _shared_costly("retrained", state.file_stamp(reference_path(path, classes)), path, classes, device,
                              target, run_audit.RELEARN)
    splits = state.shared_splits(run.checkpoint.meta["dataset"])
    return run_audit.costly_facts(run.view.outcome.result.model, splits, classes, target,
                                 instant.facts["unlearned"].features, device)
