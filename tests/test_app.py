"""Every page of the Streamlit app through streamlit.testing (no browser): it renders, its widgets are
there, bad input gets a message, and the charts carry the backend's numbers for the same run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

from conftest import owned, state_hash
from unlearning.methods import forgetting, registry as methods
from unlearning.device import available_devices
from ui import audit_text, figures, method_text, run_view
from ui.session.state import device_label
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset
from unlearning.evaluation.metrics import evaluate
from unlearning.pipeline import check_depth, default_lambdas, forget_and_evaluate
from unlearning.storage.folders import default_model_path

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120  # seconds per script run: generous, for a loaded 2-core CI machine
MODEL_ID = default_model_path().name.removesuffix(".safetensors")  # the shipped default, preselected
CLASSES = f"classes::{MODEL_ID}"
MLP = ROOT / "assets" / "models" / "mlp-mnist5k.safetensors"  # the paper's model, for its known behaviour


pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


@pytest.fixture(scope="module")
def mnist_test():
    return load_dataset("mnist5k").test


@pytest.fixture(scope="module")
def default_ckpt():
    return load_checkpoint(default_model_path())


def backend(ckpt, test, classes, mode: str | None = None):
    """The backend's own result for what the app runs: its default method unless told otherwise."""
    mode = method_text.default_mode() if mode is None else mode
    calibration = load_dataset(ckpt.meta["dataset"]).val if methods.reads_validation(mode) else None
    return forget_and_evaluate(ckpt, test, classes, device="cpu", mode=mode, calibration=calibration)


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def paper_rule(at: AppTest) -> AppTest:
    """Choose the paper's rule on the Forget page when the backend offers several methods."""
    if any(w.key == "mode" for w in at.selectbox):
        at.selectbox(key="mode").set_value("paper").run()
    return at


def charts(at: AppTest) -> dict[str, object]:
    """The page's Plotly figures by title."""
    out = {}
    for el in at.get("plotly_chart"):
        fig = pio.from_json(el.proto.spec)
        out[fig.layout.title.text] = fig
    return out


RESULT_TABS = ("Accuracy per class", "Sensitivity", "Mnemonic codes", "Test images", "Confusion")


def charts_of_every_tab(at: AppTest) -> dict[str, object]:
    """The Forget page's result figures, tab by tab (only the open tab is drawn), back on the first tab."""
    out = {}
    for tab in (*RESULT_TABS[1:], RESULT_TABS[0]):
        at.session_state["result_tab"] = tab
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        out.update(charts(at))
    return out


def banner(at: AppTest) -> tuple[str, str]:
    """The verdict box of the Forget page: its tone ("ok" green, "warn" amber, "bad" red) and its text."""
    for tone, alerts in (("ok", at.success), ("warn", at.warning), ("bad", at.error)):
        for a in alerts:
            if "Outputs:" in a.value:
                return tone, a.value.replace("**", "")  # the title is in bold
    raise AssertionError("no verdict banner on the page")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# --- every page renders ------------------------------------------------------------------------------

def test_overview_renders_with_the_default_model_and_a_demo_button():
    at = app()
    assert at.title[0].value == "Mnemonic Unlearning Studio"
    assert at.selectbox(key="model_path").value == str(default_model_path())
    assert at.selectbox(key="device").value in ("cpu", "cuda", "mps")
    assert at.button(key="demo_button").label == "Forget 7 now"
    # "The method here" describes the method that runs (the default), in plain words, not the paper's rule
    steps = " ".join(m.value for m in at.markdown)
    assert f"default method is **{forgetting.DEFAULT_MODE}**: {method_text.plain_mode(forgetting.DEFAULT_MODE)}" in steps


def test_model_page_shows_the_card_codes_upload_and_training_form():
    at = app("app_pages/model.py")
    assert MODEL_ID in [s.value for s in at.subheader]
    meta = load_checkpoint(default_model_path()).meta
    assert metrics(at)["Architecture"] == meta["arch"]
    assert metrics(at)["Test accuracy"] == f"{meta['test_accuracy']:.1%}"
    assert "Mnemonic codes (top) and real images (bottom), one per class" in charts(at)
    assert at.file_uploader(key="upload").allowed_type == [".safetensors"]
    assert {"train_dataset", "train_arch", "train_epochs", "train_tmix", "train_seed"} <= {
        w.key for w in [*at.selectbox, *at.number_input, *at.slider]}


def test_forget_page_offers_classes_lambdas_and_a_disabled_button_until_a_class_is_chosen():
    at = app("app_pages/forget.py")
    assert at.multiselect(key=CLASSES).options == [str(i) for i in range(10)]
    if len(method_text.available_modes()) > 1:
        assert at.selectbox(key="mode").value == method_text.default_mode()
        assert [o.removesuffix(" (default)") for o in at.selectbox(key="mode").options] == list(
            method_text.available_modes())
    paper_rule(at)
    d1, d2 = default_lambdas(load_checkpoint(default_model_path()).meta["arch"])
    assert at.text_input(key=f"lambda1::{MODEL_ID}").value == f"{d1:g}"
    assert at.text_input(key=f"lambda2::{MODEL_ID}").value == f"{d2:g}"
    assert at.button(key="forget_button").disabled
    assert "Choose the classes" in at.info[0].value


def test_before_the_click_the_forget_page_shows_the_model_as_it_is(default_ckpt, mnist_test):
    """The model's own per-class test accuracy, the classes chosen to forget shaded, before any click."""
    at = app("app_pages/forget.py")
    want = [100 * a for a in evaluate(default_ckpt.model, mnist_test, default_ckpt.num_classes, device="cpu")
            .per_class_accuracy]
    fig = charts(at)["The model as it is: test accuracy per class"]
    assert list(fig.data[0].y) == pytest.approx(want)
    at.multiselect(key=CLASSES).set_value(["3"]).run()
    fig = charts(at)["The model as it is: test accuracy per class (to forget: shaded)"]
    assert list(fig.data[0].y) == pytest.approx(want)
    colours = list(fig.data[0].marker.color)
    assert colours[3] == figures.FORGOTTEN and colours.count(figures.FORGOTTEN) == 1


def test_guide_page_explains_every_view():
    at = app("app_pages/guide.py")
    heads = [h.value for h in at.header]
    for h in ("Accuracy per class", "Parameter sensitivity", "Mnemonic codes", "Real test images", "Confusion matrices"):
        assert h in heads


def test_there_is_no_pages_folder():
    """A folder named pages/ next to app.py makes Streamlit run its first request in the old pages/ mode,
    where a page's own address is "Page not found" on a fresh server: the pages live in app_pages/."""
    assert not (ROOT / "pages").exists()


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "app_pages").glob("*.py")))
def test_every_page_runs_inside_the_app_with_its_sidebar(page):
    """A page never runs alone: app.py draws the sidebar around each one."""
    at = app(f"app_pages/{page}")
    assert at.sidebar.selectbox(key="model_path").value == str(default_model_path())
    device = at.sidebar.selectbox(key="device")
    assert device.value == available_devices()[0] and device.options == [device_label(d) for d in available_devices()]


# --- the numbers are the backend's ---------------------------------------------------------------------

def test_demo_shows_the_backends_headline(default_ckpt, mnist_test):
    at = app()
    at.button(key="demo_button").click().run()
    assert not at.exception
    want = backend(default_ckpt, mnist_test, [7])
    m = metrics(at)
    assert m["A_F · forgotten classes"] == pct(want.after.forget_accuracy([7]))
    assert m["A_R · remaining classes"] == pct(want.after.retain_accuracy([7]))
    assert m["E_F · accuracy removed"] == f"{want.efficacy:.1f}%"
    bars = charts(at)["Test accuracy per class, before and after"]
    assert figures.after_values(bars) == pytest.approx([100 * a for a in want.after.per_class_accuracy])
    want = check_depth(default_ckpt, want, load_dataset(default_ckpt.meta["dataset"]))
    tone, text = banner(at)
    assert want.verdict.message in text and want.depth.verdict.message in text
    assert tone == audit_text.verdict_tone(want)  # green only when the depth check says forgotten


def test_forget_page_charts_equal_the_backend_result(default_ckpt, mnist_test):
    at = app("app_pages/forget.py")
    at.multiselect(key=CLASSES).set_value(["2", "5"]).run()
    at.button(key="forget_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    want = backend(default_ckpt, mnist_test, [2, 5])
    r = want.result

    m = metrics(at)
    assert m["A_F · forgotten classes"] == pct(want.after.forget_accuracy([2, 5]))
    assert m["A_R · remaining classes"] == pct(want.after.retain_accuracy([2, 5]))
    assert m["E_F · accuracy removed"] == f"{want.efficacy:.1f}%"

    drawn = charts(at)  # only the open tab's figures: the click's browser work is one chart
    assert list(drawn) == ["Test accuracy per class, before and after"]
    figs = charts_of_every_tab(at)
    bars = figs["Test accuracy per class, before and after"]
    assert list(next(t for t in bars.data if t.name == "before").y) == pytest.approx(
        [100 * a for a in want.before.per_class_accuracy])
    assert figures.after_values(bars) == pytest.approx([100 * a for a in want.after.per_class_accuracy])

    if r.tensors:  # the Fisher-based methods report every tensor they weighed
        edges, counts, moved = r.ratio_histogram()
        hist = figs["Parameter sensitivity: log10(F_forget / F_remain)"]
        assert list(hist.data[0].y) == counts and list(hist.data[1].y) == moved
        assert list(hist.data[0].x) == pytest.approx([(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)])
        busiest = max((t for t in r.tensors if sum(t.ratio_counts)), key=lambda t: (t.moved, t.numel))
        if r.total_params > sum(counts):  # the counts agree with the per-layer chart and the report
            assert f"in all {r.moved_params:,} of the model's {r.total_params:,}" in hist.layout.title.subtitle.text
        layer = figs[f"Sensitivity in {figures.layer_label(busiest.name)}"]  # preselected; one name everywhere
        assert list(layer.data[0].y) == list(busiest.ratio_counts)
        assert list(layer.data[1].y) == list(busiest.moved_counts)

    conf = figs["Confusion matrices"]
    panels = {t.name: np.asarray(t.customdata) for t in conf.data}  # counts, on hover
    assert np.array_equal(panels["before"], want.before.confusion)
    assert np.array_equal(panels["after"], want.after.confusion)

    codes = figs["Mnemonic codes: prediction was → now"]
    assert len(codes.data) == 10
    samples = figs["Real test images: prediction was → now"]
    assert len(samples.data) > 0

    assert [b.label for b in at.get("download_button")] == [
        "Report (HTML)", "Unlearning card (HTML)", "Metrics (CSV)", "Metrics (JSON)", "Unlearned model (.safetensors)"]
    want = check_depth(default_ckpt, want, load_dataset(default_ckpt.meta["dataset"]))
    tone, text = banner(at)
    assert want.verdict.message in text and want.depth.verdict.message in text
    assert tone == audit_text.verdict_tone(want)
    if want.depth.probe_retrained is None:  # no retrained reference for {2, 5}: the page says where to get one
        assert not any(t.name == "retrained" for t in bars.data)
        assert any("Is it gone?" in c.value for c in at.caption)


@pytest.mark.skipif(not MLP.is_file(), reason="the paper's MLP is not shipped")
def test_a_run_that_does_not_forget_says_so(mnist_test):
    """Digit 3 resists the published rule on the paper's MLP: the page must say it plainly."""
    at = app("app_pages/forget.py")
    at.selectbox(key="model_path").set_value(str(MLP)).run()
    paper_rule(at)
    at.multiselect(key="classes::mlp-mnist5k").set_value(["3"]).run()
    at.button(key="forget_button").click().run()
    want = backend(load_checkpoint(MLP), mnist_test, [3], mode="paper")
    assert not want.verdict.forgot  # the premise of this test
    tone, text = banner(at)
    assert want.verdict.message in text and tone == "bad"  # red: the outputs still recognise it
    assert "Not forgotten" in want.verdict.message


# --- state: shared caches stay untouched, sessions stay apart --------------------------------------------

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


# --- bad input: a message, never a traceback --------------------------------------------------------------

@pytest.mark.parametrize("classes, message", [
    ([str(i) for i in range(10)], "You chose every class"),
])
def test_every_class_chosen(classes, message):
    at = app("app_pages/forget.py")
    at.multiselect(key=CLASSES).set_value(classes).run()
    assert not at.exception
    assert any(message in w.value for w in at.warning)
    assert at.button(key="forget_button").disabled


@pytest.mark.parametrize("key, text, message", [
    (f"lambda1::{MODEL_ID}", "abc", "λ1 must be a number"),
    (f"lambda1::{MODEL_ID}", "-1", "λ1 must be a positive number"),
    (f"lambda1::{MODEL_ID}", "3", "out of range"),
    (f"lambda2::{MODEL_ID}", "1e9", "out of range"),
])
def test_lambdas_out_of_range(key, text, message):
    at = paper_rule(app("app_pages/forget.py"))
    at.multiselect(key=CLASSES).set_value(["4"]).run()
    at.text_input(key=key).set_value(text).run()
    assert not at.exception
    assert any(message in e.value for e in at.error)
    assert at.button(key="forget_button").disabled


@pytest.mark.parametrize("name, data", [
    ("broken.safetensors", b"this is not a checkpoint"),
    ("empty.safetensors", b""),
    ("pickle.safetensors", b"\x80\x04\x95" + b"\x00" * 64),
])
def test_a_bad_upload_gets_a_message(name, data, local_models):
    at = app("app_pages/model.py")
    at.file_uploader(key="upload").upload(name, data).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used" in e.value for e in at.error)
    assert at.selectbox(key="model_path").value == str(default_model_path())
    assert not list(local_models.rglob("*.safetensors")) if local_models.exists() else True


def test_a_good_upload_is_selected_at_once(local_models):
    at = app("app_pages/model.py")
    at.file_uploader(key="upload").upload("my model.safetensors", default_model_path().read_bytes()).run()
    assert not at.exception, [e.value for e in at.exception]
    stored = owned(at) / "my-model.safetensors"
    assert stored.is_file()
    assert at.selectbox(key="model_path").value == str(stored)


def test_a_failure_inside_forgetting_is_a_message_not_a_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore lines")

    monkeypatch.setattr(run_view, "run_forgetting", broken)
    at = app("app_pages/forget.py")
    at.multiselect(key=CLASSES).set_value(["4"]).run()
    at.button(key="forget_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["RuntimeError: CUDA error: an illegal memory access was encountered"]
    assert "run" not in at.session_state


def test_a_model_whose_data_is_not_here_gets_a_message(local_models):
    """A valid checkpoint for CIFAR-10 (not on this machine): a clear message, never a traceback."""
    from unlearning.storage.checkpoints import save_checkpoint
    from unlearning.codes import make_codes
    from unlearning.models import build_model

    shape = [3, 8, 8]
    model = build_model("mlp", shape, 10)
    path = save_checkpoint(local_models / "cifar-mlp.safetensors", model, make_codes(10, shape, 0), {
        "arch": "mlp", "dataset": "cifar10", "class_names": [f"c{i}" for i in range(10)], "input_shape": shape,
        "mean": [0.5] * 3, "std": [0.25] * 3})
    at = app("app_pages/model.py")
    at.sidebar.selectbox(key="_dataset").set_value("cifar10").run()  # its own group in the sidebar
    assert at.selectbox(key="model_path").value == str(path)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Real samples cannot be shown" in i.value for i in at.info)
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be used for forgetting here" in e.value and "cifar10" in e.value for e in at.error)


def test_keep_the_unlearned_model_and_forget_more(local_models):
    at = paper_rule(app("app_pages/forget.py"))
    at.multiselect(key=CLASSES).set_value(["0"]).run()
    at.button(key="forget_button").click().run()
    at.button(key="keep_model").click().run()
    assert not at.exception, [e.value for e in at.exception]
    kept = owned(at) / f"{MODEL_ID}-forgot-0.safetensors"
    assert at.selectbox(key="model_path").value == str(kept)
    meta = load_checkpoint(kept).meta
    assert meta["forgotten"]["forget_classes"] == [0]
    at.run()
    assert "already forgot" in at.sidebar.caption[0].value


# --- training from the page ------------------------------------------------------------------------------

def _wait(at: AppTest, timeout: float = 120):
    job = at.session_state["train_job"]
    assert job.wait(timeout), "training did not finish"
    return job


def test_train_a_model_from_the_page_and_select_it(local_models):
    at = app("app_pages/model.py")
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(2)
    at.text_input(key="train_name").set_value("tiny digits")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = _wait(at)
    assert job.state == "done", job.message
    at.run()  # the page notices, selects the model and shows the curves
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model_path").value == str(owned(at) / "tiny-digits.safetensors")
    assert metrics(at)["Dataset"] == "digits"
    share = load_checkpoint(job.path).meta["code_accuracy"]
    assert f"{share:.0%} of its codes recognised" in job.message
    assert bool(job.warning) == (share < 0.9) == any("own mnemonic codes" in w.value for w in at.warning)
    at.switch_page("app_pages/forget.py").run()  # and it can be forgotten from at once
    at.multiselect(key="classes::tiny-digits").set_value(["0"]).run()
    at.button(key="forget_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "A_F · forgotten classes" in metrics(at)


def test_training_can_be_cancelled(local_models):
    at = app("app_pages/model.py")
    at.selectbox(key="train_dataset").set_value("digits")
    at.number_input(key="train_epochs").set_value(500)
    at.get("form_submit_button")[0].click().run()
    assert at.session_state["train_job"].running
    at.button(key="train_cancel").click().run()  # the button's callback stops the thread between batches
    job = _wait(at)
    assert job.state == "cancelled"
    at.run()
    assert not at.exception
    assert not list(local_models.rglob("*.safetensors")) if local_models.exists() else True
    assert at.selectbox(key="model_path").value == str(default_model_path())


# --- runs in the address ----------------------------------------------------------------------------------

def test_a_runs_address_recomputes_it_without_a_click(default_ckpt, mnist_test):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = {"model": MODEL_ID, "forget": ["3", "8"], "method": method_text.default_mode()}
    at.run()
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key=CLASSES).value == ["3", "8"]
    want = backend(default_ckpt, mnist_test, [3, 8])
    m = metrics(at)
    assert m["A_F · forgotten classes"] == pct(want.after.forget_accuracy([3, 8]))
    assert m["A_R · remaining classes"] == pct(want.after.retain_accuracy([3, 8]))
    qp = {k: (v if isinstance(v, list) else [v]) for k, v in at.query_params.items()}
    assert qp["forget"] == ["3", "8"] and qp["model"] == [MODEL_ID]


def test_a_click_puts_the_run_in_the_address_and_the_paper_rule_its_lambdas():
    at = paper_rule(app("app_pages/forget.py"))
    at.multiselect(key=CLASSES).set_value(["5"]).run()
    at.button(key="forget_button").click().run()
    assert not at.exception
    qp = {k: (v if isinstance(v, list) else [v]) for k, v in at.query_params.items()}
    d1, d2 = default_lambdas(load_checkpoint(default_model_path()).meta["arch"])
    assert qp["model"] == [MODEL_ID] and qp["forget"] == ["5"] and qp["method"] == ["paper"]
    assert float(qp["l1"][0]) == d1 and float(qp["l2"][0]) == d2
    link = next(c.value for c in at.code)
    assert "/unlearn?" in link and "forget=5" in link and "method=paper" in link


def test_an_address_with_a_bad_run_says_so():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = {"model": MODEL_ID, "forget": ["3"], "method": "no-such-method"}
    at.run()
    assert not at.exception
    assert any("cannot be reopened" in w.value for w in at.warning)


def test_after_the_demo_the_forget_page_has_its_class_chosen_and_the_button_enabled():
    at = app()
    at.button(key="demo_button").click().run()
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception
    assert at.multiselect(key=CLASSES).value == ["7"]
    assert not at.button(key="forget_button").disabled


def test_presenter_mode_lives_in_the_address_keeps_a_page_switcher_and_can_be_left():
    at = app("app_pages/guide.py")
    assert not any(b.key == "leave_presenter" for b in at.button)
    at.toggle(key="presenter_mode").set_value(True).run()
    assert at.query_params.get("present") in ("1", ["1"])
    links = [p.proto.label for p in at.get("page_link")]
    assert {"Overview", "Forget", "Is it gone?", "Compare"} <= set(links), links  # the sidebar is hidden
    at.switch_page("app_pages/compare.py").run()  # a page move keeps presenter mode
    assert not at.exception and any(b.key == "leave_presenter" for b in at.button)
    at.button(key="leave_presenter").click().run()
    assert not at.exception
    assert "present" not in at.query_params and not any(b.key == "leave_presenter" for b in at.button)


def _theme_scripts(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "stActiveTheme" in h.proto.body]


def test_a_chosen_theme_reloads_once_and_page_moves_keep_it_without_reloading():
    """Moving between pages clears the query; the theme used to be missing from it then, and the page
    reloaded to put it back, which started a new session and lost the last run."""
    at = app("app_pages/guide.py")
    at.segmented_control(key="theme_choice").set_value("Dark").run()
    assert not at.exception
    assert any("stActiveTheme" in h.proto.body for h in at.get("html"))  # the script that applies it
    assert len(_theme_scripts(at)) == 1  # the script that applies it (one reload)
    assert at.query_params.get("theme") in ("dark", ["dark"])
    for page in ("app_pages/forget.py", "app_pages/audit.py", "app_pages/guide.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert _theme_scripts(at) == [], page  # no reload
        assert at.query_params.get("theme") in ("dark", ["dark"]), page


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_sidebar_groups_models_by_dataset_and_a_full_size_model_forgets_on_its_clothes():
    at = app()
    data = at.sidebar.selectbox(key="_dataset")
    assert data.value == "mnist5k" and "Clothes (70,000)" in data.options
    data.set_value("fashion-mnist").run()
    model = at.sidebar.selectbox(key="model_path")
    assert model.value.endswith("resnet8-fashion.safetensors")  # the full-size default comes first
    assert all("fashion" in o for o in model.options)
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["_dataset"] == "fashion-mnist"  # the group follows the model across pages
    names = at.multiselect(key="classes::resnet8-fashion").options
    assert names[0] == "T-shirt/top" and "Ankle boot" in names  # the dataset's own class names


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_overview_demo_offers_clothes_as_well_as_digits():
    at = app()
    data = at.button_group(key="demo_data")
    assert list(data.options) == ["Digits", "Clothes (60,000 images)"]
    data.set_value("Clothes (60,000 images)").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Ankle boot" in at.button_group(key="demo_class").options


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


def test_a_banner_says_its_title_once():
    """Issue 21: the audit banner read "Hidden, not gone. Hidden, not gone: ..."."""
    text = audit_text.titled("hidden", "Hidden, not gone: the outputs no longer predict the class.")
    assert text == "**Hidden, not gone**: the outputs no longer predict the class."
    assert audit_text.titled("unknown depth", "The outputs forgot.") == "**Depth unknown.** The outputs forgot."
