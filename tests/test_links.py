"""ui/links: a run's address and its JSON download describe the same run, and bad ones are refused."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, strategies as st
from streamlit.testing.v1 import AppTest

from conftest import (APP, CLASSES, MODEL_ID, QUICK, TIMEOUT, _app, _shown_text, _unescaped, app, backend, metrics,
                      paper_rule, pct)
from ui import exports, method_text, run_view
from ui.session import links
from unlearning.methods import forgetting
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.pipeline import default_lambdas
from unlearning.storage.folders import default_model_path


def test_an_address_round_trips_a_run():
    req = links.RunRequest("resnet8-mnist5k", ("3", "7"), "paper", 1e-3, 10.0)
    params = links.encode(req)
    assert params == {"model": "resnet8-mnist5k", "forget": ["3", "7"], "method": "paper", "l1": "0.001", "l2": "10"}
    assert links.decode({k: v if isinstance(v, list) else [v] for k, v in params.items()}) == req
    url = links.address("http://host:8501/unlearn?old=1", req, {"theme": "dark"})
    assert url == "http://host:8501/unlearn?model=resnet8-mnist5k&forget=3&forget=7&method=paper&l1=0.001&l2=10&theme=dark"


def test_the_lambdas_belong_to_the_paper_rule_only_and_the_default_method_fills_in():
    other = next(m for m in forgetting.MODES if m != "paper")
    req = links.decode({"model": ["m"], "forget": ["1"], "method": [other], "l1": ["0.5"], "l2": ["3"]})
    assert (req.lambda1, req.lambda2) == (None, None) and "l1" not in links.encode(req)
    assert links.decode({"model": ["m"], "forget": ["1", "2"]}) == \
        links.RunRequest("m", ("1", "2"), forgetting.DEFAULT_MODE)
    with pytest.raises(ValueError, match="names the class '1' 2 times"):  # refused, not deduplicated in silence
        links.decode({"model": ["m"], "forget": ["1", "1", "2"]})


@pytest.mark.parametrize("params", [{"model": ["m"], "forget": ["1"], "method": ["nope"]},
                                    {"model": ["m"], "forget": ["1"], "method": ["paper"], "l1": ["abc"]},
                                    {"model": ["m"], "forget": ["1"], "method": ["paper"], "l2": ["-1"]}])
def test_a_malformed_address_is_a_sentence_not_a_crash(params):
    with pytest.raises(ValueError, match="address|method"):
        links.decode(params)


def test_an_address_without_a_run_asks_for_none():
    assert links.decode({}) is None and links.decode({"model": ["m"]}) is None and links.decode({"forget": ["1"]}) is None


def test_a_runs_json_download_reopens_the_same_run(digits, digits_mlp):
    outcome = run_view.run_forgetting(digits_mlp, digits.test, [1, 4], 1e-3, 10.0, "cpu", mode="paper")
    view = run_view.analyse(digits_mlp, outcome, digits.test, "digits-mlp", device="cpu")
    req = links.from_json(exports.metrics_json(view))
    assert req == links.request_for("digits-mlp", view.forget_names, "paper", 1e-3, 10.0)
    assert req.forget == ("1", "4")


@pytest.mark.parametrize("text", ["not json", "[]", json.dumps({"model": {"name": "m"}}),
                                  json.dumps({"model": {"name": "m"}, "forget_class_names": ["1"], "mode": "zzz"})])
def test_a_file_that_is_not_a_run_is_refused(text):
    with pytest.raises(ValueError):
        links.from_json(text)


@pytest.mark.slow
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


@QUICK
@given(params=st.dictionaries(
    st.sampled_from(["model", "forget", "method", "l1", "l2", "owner", "x"]),
    st.lists(st.text(alphabet="[]()!:/.3 abchtps*_`$<>#\n\\", max_size=40), max_size=5)
    | st.integers(0, 1500).map(lambda n: ["3"] * n),
    max_size=5))
def test_random_address_parameters_give_a_run_none_or_a_sentence(params):
    from ui.session import links
    from ui.plain import plain

    try:
        request = links.decode(params)
    except ValueError as e:
        assert not _unescaped(plain(e))
    else:
        assert request is None or isinstance(request, links.RunRequest)


@pytest.mark.parametrize("query", [
    {"model": "[Session expired - click here to sign in](https://evil.example/login)", "forget": ["3"]},
    {"model": "![t](https://evil.example/pixel.png)", "forget": ["3"]},
    {"model": "mlp-mnist5k", "forget": ["3"], "method": "[fix](https://evil.example)"},
    {"model": "mlp-mnist5k", "forget": ["3"], "method": "paper", "l1": "[fix](https://evil.example)"},
    # 999 and not 1,000: Streamlit itself drops an address of over 1,000 parameters before any app code runs
    {"model": "mlp-mnist5k", "forget": ["3"] * 999},
])
def test_markdown_in_the_address_is_shown_as_text_and_every_case_is_answered(query, local_models):
    at = _app(query)
    warnings = [w.value for w in at.warning]
    assert warnings, "the address was dropped without a word"
    for text in _shown_text(at):
        assert re.search(r"(?<!\\)\]\(|(?<!\\)!\\?\[", text) is None, text  # no live link, no image
