"""Streamlit state, in one place: shared read-only caches, and what belongs to one browser session.

Shared by every user (``st.cache_resource``): checkpoints as loaded from disk, datasets, the
original model's test evaluation, the model listing. Nobody mutates them. Forgetting never
touches a cached model: each session works on its own copy (``session_checkpoint``), and the
backend returns a new model anyway. Everything a user did (the last run, messages) lives in
``st.session_state``.
"""
from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import streamlit as st
from torch import nn

from unlearning.evaluation import trunk
from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import Checkpoint, CheckpointError, load_checkpoint
from unlearning.data import EMBEDDED, TITLES, DataError, ImageTensors, Splits, load_dataset
from unlearning.device import available_devices, describe, pick_device
from unlearning.evaluation.metrics import Evaluation, evaluate
from unlearning.storage.folders import SHIPPED_DIR, SUFFIX, ModelEntry, default_model_path, list_models, model_folders

from .. import run_view
from ..plain import plain, plain_list
from . import owner

MODEL_KEY = "model_path"  # the sidebar's model picker
DEVICE_KEY = "device"  # the sidebar's device picker
PENDING_MODEL = "pending_model"  # a model to select on the next run (set by upload, training, the demo)
RUN_KEY = "run"  # the session's last forgetting run


# --- shared, read-only ------------------------------------------------------------------------------

def file_stamp(path: str | Path) -> tuple[str, float, int]:
    """(path, mtime, size): a cache key that changes when the file is replaced."""
    st_ = os.stat(path)
    return str(path), st_.st_mtime, st_.st_size


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _checkpoint(path: str, mtime: float, size: int) -> Checkpoint:
    return load_checkpoint(path)


def shared_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint as loaded from disk, shared by every session: read it, never change it."""
    return _checkpoint(*file_stamp(path))


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def shared_splits(name: str) -> Splits:
    """A dataset's splits, loaded once per process (the embedded ones need no network)."""
    return load_dataset(name)


@st.cache_resource(show_spinner="Measuring the model on its test images…", max_entries=32)
def _before(path: str, mtime: float, size: int, device: str) -> Evaluation:
    ckpt = _checkpoint(path, mtime, size)
    test = test_split(ckpt)
    model = ckpt.model if device == "cpu" else copy.deepcopy(ckpt.model).to(device)  # eval only reads it
    return evaluate(model, test, ckpt.num_classes, device=device)


def shared_before(path: str | Path, device: str) -> Evaluation:
    """The original model's evaluation on its test split (the "before" of every run)."""
    return _before(*file_stamp(path), device)


@st.cache_resource(show_spinner=False, max_entries=2)  # up to 360 MB each (full-size ResNet-8)
def _trunk(path: str, mtime: float, size: int, changed: frozenset[str]) -> trunk.Trunk | None:
    shared = _checkpoint(path, mtime, size)
    return trunk.build(shared.model, test_split(shared), changed)


def shared_trunk(path: str | Path, edited: nn.Module) -> trunk.Trunk | None:
    """The original's activations on its test split below the layers ``edited`` changed (shared, read-only;
    built by the first run that changes those layers, such as the page's head start), or None."""
    if next(edited.parameters()).device.type != "cpu":
        return None  # a GPU's full pass is already quick: no CPU copy of the activations for it
    changed = trunk.changed_names(shared_checkpoint(path).model, edited)
    return None if changed is None else _trunk(*file_stamp(path), changed)


@st.cache_resource(show_spinner=False, max_entries=64)
def _listing(owner: str | None, stamp: tuple) -> list[ModelEntry]:
    return list_models(owner=owner)


DATASET_KEY = "_dataset"  # the sidebar's dataset group; follows the chosen model


def group_by_dataset(entries: list[ModelEntry]) -> dict[str, list[str]]:
    """The listed models' paths by the dataset they were trained on: embedded data first, each dataset's
    default model first in its group, the listing's order otherwise."""
    from unlearning.zoo.shipped import dataset_default

    first = {d: dataset_default(d) for d in {e.meta["dataset"] for e in entries}}  # one DEFAULT read per dataset
    groups: dict[str, list[str]] = {}
    for e in sorted(entries, key=lambda e: (e.meta["dataset"] not in EMBEDDED, e.name != first[e.meta["dataset"]])):
        groups.setdefault(e.meta["dataset"], []).append(str(e.path))
    return groups


def demo_models() -> dict[str, str]:
    """The Overview demo's models, by the kind of data: the default digits model, and the full-size
    Fashion-MNIST default where Debian's data is installed."""
    from unlearning.data import is_available
    from unlearning.zoo.recipes import FULL_SIZE_DEFAULT, recipe

    out = {}
    digits = default_path()
    if digits is not None:
        out["Digits"] = digits
    full = SHIPPED_DIR / f"{FULL_SIZE_DEFAULT}{SUFFIX}"
    if full.is_file() and is_available(recipe(FULL_SIZE_DEFAULT).dataset):
        out["Clothes (60,000 images)"] = str(full)
    return out


def dataset_title(name: str) -> str:
    return TITLES.get(name, name)


def first_model_of(groups: dict[str, list[str]]) -> None:
    """A new dataset group was picked: select its first model (the shipped ones are listed first)."""
    st.session_state[MODEL_KEY] = groups[st.session_state[DATASET_KEY]][0]


def model_entries() -> list[ModelEntry]:
    """What this session sees: shipped, its own ("yours"), then the operator's local checkpoints; re-read
    only when a file in one of those folders changes. Other sessions' models are never listed."""
    who = owner.current()
    stamp = []
    for folder in model_folders(who).values():
        if folder.is_dir():
            for p in sorted(folder.glob(f"*{SUFFIX}")):
                if not p.name.startswith("."):
                    try:
                        stamp.append(file_stamp(p))
                    except OSError:  # removed between the glob and the stat
                        pass
    return _listing(who, tuple(stamp))


def default_path() -> str | None:
    try:
        return str(default_model_path())
    except CheckpointError:
        return None


def test_split(ckpt: Checkpoint) -> ImageTensors:
    """The held-out test images of the checkpoint's dataset; DataError when they are not here."""
    splits = shared_splits(ckpt.meta["dataset"])
    if tuple(splits.info.class_names) != tuple(ckpt.class_names):
        raise DataError(f"the dataset {ckpt.meta['dataset']!r} here has classes "
                        f"{', '.join(splits.info.class_names[:6])}…, the model {', '.join(ckpt.class_names[:6])}…")
    if tuple(splits.info.input_shape) != tuple(ckpt.meta["input_shape"]):
        raise DataError(f"the dataset {ckpt.meta['dataset']!r} here has images of shape {splits.info.input_shape}, "
                        f"the model expects {tuple(ckpt.meta['input_shape'])}")
    return splits.test



def page_checkpoint(path: str | None, cannot: str, measure: bool = True) -> Checkpoint:
    """The shared checkpoint a page works on, with its test images loaded and (``measure``) the
    original measured now, so that a click only forgets. Any problem is a message and a stop."""
    if path is None:
        st.error("No model is selected. Pick, upload or train one on the Model page.")
        st.stop()
    try:
        ckpt = shared_checkpoint(path)
        test_split(ckpt)
        if measure:
            shared_before(path, selected_device())
    except (ValueError, OSError) as e:  # CheckpointError, DataError
        st.error(f"{cannot}: {plain(e)}")
        st.stop()
    return ckpt

# --- this session -----------------------------------------------------------------------------------

def selected_path() -> str | None:
    return st.session_state.get(MODEL_KEY) or default_path()


def selected_device() -> str:
    dev = st.session_state.get(DEVICE_KEY)
    return dev if dev in available_devices() else available_devices()[0]


def device_label(name: str) -> str:
    return describe(pick_device(name)) if name != "cpu" else "CPU"


def select_model(path: str | Path) -> None:
    """Make ``path`` the sidebar's model on the next run (a widget's value cannot change mid-run)."""
    st.session_state[PENDING_MODEL] = str(path)


def session_checkpoint(path: str | Path, device: str) -> Checkpoint:
    """This session's own copy of a checkpoint, on ``device``: what forgetting and predictions read."""
    key = (*file_stamp(path), device)
    slot = st.session_state.get("_session_checkpoint")
    if slot is not None and slot[0] == key:
        return slot[1]
    shared = shared_checkpoint(path)
    mine = Checkpoint(copy.deepcopy(shared.model).to(device).eval(), shared.codes.clone(), copy.deepcopy(shared.meta))
    st.session_state["_session_checkpoint"] = (key, mine)
    return mine


def model_name(path: str | Path) -> str:
    name = Path(path).name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


@dataclass
class Run:
    """One forgetting run of this session: what was asked, what came out, and lazily made downloads."""

    model: tuple[str, float, int]  # file_stamp of the model it ran on
    view: run_view.RunView
    checkpoint: Checkpoint  # the session copy it ran on (codes and metadata for saving)
    settings: dict[str, Any]
    downloads: dict[str, bytes] = field(default_factory=dict)
    asked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))  # the click (the card's "when")

    def matches(self, path: str | Path | None) -> bool:
        try:
            return path is not None and self.model == file_stamp(path)
        except OSError:
            return False


def _forget(path: str, mine: Checkpoint, classes: list[int], lambda1: float, lambda2: float, device: str,
            mode: str | None, progress=None) -> run_view.RunView:
    """Forget on ``mine`` (a private copy), measure on the test split, predict what the views show."""
    def step(fraction: float, text: str) -> None:
        if progress is not None:
            progress(fraction, text)

    shared = shared_checkpoint(path)
    step(0.1, "Loading the test images…")
    test = test_split(shared)
    step(0.2, "Measuring the original model on real test images…")
    before = shared_before(path, device)
    step(0.4, f"Forgetting from the codes, on {device_label(device)}…")
    calibration = shared_splits(shared.meta["dataset"]).val if methods.reads_validation(mode) else None
    outcome = run_view.run_forgetting(mine, test, classes, lambda1, lambda2, device, before=before, mode=mode,
                                      calibration=calibration, trunk=lambda edited: shared_trunk(path, edited))
    step(0.8, "Predicting codes and test images before and after…")
    return run_view.analyse(mine, outcome, test, model_name(path), device=device)


@st.cache_resource(show_spinner=False, max_entries=16)
def _demo_run(path: str, mtime: float, size: int, classes: tuple[int, ...], lambda1: float, lambda2: float,
              device: str, mode: str | None) -> tuple[Checkpoint, run_view.RunView]:
    shared = _checkpoint(path, mtime, size)
    mine = Checkpoint(copy.deepcopy(shared.model).to(device).eval(), shared.codes.clone(), copy.deepcopy(shared.meta))
    return mine, _forget(path, mine, list(classes), lambda1, lambda2, device, mode)


def warm_demo(path: str, classes: list[int], lambda1: float, lambda2: float, device: str, mode: str | None
              ) -> Evaluation | None:
    """Compute a run ahead of the click (once per process and setting): the demo's click then answers at
    once, and any later run on this model skips torch's first-call costs (about 2 s for a small CNN).
    Returns the model's own evaluation on the test split (None when the head start failed)."""
    try:
        return _demo_run(*file_stamp(path), tuple(classes), lambda1, lambda2, device, mode)[1].outcome.before
    except Exception:  # noqa: BLE001 - only a head start; the click reports any failure itself
        return None


def forget_with_progress(path: str, classes: list[int], lambda1: float, lambda2: float, device: str,
                         mode: str | None = None, demo: bool = False) -> Run | None:
    """Run forgetting inside a status box with a progress bar, removed when done; None (and the box with a
    message) when it fails.

    The session's own copy of the model is what forgets. With ``demo``, the run is the shared,
    read-only demo run of this model and class (computed once per process, see ``warm_demo``).
    """
    names = plain_list(shared_checkpoint(path).class_names[c] for c in classes)
    holder = st.empty()
    with holder.status(f"Forgetting {names}…", expanded=False) as status:
        bar = st.progress(0.0, text="Starting…")
        try:
            if demo:
                bar.progress(0.4, text=f"Forgetting from the codes, on {device_label(device)}…")
                mine, view = _demo_run(*file_stamp(path), tuple(classes), lambda1, lambda2, device, mode)
            else:
                mine = session_checkpoint(path, device)
                view = _forget(path, mine, classes, lambda1, lambda2, device, mode,
                               progress=lambda f, t: bar.progress(f, text=t))
        except Exception as e:  # noqa: BLE001 - the page boundary: any failure becomes a message, not a traceback
            status.update(label=f"Could not forget {names}", state="error", expanded=True)
            st.error(plain(_first_line(e), 500))
            return None
    # Done: the box goes. Its green "Forgot 2 in 0.14 s" sat above a red "Not forgotten" banner; the
    # verdict banner and the time card say what happened, once.
    holder.empty()
    settings = {"classes": list(classes), "lambda1": lambda1, "lambda2": lambda2, "device": device, "mode": mode}
    return Run(file_stamp(path), view, mine, settings)


DEMO_KEY = "demo_result"  # the Overview's one-click run (also the session's last run when it was the last)
KEPT_OWNERS = 16  # how many owners' last runs the server keeps for a reload (a run with its report is a few MB)


@st.cache_resource(show_spinner=False)
def _kept_runs() -> tuple[threading.Lock, OrderedDict]:
    return threading.Lock(), OrderedDict()


def keep_run(run: Run, demo: bool = False) -> None:
    """Make ``run`` this session's last run, and keep it on the server under the owner token: applying
    a theme reloads the browser page, which starts a new session, and a refresh does too. The token
    is in the address, so the new session finds the run again (``restore_run``)."""
    st.session_state[RUN_KEY] = run
    if demo:
        st.session_state[DEMO_KEY] = run
    who = owner.current()
    if who is None:
        return
    lock, kept = _kept_runs()
    with lock:
        slot = kept.pop(who, {})
        slot[RUN_KEY] = run
        if demo:
            slot[DEMO_KEY] = run
        kept[who] = slot
        while len(kept) > KEPT_OWNERS:
            kept.popitem(last=False)


def restore_run() -> None:
    """A new session of a known owner (after a reload) starts from that owner's last run, on its model.
    Call after ``owner.ensure`` and before the sidebar draws."""
    if RUN_KEY in st.session_state or "_run_restored" in st.session_state:
        return
    st.session_state["_run_restored"] = True
    who = owner.current()
    lock, kept = _kept_runs()
    with lock:
        slot = dict(kept.get(who, {})) if who else {}
    run = slot.get(RUN_KEY)
    if run is None or not run.matches(run.model[0]):  # its model file was replaced or removed
        return
    st.session_state[RUN_KEY] = run
    if DEMO_KEY in slot:
        st.session_state[DEMO_KEY] = slot[DEMO_KEY]
    st.session_state.setdefault(PENDING_MODEL, run.model[0])
    # the Forget page's controls as they were for that run (its keys: see app_pages/forget.py)
    r, name = run.view.outcome.result, model_name(run.model[0])
    st.session_state.setdefault(f"classes::{name}", list(run.view.forget_names))
    st.session_state.setdefault("mode", r.mode)
    if methods.takes_lambdas(r.mode):
        st.session_state.setdefault(f"lambda1::{name}", f"{r.lambda1:g}")
        st.session_state.setdefault(f"lambda2::{name}", f"{r.lambda2:g}")


def flash(message: str) -> None:
    """A message to show once, on the next run (after a rerun that would otherwise swallow it)."""
    st.session_state.setdefault("_flash", []).append(message)


def show_flash() -> None:
    for message in st.session_state.pop("_flash", []):
        st.toast(message, icon=":material/check_circle:")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    if isinstance(e, ValueError):  # our own errors (CheckpointError, DataError, bad classes) read as sentences
        return text[0][:400] if text else type(e).__name__
    return f"{type(e).__name__}: {text[0][:400]}" if text else type(e).__name__

