"""The unlearning card (issue 21): one page that says what was asked, on which model, how, with what
verdict, how fast against retraining, at what cost, and what it does not say."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from ui import card, run_view
from unlearning.pipeline import check_depth

FORGET = [3]
HASH = "ab" * 32


@pytest.fixture(scope="module")
def view(digits, digits_mlp):
    outcome = run_view.run_forgetting(digits_mlp, digits.test, FORGET, 1e-3, 10.0, "cpu", mode="paper")
    outcome = check_depth(digits_mlp, outcome, digits, device="cpu")
    return run_view.analyse(digits_mlp, outcome, digits.test, "digits-mlp", device="cpu")


def test_the_card_says_what_when_which_how_the_verdict_the_time_the_cost_and_the_caveats(view):
    facts = card.CardFacts(datetime(2026, 12, 5, 13, 7, tzinfo=timezone.utc), HASH, retrain_seconds=185.0)
    page = card.card_document(view, facts)
    assert page.startswith("<!DOCTYPE html>") and page.count('class="ucard') == 1
    assert "Forget class 3 (of 10), on 2026-12-05 13:07 UTC" in page
    assert HASH in page and "digits-mlp · mlp on digits" in page
    assert "The paper&#x27;s one-shot rule" in page  # the method that ran, credited as such
    v = view.outcome.depth.verdict
    assert card.verdict_sentence(view) == v.message and v.message.replace("'", "&#x27;") in page
    assert "against 3 min 05 s to retrain" in page and "recorded when the shipped retrained reference" in page
    assert card.cost_sentence(view) in page.replace("&#x27;", "'")
    assert "No guarantee of deletion" in page and "@media print" in page


def test_without_a_reference_or_a_depth_check_the_card_says_so(view):
    bare = replace(view, outcome=replace(view.outcome, depth=None))
    facts = card.CardFacts(datetime(2026, 12, 5, tzinfo=timezone.utc), HASH)
    page = card.card_document(bare, facts)
    assert "no retraining time to compare with" in page and "The depth check did not run" in page
    assert card.verdict_sentence(bare) == bare.outcome.overall_verdict()["message"]


def test_the_card_escapes_the_models_name(view):
    named = replace(view, model_name="<script>x</script>")
    page = card.card_document(named, card.CardFacts(datetime.now(timezone.utc), HASH))
    assert "<script>" not in page and "&lt;script&gt;" in page
