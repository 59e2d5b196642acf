"""Whose models these are: one owner token per browser session, kept in the address (``?owner=…``).

A refresh keeps the address, so it keeps the token and with it the session's uploads, trainings and
training job (see ui/session/jobs.py). The token is created on the first visit, checked strictly
(``storage.is_owner``) before it names a folder, and re-written into the address on every run, since
moving between pages clears the query. Links made for others (ui/session/links.py ``link_to``) never carry it.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from unlearning.storage import folders as storage
from unlearning.storage.checkpoints import Checkpoint
from unlearning.pipeline import ForgetOutcome

from .. import exports

OWNER_PARAM = "owner"
OWNER_KEY = "_owner"


def ensure() -> str:
    """This session's owner token, from the address or the session, or a new one; written back into the
    address. A malformed token in the address is never used: it is replaced, with a warning."""
    raw = st.query_params.get_all(OWNER_PARAM)
    given = raw[-1] if raw else None
    token = st.session_state.get(OWNER_KEY)
    if storage.is_owner(given):
        token = given
    elif given is not None:
        st.warning("The address's owner key is not valid, so it was replaced: models uploaded or trained "
                   "now belong to this new key.", icon=":material/key_off:")
    if not storage.is_owner(token):
        token = storage.new_owner()
    st.session_state[OWNER_KEY] = token
    if raw != [token]:
        st.query_params[OWNER_PARAM] = token
    return token


def current() -> str | None:
    """The token ``ensure`` chose for this session (None before it ran)."""
    token = st.session_state.get(OWNER_KEY)
    return token if storage.is_owner(token) else None


def folder() -> Path:
    """Where this session's uploads and trained models go."""
    return storage.owner_dir(current() or ensure())


def others() -> tuple[Path, ...]:
    """The other folders this session lists: a new model's name must not repeat one of theirs."""
    return tuple(p for source, p in storage.model_folders(current()).items() if source != "yours")


def keep_model(checkpoint: Checkpoint, outcome: ForgetOutcome, name: str) -> Path:
    """Save an unlearned model among this session's own models, as ``name`` (numbered when another model listed
    here has it: a new model never replaces one); its path. ValueError or OSError when it cannot be written."""
    target = storage.unique_path(folder(), name, others())
    exports.save_unlearned(checkpoint, outcome, target)
    return target
