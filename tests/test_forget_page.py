"""The Forget page (app_pages/forget.py) through streamlit.testing: its controls, its charts carrying the
backend's numbers for the same run, its verdict, and bad input or a failing device as a message, never a
traceback. Sessions and the shared cache are in test_state.py, the run's address in test_links.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import (CLASSES, CLASSES_KEY, MLP, MODEL_ID, STEM, app, backend, banner, charts, forget, metrics,
                      no_exception, owned, paper_rule, pct, result_headers, session)
from ui import audit_text, figures, inputs, method_text, run_view
from ui.session import state
from unlearning.methods import registry as methods
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset
from unlearning.evaluation.metrics import evaluate
from unlearning.pipeline import check_depth, default_lambdas
from unlearning.storage.folders import default_model_path

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


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


def test_after_the_demo_the_forget_page_has_its_class_chosen_and_the_button_enabled():
    at = app()
    at.button(key="demo_button").click().run()
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception
    assert at.multiselect(key=CLASSES).value == ["7"]
    assert not at.button(key="forget_button").disabled


def test_no_class_chosen_is_a_prompt_and_a_forged_click_runs_nothing():
    at = session()
    assert at.multiselect(key=CLASSES_KEY).value == []
    assert any("Choose the classes" in i.value for i in at.info)
    button = at.button(key="forget_button")
    assert button.disabled
    # A client that lies about the disabled button (AppTest refuses to click it, as a browser would):
    # Streamlit discards the forged click on the server, and nothing runs.
    button.proto.disabled = False
    button.click().run()
    no_exception(at)
    assert state.RUN_KEY not in at.session_state
    assert not at.error and not result_headers(at)


def test_every_class_chosen_is_refused_with_a_message(ckpt):
    at = session()
    at.multiselect(key=CLASSES_KEY).set_value(list(ckpt.class_names)).run()
    no_exception(at)
    assert any("every class" in w.value for w in at.warning)
    assert at.button(key="forget_button").disabled
    # and the backend refuses it too, for callers that are not the page
    assert inputs.selection_problem(list(ckpt.class_names), ckpt.class_names)
    assert inputs.selection_problem(["no such class"], ckpt.class_names)


BAD_LAMBDAS = ["nan", "NaN", "inf", "-inf", "1e400", "0", "0.0", "-0", "-1e-3", "1e308", "1e30", "",
               "   ", "ten", "1e-3; rm -rf /", "0x10", "1e-3 1e-3"]


@pytest.mark.parametrize("which", ["lambda1", "lambda2"])
def test_bad_lambdas_get_a_message_and_no_run(which):
    at = session()
    if any(w.key == "mode" for w in at.selectbox):
        at.selectbox(key="mode").set_value("paper").run()  # the rule that takes the lambdas
    at.multiselect(key=CLASSES_KEY).set_value([at.multiselect(key=CLASSES_KEY).options[0]]).run()
    key = f"{which}::{STEM}"
    good = at.text_input(key=key).value
    symbol = inputs.LAMBDA_SYMBOLS[which]
    for text in BAD_LAMBDAS:
        at.text_input(key=key).set_value(text).run()
        no_exception(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and symbol in errors[0], (text, errors)
        assert at.button(key="forget_button").disabled, text
    at.text_input(key=key).set_value(good).run()  # put right, the page recovers
    assert not at.error and not at.button(key="forget_button").disabled
    assert state.RUN_KEY not in at.session_state


def _failing_accelerator(monkeypatch):
    """Forgetting sees a CUDA device whose every call fails, as a dead or full GPU would (cf. test_forgetting)."""
    from unlearning.methods import classifier_edit, deep_erasure, erasure, paper_rule

    def breaks_on_cuda(real):
        def run(dev, *args, **kwargs):
            if dev.type == "cuda":
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            return real(dev, *args, **kwargs)
        return run

    monkeypatch.setattr(methods, "pick_device", lambda device=None: torch.device("cuda"))
    for module in (paper_rule, classifier_edit, erasure, deep_erasure):  # every one-shot mode's step on a device
        monkeypatch.setattr(module, "forget_on", breaks_on_cuda(module.forget_on))


def unexpected_errors(at: AppTest) -> list[str]:
    """Red elements other than the verdict's own (the paper's rule does not forget on the ResNet-8)."""
    return [e.value for e in at.error if not e.value.startswith(("**Not forgotten:", "**Not forgotten**"))]


@pytest.mark.parametrize("mode", sorted(method_text.available_modes()))
def test_a_failing_accelerator_is_a_visible_notice_not_an_error(mode, ckpt, monkeypatch):
    _failing_accelerator(monkeypatch)
    at = session()
    if any(w.key == "mode" for w in at.selectbox):
        at.selectbox(key="mode").set_value(mode).run()
    forget(at, [ckpt.class_names[4]])
    assert not unexpected_errors(at), unexpected_errors(at)
    run = at.session_state[state.RUN_KEY]
    assert run.view.outcome.result.device == "cpu"
    assert result_headers(at) == [f"Forgetting {ckpt.class_names[4]}: before and after"]
    page_text = [el.value for el in at.info]
    assert any("forgot on the CPU instead" in t for t in page_text), page_text


def test_out_of_memory_while_weighing_parameters_retries_in_smaller_chunks_with_a_notice(ckpt, monkeypatch):
    import unlearning.methods.fisher as fisher

    real = fisher.accumulate_sq_grad_sums
    sizes = []

    def tight_memory(model, params, buffers, x, y, weights, out, *args, **kwargs):
        sizes.append(len(x))
        if len(x) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, params, buffers, x, y, weights, out, *args, **kwargs)

    monkeypatch.setattr(fisher, "accumulate_sq_grad_sums", tight_memory)
    at = session()
    if any(w.key == "mode" for w in at.selectbox):
        at.selectbox(key="mode").set_value("paper").run()  # the rule that weighs every parameter
    forget(at, [ckpt.class_names[2]])
    assert not unexpected_errors(at), unexpected_errors(at)
    assert sizes and max(sizes) > 2 and sizes[-1] <= 2  # it did run out, then went on in smaller chunks
    assert any("retrying with" in c.value for c in at.info)
