"""The guided tour's state: which classes it starts from, and its two computations, cached for every session.

The tour page reads the paper's rule step by step (``unlearning.tour.paper_tour``) and, for the app's default
method, a strength sweep; both are shared, read-only results (``st.cache_resource``) keyed by the model
file, the classes and the device.
"""
from __future__ import annotations

import streamlit as st

from unlearning import tour

from . import state


def current_classes(path: str, names: list[str], model_id: str) -> list[str]:
    """The class the user is working on: the last run's, else the Forget page's choice, else a digit."""
    run: state.Run | None = st.session_state.get(state.RUN_KEY)
    if run is not None and run.matches(path):
        return [names[c] for c in run.view.forget]
    chosen = st.session_state.get(f"classes::{model_id}")
    if chosen and all(c in names for c in chosen):
        return list(chosen)
    return ["3"] if "3" in names else [names[-1]]


@st.cache_resource(show_spinner=False, max_entries=16)
def _paper_tour(path: str, mtime: float, size: int, classes: tuple[int, ...], device: str) -> tour.Tour:
    shared = state.shared_checkpoint(path)
    val = state.shared_splits(shared.meta["dataset"]).val
    return tour.paper_tour(shared, classes, state.test_split(shared), val, device=device)


@st.cache_resource(show_spinner=False, max_entries=16)
def _default_sweep(path: str, mtime: float, size: int, classes: tuple[int, ...], device: str) -> tour.Sweep:
    shared = state.shared_checkpoint(path)
    val = state.shared_splits(shared.meta["dataset"]).val
    return tour.default_mode_sweep(shared, classes, state.test_split(shared), val, device=device)


def paper_tour(path: str, classes: tuple[int, ...], device: str) -> tour.Tour:
    """The paper's rule step by step on this model and these classes (computed once per process)."""
    return _paper_tour(*state.file_stamp(path), classes, device)


def default_sweep(path: str, classes: tuple[int, ...], device: str) -> tour.Sweep:
    """The app's default method and its strength sweep on this model and these classes (once per process)."""
    return _default_sweep(*state.file_stamp(path), classes, device)

