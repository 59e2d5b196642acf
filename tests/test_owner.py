"""Issue 12 items 8 and 6b: each browser session's own models, and its training job after a refresh.

Several AppTest objects are several browser sessions of one server (one process, shared caches, the
jobs registry). A "refresh" is a new AppTest opened with the address the old one ended on: the same
``?owner=`` token, a fresh session state.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import owned
from ui.session import jobs, state
from ui.session.owner import OWNER_KEY, OWNER_PARAM
from unlearning.storage.checkpoints import read_meta
from unlearning.data import EMBEDDED
from unlearning.storage.folders import SHIPPED_DIR, SUFFIX, is_owner
from unlearning.zoo.shipped import default_name
from unlearning.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120
MODEL_PAGE = "app_pages/model.py"
MODEL = SHIPPED_DIR / f"resnet8-mnist5k{SUFFIX}"
if not MODEL.is_file():
    MODEL = min(SHIPPED_DIR.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_size)

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest: models go to a tmp folder


def session(page: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params = dict(query)
    at.run()
    if page:
        at.switch_page(page).run()
    ok(at)
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def token(at: AppTest) -> str:
    value = at.query_params.get(OWNER_PARAM)
    value = value[-1] if isinstance(value, list) else value
    assert value == at.session_state[OWNER_KEY]
    return value


def labels(at: AppTest) -> list[str]:
    """The sidebar's model picker, as shown, in order."""
    return list(at.selectbox(key=state.MODEL_KEY).options)


def upload(at: AppTest, name: str) -> Path:
    at.file_uploader(key="upload").upload(f"{name}{SUFFIX}", MODEL.read_bytes()).run()
    ok(at)
    path = Path(at.selectbox(key=state.MODEL_KEY).value)  # selected at once
    assert path.parent == owned(at) and path.is_file()
    return path


def test_two_sessions_see_only_their_own_uploads_and_a_refresh_keeps_them(local_models):
    a, b = session(MODEL_PAGE), session(MODEL_PAGE)
    assert is_owner(token(a)) and is_owner(token(b)) and token(a) != token(b)
    alpha, beta = upload(a, "alpha"), upload(b, "beta")
    assert (alpha.name, beta.name) == (f"alpha{SUFFIX}", f"beta{SUFFIX}")
    a.run()
    b.run()
    ok(a)
    ok(b)
    assert alpha.parent != beta.parent and alpha.parent.parent == beta.parent.parent == local_models / "sessions"
    assert "alpha (yours)" in labels(a) and not any(l.startswith("beta") for l in labels(a))
    assert "beta (yours)" in labels(b) and not any(l.startswith("alpha") for l in labels(b))
    # the sidebar lists the chosen dataset's models (the digits at first): shipped first, the default
    # before the others, for everyone, without a tag
    digits = sorted(p.name[: -len(SUFFIX)] for p in SHIPPED_DIR.glob(f"*{SUFFIX}") if read_meta(p)["dataset"] in EMBEDDED)
    shipped = [default_name()] + [n for n in digits if n != default_name()]
    assert labels(a)[: len(shipped)] == shipped

    # A refresh of A: a new session opened with A's address sees A's upload again, still A's.
    again = session(MODEL_PAGE, query=a.query_params)
    assert token(again) == token(a)
    assert "alpha (yours)" in labels(again) and not any(l.startswith("beta") for l in labels(again))
    again.selectbox(key=state.MODEL_KEY).set_value(str(alpha)).run()
    ok(again)
    assert again.subheader[0].value == "alpha"  # its card opens


def test_an_operators_model_is_everyones_and_not_yours(local_models):
    local_models.mkdir(parents=True, exist_ok=True)
    shutil.copy(MODEL, local_models / f"operator{SUFFIX}")  # as `train --save` or a copied file would
    a, b = session(), session()
    upload(a.switch_page(MODEL_PAGE).run(), "mine")
    a.run()
    for at in (a, b):
        assert "operator (local)" in labels(at)
        assert not any(l.startswith("operator (yours)") for l in labels(at))
    assert labels(a).index("mine (yours)") < labels(a).index("operator (local)")  # own ones before the operator's
    # A name an operator's model has is not reused for an upload: names stay one model each (links use them).
    assert upload(a, "operator").name == f"operator-1{SUFFIX}"


@pytest.mark.parametrize("bad", ["../../etc", "sessions", "ABCDEF0123456789", "0123456789abcde",
                                 "0123456789abcdef0123456789abcdef0", "0123456789abcdef/..", ""])
def test_a_bad_token_in_the_address_is_replaced_never_used_as_a_path(bad, local_models, tmp_path):
    at = session(query={OWNER_PARAM: bad})
    assert token(at) != bad and is_owner(token(at))
    if bad:
        assert any("owner key is not valid" in w.value for w in at.warning)
    at.switch_page(MODEL_PAGE).run()
    ok(at)
    stored = upload(at, "x")
    assert stored.parent == local_models / "sessions" / token(at)
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert made == ["models", "models/sessions", f"models/sessions/{token(at)}", f"models/sessions/{token(at)}/x{SUFFIX}"]


def test_a_link_to_someone_elses_model_says_so_and_copied_links_carry_no_owner(local_models):
    a = session(MODEL_PAGE)
    upload(a, "private")
    # A's own link, on A's refresh: the run is recomputed, and the link shown for others has no owner in it.
    a2 = session("app_pages/forget.py", query={**a.query_params, "model": "private", "forget": ["3"]})
    assert a2.multiselect(key="classes::private").value == ["3"]
    assert any(m.label.startswith("A_F") for m in a2.metric)
    link = next(c.value for c in a2.code if "/unlearn?" in c.value)
    assert "model=private" in link and "forget=3" in link and OWNER_PARAM not in link and token(a) not in link
    # B opens that link: a clear message, no traceback, B's sidebar on a model B has.
    b = session(query={"model": "private", "forget": ["3"]})
    assert token(b) != token(a)
    assert any("'private' is not here" in w.value and "belongs to the session" in w.value for w in b.warning)
    b.switch_page("app_pages/forget.py").run()
    ok(b)
    assert b.selectbox(key=state.MODEL_KEY).value != str(owned(a) / f"private{SUFFIX}")
    assert not any(l.startswith("private") for l in labels(b))


# --- training jobs across a refresh --------------------------------------------------------------------

def _train(at: AppTest, epochs: int, name: str) -> jobs.TrainJob:
    at.selectbox(key="train_dataset").set_value("digits")
    at.selectbox(key="train_arch").set_value("mlp")
    at.number_input(key="train_epochs").set_value(epochs)
    at.text_input(key="train_name").set_value(name)
    at.get("form_submit_button")[0].click().run()
    ok(at)
    job = at.session_state["train_job"]
    assert jobs.job_of(token(at)) is job
    return job


def test_a_training_is_shown_again_after_a_refresh_with_its_cancel_and_never_to_others():
    a = session(MODEL_PAGE)
    job = _train(a, 500, "long")
    try:
        assert job.running
        other = session(MODEL_PAGE)
        assert "train_job" not in other.session_state and not any(b.key == "train_cancel" for b in other.button)
        back = session(MODEL_PAGE, query=a.query_params)  # the refresh: same token, new session
        assert back.session_state["train_job"] is job
        assert any("Training long" in m.value for m in back.markdown)
        back.button(key="train_cancel").click().run()  # its cancel works from the new session
        assert job.wait(60) and job.state == "cancelled"
        back.run()
        ok(back)
        assert any("Cancelled long" in m.value for m in back.markdown)
    finally:
        job.cancel()
        job.wait(60)


def test_a_training_that_ended_unseen_is_announced_and_selected_on_return():
    a = session(MODEL_PAGE)
    job = _train(a, 2, "quick")
    assert job.wait(120) and job.state == "done", job.message
    back = session(MODEL_PAGE, query=a.query_params)  # A refreshed while it trained; nobody saw the end
    back.run()  # the outcome is shown, the model selected
    ok(back)
    assert job.path == owned(back) / f"quick{SUFFIX}"
    assert back.selectbox(key=state.MODEL_KEY).value == str(job.path)
    assert "quick (yours)" in labels(back)
    assert any(job.message in m.value for m in back.markdown)


def test_the_registry_keeps_one_job_per_owner_and_refuses_bad_tokens():
    owner_a, owner_b = "a" * 32, "b" * 16
    first = jobs.TrainJob("digits", "mlp", TrainConfig(epochs=1), "cpu", "x")
    second = jobs.TrainJob("digits", "mlp", TrainConfig(epochs=1), "cpu", "y")
    jobs.register(owner_a, first)
    assert jobs.job_of(owner_a) is first and jobs.job_of(owner_b) is None and jobs.job_of(None) is None
    jobs.register(owner_a, second)
    assert jobs.job_of(owner_a) is second
    with pytest.raises(ValueError):
        jobs.register("../x", first)
