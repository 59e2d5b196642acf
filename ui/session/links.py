"""A forgetting run in the page's address, so that it can be shared, bookmarked, refreshed and reopened.

``?model=resnet8-mnist5k&forget=3&forget=7&method=paper&l1=0.001&l2=10``: the model by name, the
classes by name (one ``forget`` per class), the method and, for the paper's rule, its two lambdas.
Opening such an address recomputes that run (forgetting is deterministic and takes a fraction of a
second); a run's JSON download holds the same fields and can be loaded back.

The first half is plain functions (no Streamlit) for the tests; the rest reads and writes
``st.query_params`` for the pages.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import MAX_CLASSES

from streamlit.runtime.state.query_params import (  # Streamlit's own limits: beyond them it drops the address
    CLIENT_STATE_QUERY_STRING_MAX_FIELDS as ADDRESS_MAX_FIELDS, CLIENT_STATE_QUERY_STRING_MAX_LENGTH as ADDRESS_MAX_CHARS,
)

from ..plain import plain

MODEL, FORGET, METHOD, L1, L2 = "model", "forget", "method", "l1", "l2"
MAX_NAME = 255  # characters of a model or class name in an address (a file name's own limit)
RUN_PARAMS = (MODEL, FORGET, METHOD, L1, L2)


@dataclass(frozen=True)
class RunRequest:
    """What an address (or a JSON download) asks to be recomputed."""

    model: str  # the model's name, as the sidebar shows it (file name without .safetensors)
    forget: tuple[str, ...]  # class names
    method: str
    lambda1: float | None = None  # the paper's rule only
    lambda2: float | None = None


def encode(request: RunRequest) -> dict[str, str | list[str]]:
    """Query parameters for a run (lists become repeated keys)."""
    params: dict[str, str | list[str]] = {MODEL: request.model, FORGET: list(request.forget), METHOD: request.method}
    if methods.takes_lambdas(request.method) and request.lambda1 is not None and request.lambda2 is not None:
        params[L1], params[L2] = f"{request.lambda1:g}", f"{request.lambda2:g}"
    return params


def _number(text: str | None, name: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} in the address must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} in the address must be a positive number, got {text!r}")
    return value


def _check_names(model: str, forget: Sequence[str], where: str) -> None:
    """Refuse, with a sentence, what would otherwise be cut or dropped without a word: over-long names,
    more classes than a model may have, a class named twice (``forget=3`` a thousand times)."""
    if len(model) > MAX_NAME or any(len(f) > MAX_NAME for f in forget):
        raise ValueError(f"a model or class name in {where} is longer than {MAX_NAME} characters")
    if len(forget) > MAX_CLASSES:
        raise ValueError(f"{where} names {len(forget):,} classes to forget; a model has at most {MAX_CLASSES}")
    counts = Counter(forget)
    twice = next(((f, n) for f, n in counts.items() if n > 1), None)
    if twice is not None:
        raise ValueError(f"{where} names the class {twice[0]!r} {twice[1]:,} times; name each class once")


def decode(params: Mapping[str, Sequence[str]]) -> RunRequest | None:
    """The run an address asks for; None when it asks for none; ValueError with a sentence when malformed.

    ``params`` maps each key to all its values (``st.query_params.to_dict()`` keeps only the last one).
    """
    def one(key: str) -> str | None:
        values = params.get(key) or []
        return values[-1] if values else None

    model, forget = one(MODEL), [f for f in (params.get(FORGET) or []) if f != ""]
    if not model or not forget:
        return None
    _check_names(model, forget, "the address")
    method = one(METHOD) or methods.DEFAULT_MODE
    if method not in methods.names(one_shot=True):
        raise ValueError(f"the address asks for the method {method!r}; "
                         f"this app has {', '.join(methods.names(one_shot=True))}")
    l1, l2 = _number(one(L1), "l1"), _number(one(L2), "l2")
    if not methods.takes_lambdas(method):
        l1 = l2 = None
    return RunRequest(model, tuple(forget), method, l1, l2)


def from_json(text: str | bytes) -> RunRequest:
    """The run a Forget page JSON download describes; ValueError when the file is not one."""
    try:
        doc = json.loads(text)
        model = doc["model"]["name"]
        forget = [str(c) for c in doc["forget_class_names"]]
        method = doc.get("mode") or "paper"  # runs saved before modes existed used the paper's rule
    except (ValueError, KeyError, TypeError):
        raise ValueError("this file is not a run downloaded from the Forget page (Metrics (JSON))") from None
    if not isinstance(model, str) or not forget:
        raise ValueError("this file names no model or no forgotten class")
    _check_names(model, forget, "this file")
    if method not in methods.names(one_shot=True):
        raise ValueError(f"this run used the method {method!r}, which this app does not have")
    l1, l2 = doc.get("lambda1"), doc.get("lambda2")
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (l1, l2))
    return RunRequest(model, tuple(forget), method, *(map(float, (l1, l2)) if methods.takes_lambdas(method) and ok else (None, None)))


def request_for(model: str, forget_names: Sequence[str], method: str, lambda1: float, lambda2: float) -> RunRequest:
    """The request that reproduces a run (the lambdas only matter for the paper's rule)."""
    strength = methods.takes_lambdas(method)
    return RunRequest(model, tuple(forget_names), method, lambda1 if strength else None, lambda2 if strength else None)


def address(base_url: str, request: RunRequest, extra: Mapping[str, str] | None = None) -> str:
    """The full address of a run on the page at ``base_url`` (its own query replaced)."""
    parts = urlsplit(base_url)
    query = urlencode({**encode(request), **(extra or {})}, doseq=True)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# --- Streamlit side -------------------------------------------------------------------------------

PENDING_KEY = "_link_request"  # a request from the address or a JSON file, waiting for the Forget page
SEEN_KEY = "_link_seen"  # the address's run params this session has already acted on


def _all_params() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params.keys()}


def address_request() -> RunRequest | None:
    """The run the current address asks for (None for none or a malformed one, with a warning)."""
    try:
        return decode(_all_params())
    except ValueError as e:
        st.warning(f"The link's run cannot be reopened: {plain(e)}.", icon=":material/link_off:")
        return None


def restore_model() -> None:
    """Once per session (and again when the address names another run): the address's model becomes
    the sidebar's, and its run waits for the Forget page. Call before the sidebar draws."""
    from . import state

    request = address_request()
    if request is None:
        return
    key = tuple(sorted((k, tuple(v)) for k, v in _all_params().items() if k in RUN_PARAMS))
    if st.session_state.get(SEEN_KEY) == key:
        return
    st.session_state[SEEN_KEY] = key
    run = st.session_state.get(state.RUN_KEY)
    if run is not None and run_request(run) == request:  # this session already has that run (kept across a reload)
        state.select_model(run.model[0])
        return
    path = next((str(e.path) for e in state.model_entries() if e.meta is not None and e.name == request.model), None)
    if path is None:
        st.warning(f"The link's model {plain(repr(request.model))} is not here: it is not shipped with the app, not in "
                   "the server's models folder and not among this session's own (a model uploaded or trained "
                   "in the app belongs to the session that made it). Pick a model in the sidebar.",
                   icon=":material/link_off:")
        return
    state.select_model(path)
    st.session_state[PENDING_KEY] = request


def open_request(request: RunRequest) -> None:
    """Reopen ``request`` (from a JSON file): put it in the address and let the pages act on it."""
    st.query_params.from_dict({k: v for k, v in st.query_params.to_dict().items() if k not in RUN_PARAMS})
    for k, v in encode(request).items():
        st.query_params[k] = v
    st.session_state.pop(SEEN_KEY, None)


def take_request(model: str) -> RunRequest | None:
    """The waiting request for ``model``, removed from the session (so it runs once)."""
    request: RunRequest | None = st.session_state.get(PENDING_KEY)
    if request is None or request.model != model:
        return None
    del st.session_state[PENDING_KEY]
    return request


def show_in_address(request: RunRequest) -> None:
    """Write the run into the address (a refresh, a bookmark or a copied link reopens it)."""
    want = encode(request)
    now = {k: st.query_params.get_all(k) for k in RUN_PARAMS if k in st.query_params}
    norm = {k: (v if isinstance(v, list) else [v]) for k, v in want.items()}
    if now != norm:
        for k in RUN_PARAMS:
            if k in st.query_params and k not in want:
                del st.query_params[k]
        for k, v in want.items():
            st.query_params[k] = v
    st.session_state[SEEN_KEY] = tuple(sorted((k, tuple(v)) for k, v in norm.items()))


def run_request(run: Any) -> RunRequest:
    """The request that reproduces ``run`` (a ui.session.state.Run)."""
    from . import state

    r = run.view.outcome.result
    return request_for(state.model_name(run.model[0]), run.view.forget_names, r.mode, r.lambda1, r.lambda2)


def link_to(request: RunRequest, page_path: str) -> str:
    """The full address of ``request`` on the page at ``page_path`` of this server."""
    base = getattr(st.context, "url", None) or ""
    parts = urlsplit(base)
    root = urlunsplit((parts.scheme, parts.netloc, page_path, "", "")) if parts.netloc else page_path
    extra: dict[str, Any] = {}
    for k in ("theme",):  # never the owner token: a link is for others, and the key would hand them our models
        if k in st.query_params:
            extra[k] = st.query_params[k]
    return address(root, request, extra)


# Streamlit empties an address of more than ADDRESS_MAX_FIELDS parameters (or ADDRESS_MAX_CHARS characters)
# on the server before any page runs, so the app never sees it: only the browser can tell. The text is fixed
# here (nothing from the address is written into the page but two counts) and set with textContent.
_DROPPED_ADDRESS_CHECK = f"""
<div class="address-dropped" role="alert" hidden
     style="border-left: 4px solid #d97706; padding: .5rem .75rem; margin: .25rem 0 .75rem; border-radius: .25rem;
            background: rgba(217, 119, 6, .12)"></div>
<script>
(() => {{
  // the address the browser loaded: Streamlit rewrites the address bar (here, to ?owner=…) before this runs
  const loaded = (performance.getEntriesByType("navigation")[0] || {{}}).name || window.location.href;
  const q = new URL(loaded).search.replace(/^\\?/, "");
  const fields = q ? q.split("&").length : 0;
  if (fields <= {ADDRESS_MAX_FIELDS} && q.length <= {ADDRESS_MAX_CHARS}) return;
  for (const box of document.querySelectorAll(".address-dropped")) {{
    box.textContent = `This address has ${{fields.toLocaleString("en")}} parameters (${{q.length.toLocaleString("en")}} `
      + "characters). Streamlit reads at most {ADDRESS_MAX_FIELDS:,} parameters and {ADDRESS_MAX_CHARS:,} characters "
      + "and ignored the whole address: nothing it asked for (model, classes, method) was applied.";
    box.hidden = false;
  }}
}})();
</script>
"""


def warn_if_address_dropped() -> None:
    """Say so on the page when the browser's address was too long for Streamlit to read at all."""
    st.html(_DROPPED_ADDRESS_CHECK, unsafe_allow_javascript=True)
