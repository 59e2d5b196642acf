"""ui/links: a run's address and its JSON download describe the same run, and bad ones are refused."""
from __future__ import annotations

import json

import pytest

from ui import exports, run_view
from ui.session import links
from unlearning.methods import forgetting


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
