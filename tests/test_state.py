"""ui/state in the app itself: sessions stay apart, the shared cached model is never touched, a reload of
the same owner keeps its last run, and memory stays flat over many runs.

Every test drives the real app (app.py and its pages) through streamlit.testing's AppTest, which runs
the scripts in this process: several AppTest objects are several browser sessions of one server, and
they share its st.cache_resource caches exactly as real sessions do. The quickest shipped model is
used (conftest's MODEL). No timing is asserted anywhere.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import statistics
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import (APP, CLASSES, CLASSES_KEY, MODEL, MODEL_ID, TIMEOUT, app, expected, forget, metrics,
                      no_exception, owned, result_headers, session, shown, state_hash)
from ui import method_text
from ui.session import state
from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset
from unlearning.pipeline import forget_and_evaluate
from unlearning.storage.folders import SUFFIX, default_model_path

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


def test_the_cached_model_is_never_modified_and_sessions_are_separate():
    from ui.session import state

    path = default_model_path()
    pristine = state_hash(load_checkpoint(path).model)
    demo = app()  # the demo's run is computed once per process and shared, read-only
    demo.button(key="demo_button").click().run()
    assert state_hash(state.shared_checkpoint(path).model) == pristine
    first = app("app_pages/forget.py")
    first.multiselect(key=CLASSES).set_value(["1"]).run()
    first.button(key="forget_button").click().run()
    assert first.session_state["run"].view.forget == (1,)
    assert state_hash(state.shared_checkpoint(path).model) == pristine  # the shared object
    second = app("app_pages/forget.py")  # another browser session
    assert "run" not in second.session_state
    assert [el.key for el in second.get("plotly_chart")] == ["as_is"]  # only the model as it is, no result


def test_a_reload_of_the_same_owner_keeps_the_last_run_and_compare_starts_from_its_classes():
    """Applying a theme reloads the browser page: a new session with the same address (owner key)."""
    at = app("app_pages/forget.py")
    at.multiselect(key=CLASSES).set_value(["3", "8"]).run()
    at.button(key="forget_button").click().run()
    assert not at.exception and metrics(at)
    params = {k: at.query_params[k] for k in at.query_params}
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)  # the reloaded page: a new session
    again.query_params = params
    again.run()
    again.switch_page("app_pages/forget.py").run()  # the run, with its controls as they were
    assert again.multiselect(key=CLASSES).value == ["3", "8"] and metrics(again) == metrics(at)
    again.switch_page("app_pages/audit.py").run()
    assert not again.exception
    assert not any("Forget a class first" in i.value for i in again.info)
    assert any("Forgetting 3, 8 with" in h.value for h in again.header)
    again.switch_page("app_pages/compare.py").run()
    assert again.multiselect(key=f"compare_classes::{MODEL_ID}").value == ["3", "8"]


@pytest.fixture(scope="module")
def backend(ckpt):
    """The backend's own result for a class list, with the app's default method (cached per module)."""
    splits = load_dataset(ckpt.meta["dataset"])
    mode = method_text.default_mode()
    kwargs = {"mode": mode, "calibration": splits.val if methods.reads_validation(mode) else None}
    done = {}

    def run(classes):
        key = tuple(classes)
        if key not in done:
            done[key] = forget_and_evaluate(ckpt, splits.test, list(classes), device="cpu", **kwargs)
        return done[key]
    return run


def fingerprint(ck) -> str:
    """Weights, codes and metadata of a checkpoint object, as one hash."""
    h = hashlib.sha256(state_hash(ck.model).encode())
    h.update(ck.codes.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(ck.meta, sort_keys=True, default=str).encode())
    return h.hexdigest()


def evaluation_fingerprint(ev) -> str:
    h = hashlib.sha256()
    for name in ("per_class_accuracy", "confusion"):
        value = getattr(ev, name, None)
        h.update(repr(value if value is None else torch.as_tensor(value).tolist()).encode())
    return h.hexdigest()


def memory_bytes() -> dict[str, int]:
    """This process's resident memory (AppTest runs the app here) from /proc/self/status, after a full
    garbage collection and (glibc) handing freed heap back to the system. "anon" is the process's own
    memory, where a leak would show; "total" adds pages of mapped files (torch's libraries), which come
    and go with the machine's page cache and are reported, not judged."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figures then also hold freed-but-kept heap
        pass
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                fields[key] = int(value.split()[0]) * 1024
    return {"total": fields["VmRSS"], "anon": fields.get("RssAnon", fields["VmRSS"])}


def test_two_sessions_forgetting_at_once_never_see_each_others_models_or_results(ckpt, backend, local_models):
    a, b = session(), session()
    names = ckpt.class_names
    # Interleaved as two people would be: both choose, then both press Forget, then both look again.
    a.multiselect(key=CLASSES_KEY).set_value([names[1]]).run()
    b.multiselect(key=CLASSES_KEY).set_value([names[6], names[8]]).run()
    a.button(key="forget_button").click().run()
    b.button(key="forget_button").click().run()
    a.run()
    b.run()
    no_exception(a)
    no_exception(b)

    assert result_headers(a) == [f"Forgetting {names[1]}: before and after"]
    assert result_headers(b) == [f"Forgetting {names[6]}, {names[8]}: before and after"]
    assert {k: shown(a)[k] for k in expected(backend([1]))} == expected(backend([1]))
    assert {k: shown(b)[k] for k in expected(backend([6, 8]))} == expected(backend([6, 8]))
    run_a, run_b = a.session_state[state.RUN_KEY], b.session_state[state.RUN_KEY]
    assert run_a.view.forget == (1,) and run_b.view.forget == (6, 8)
    # Each session forgot on its own copy and got its own model back; none of them is the shared one.
    shared = state.shared_checkpoint(MODEL)
    assert run_a.checkpoint is not run_b.checkpoint
    assert shared.model is not run_a.checkpoint.model and shared.model is not run_b.checkpoint.model
    model_a, model_b = run_a.view.outcome.result.model, run_b.view.outcome.result.model
    assert model_a is not model_b and state_hash(model_a) != state_hash(model_b)
    assert not ({id(p) for p in model_a.parameters()} & {id(p) for p in model_b.parameters()})

    # A keeps its unlearned model: A's sidebar selects it; B's selection and B's result do not move.
    a.button(key="keep_model").click().run()
    b.run()
    no_exception(a)
    no_exception(b)
    kept = next(owned(a).glob(f"*{SUFFIX}"))  # A's own folder, not B's and not the operator's
    assert not list(local_models.glob(f"*{SUFFIX}"))
    assert a.selectbox(key=state.MODEL_KEY).value == str(kept)
    assert b.selectbox(key=state.MODEL_KEY).value == str(MODEL)
    assert result_headers(b) == [f"Forgetting {names[6]}, {names[8]}: before and after"]
    assert b.session_state[state.RUN_KEY] is run_b


@pytest.mark.slow
def test_the_shared_original_stays_bit_identical_after_many_runs_in_many_sessions(ckpt, monkeypatch):
    """Hash the very objects the app hands out from its cache, before and after runs in three sessions."""
    pristine = fingerprint(load_checkpoint(MODEL))  # straight from disk
    handed_out, befores = [], []
    real_checkpoint, real_before = state.shared_checkpoint, state.shared_before

    def spy_checkpoint(path):
        out = real_checkpoint(path)
        if Path(path) == MODEL:
            handed_out.append(out)
        return out

    def spy_before(path, device):
        out = real_before(path, device)
        if Path(path) == MODEL:
            befores.append(out)
        return out

    monkeypatch.setattr(state, "shared_checkpoint", spy_checkpoint)
    monkeypatch.setattr(state, "shared_before", spy_before)
    sessions = [session() for _ in range(3)]
    before_print = evaluation_fingerprint(befores[0])
    names = ckpt.class_names
    modes = list(method_text.available_modes())
    for round_ in range(2):
        for i, at in enumerate(sessions):
            if len(modes) > 1:
                at.selectbox(key="mode").set_value(modes[(i + round_) % len(modes)]).run()
            forget(at, [names[(3 * i + round_) % len(names)], names[(3 * i + round_ + 5) % len(names)]])
            assert at.session_state[state.RUN_KEY].view.forget  # it did forget
    assert handed_out, "the app never asked for the shared checkpoint"
    assert len({id(c) for c in handed_out}) == 1, "the cache handed out more than one 'shared' object"
    shared = handed_out[0]
    assert fingerprint(shared) == pristine
    assert not shared.model.training
    assert len({id(e) for e in befores}) == 1 and evaluation_fingerprint(befores[0]) == before_print
    for at in sessions:
        assert at.session_state[state.RUN_KEY].checkpoint.model is not shared.model


def live_tensor_bytes() -> int:
    """Bytes of every tensor storage that Python objects still reach (each storage counted once)."""
    gc.collect()
    seen, total = set(), 0
    for obj in gc.get_objects():
        if isinstance(obj, torch.Tensor) and obj.device.type != "meta":
            storage = obj.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def forget_many(warmup: int = 10, runs: int = 30) -> dict:
    """One session forgets ``warmup`` then ``runs`` times, a different class each time; what memory did.

    The warm-up forgets every class once: each class's retrained reference is loaded once and stays in
    the shared cache (bounded), which is not a leak (with 6, references 6 and 7 arrived after it: +0.6 MiB)."""
    ckpt = load_checkpoint(MODEL)
    names = ckpt.class_names
    at = session()

    def once(i: int):
        at.multiselect(key=CLASSES_KEY).set_value([names[i % len(names)]])
        at.button(key="forget_button").click().run()
        no_exception(at)
        run = at.session_state[state.RUN_KEY]
        assert run.view.forget == (i % len(names),)
        return run

    forget(at, [names[0]])  # the first selection enables the button
    warm, end, gone = [], [], []
    for i in range(warmup):  # caches, allocator pools, lazy imports
        once(i)
    warm_tensors = live_tensor_bytes()  # first: its big temporary list leaves the heap a little larger
    for i in range(warmup, warmup + 5):
        once(i)
        warm.append(memory_bytes())
    for i in range(runs):
        run = once(i)
        if i < runs - 2:  # the last run is the session's result; Streamlit keeps the one before until the next run
            gone.append(weakref.ref(run.view.outcome.result.model))
        model_bytes = sum(p.numel() * p.element_size() for p in run.view.outcome.result.model.parameters())
        del run
        if i >= runs - 5:
            end.append(memory_bytes())
    return {"warm": warm, "end": end, "warm_tensors": warm_tensors, "end_tensors": live_tensor_bytes(),
            "model_bytes": model_bytes, "alive": sum(r() is not None for r in gone), "runs": runs}


@pytest.mark.slow
def test_forgetting_thirty_times_in_one_session_keeps_memory_flat(tmp_path):
    """After a warm-up, 30 more runs in one session leave memory flat.

    Exact: no earlier run's model is still alive, and the bytes of all live tensors are what they were
    (less than half of one model copy more). Resident memory: the process's own (anonymous) memory
    stays within 5% (median of five samples on each side). It runs in a fresh process with one malloc
    arena (MALLOC_ARENA_MAX=1): every Streamlit script run is a new thread, and glibc's per-thread
    arenas otherwise move the resident size in steps of 40-80 MiB that come and go (measured: a band
    of ~60 MiB over 200 runs with no trend), hiding anything smaller; with one arena it is flat to
    within 1 MiB. Each run (ResNet-8, with its depth check) takes ~3 s, so 30 runs, not more: keeping one
    run's unlearned features (2.5 MiB) alive per run would already be ~10% over the 30."""
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "UNLEARNING_MODELS": str(tmp_path / "models")}
    child = subprocess.run([sys.executable, __file__, "--forget-many"], cwd=Path(__file__).parent, env=env,
                           capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    m = json.loads(child.stdout.strip().splitlines()[-1])
    warm = {k: statistics.median(s[k] for s in m["warm"]) for k in ("anon", "total")}
    after = {k: statistics.median(s[k] for s in m["end"]) for k in ("anon", "total")}
    print("\n" + "; ".join(f"{k} RSS {warm[k] / 2**20:.1f} MiB after warm-up, {after[k] / 2**20:.1f} MiB after "
                            f"{m['runs']} more runs ({100 * (after[k] - warm[k]) / warm[k]:+.2f}%)" for k in warm)
          + f"; live tensors {m['warm_tensors'] / 2**20:.2f} -> {m['end_tensors'] / 2**20:.2f} MiB; "
            f"earlier runs' models still alive: {m['alive']}")
    assert m["runs"] == 30
    assert m["alive"] == 0, f"{m['alive']} earlier runs' models are still referenced"
    assert m["end_tensors"] - m["warm_tensors"] < m["model_bytes"] / 2, m
    assert after["anon"] <= warm["anon"] * 1.05, (
        f"anonymous RSS grew from {warm['anon'] / 2**20:.0f} MiB to {after['anon'] / 2**20:.0f} MiB")


if __name__ == "__main__" and sys.argv[1:] == ["--forget-many"]:  # the child of the memory test
    print(json.dumps(forget_many()))
