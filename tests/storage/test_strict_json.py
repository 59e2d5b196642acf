"""unlearning/strict_json: what the project writes is strict JSON (null, never NaN)."""
from __future__ import annotations

import numpy as np

from conftest import _strict
from unlearning.storage import strict_json


def test_strict_json_writes_null_never_nan():
    text = strict_json.dumps({"a": float("nan"), "b": [float("inf"), 1.5], "c": np.float64("nan"), "d": np.int64(3)})
    assert _strict(text) == {"a": None, "b": [None, 1.5], "c": None, "d": 3}
