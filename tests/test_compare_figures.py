"""The Compare page's figures: the backend's rows unchanged, the retrained model as the reference."""
import math

import plotly.graph_objects as go
import pytest

from ui import compare_figures
from unlearning import comparison

ROWS = [
    comparison.MethodRow("mnemonic", 0.005, 0.0, 0.91, 0.28, 0.51),
    comparison.MethodRow("retrain", 30.0, 0.0, 0.909, 0.45, 0.51),
    comparison.MethodRow("ssd", 0.2, 0.98, 0.91, 0.17, 0.51),
]


def test_tradeoff_carries_the_rows_and_the_retrain_reference():
    fig = compare_figures.tradeoff(ROWS)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 3 * len(ROWS)  # one marker per method in each of the three panels
    ssd = [t for t in fig.data if t.legendgroup == "ssd"]
    assert [t.y[0] for t in ssd] == pytest.approx([98.0, 91.0, 17.0])
    assert [t.x[0] for t in ssd] == pytest.approx([0.2] * 3)
    lines = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert sorted(round(s.y0, 1) for s in lines) == [0.0, 45.0, 90.9]  # retrain's A_F, MIA, A_R
    assert fig.layout.xaxis.type == "log"


def test_tradeoff_without_retrain_has_no_reference_lines():
    fig = compare_figures.tradeoff([ROWS[0], ROWS[2]])
    assert not [s for s in fig.layout.shapes if s.line.dash == "dash"]


def test_speed_bars_say_how_many_times_the_one_shot_time():
    fig = compare_figures.speed([r.to_dict() for r in ROWS])
    bar = fig.data[0]
    assert list(bar.y) == ["one-shot", "SSD", "retrain"]  # fastest first
    assert "6,000× the one-shot time" in bar.text[2] and "40×" in bar.text[1]
    assert all(math.isfinite(x) and x > 0 for x in bar.x)
