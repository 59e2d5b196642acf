"""JSON that every parser accepts: NaN and infinities become ``null``, never the non-standard ``NaN``.

Python's ``json`` writes ``NaN`` by default (an empty class in a test split gives NaN accuracies);
that is not JSON, and ``jq`` or a browser refuse it. Every JSON the project prints or stores goes
through ``dumps`` here.
"""
from __future__ import annotations

import json
import math
from typing import Any


def finite(o: Any) -> Any:
    """A copy of ``o`` with non-finite floats as None and numpy scalars / tuples as plain values."""
    if hasattr(o, "item") and not isinstance(o, (list, tuple, dict, str, bytes)) and getattr(o, "ndim", 0) == 0:
        o = o.item()  # numpy / torch scalars
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    return o


def dumps(o: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``finite(o)`` with ``allow_nan=False``: strict JSON or a ValueError, never NaN."""
    return json.dumps(finite(o), allow_nan=False, **kwargs)
