"""ui/formatting: durations and headings as a reader sees them."""
from __future__ import annotations

from ui import formatting


def test_card_headings_are_demoted():
    assert formatting.demote_headings("# Card\ntext # not a heading\n### Sub", levels=2) == \
        "### Card\ntext # not a heading\n##### Sub"


def test_seconds_read_with_sensible_precision():
    assert [formatting.seconds_text(x) for x in (0.0004, 0.0066, 0.065, 0.31, 2.44, 54.9, 185.0)] == \
        ["< 1 ms", "7 ms", "65 ms", "0.31 s", "2.4 s", "55 s", "3 min 05 s"]


def test_shares_read_in_percent_with_one_decimal():
    assert [formatting.pct_text(x) for x in (0.0, 0.1234, 0.99951, 1.0)] == ["0.0%", "12.3%", "100.0%", "100.0%"]
