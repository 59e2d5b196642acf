"""What a user types or picks on a page, checked: the lambdas and the classes to forget.

Each check answers with a sentence a user can act on (a ValueError, or the problem as text), never a traceback.
No Streamlit.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

# What the page accepts for the lambdas. The backend takes any positive number up to 1e12; these
# bounds are what makes sense for this rule: lambda1 caps the per-tensor scale s (the paper uses
# 1e-5 and 1e-3), lambda2 caps the largest single-parameter change (the paper uses 10 and 1e4).
LAMBDA_RANGES: dict[str, tuple[float, float]] = {"lambda1": (1e-9, 1.0), "lambda2": (1e-4, 1e6)}
LAMBDA_SYMBOLS = {"lambda1": "λ1", "lambda2": "λ2"}


def parse_lambda(text: str, name: str) -> float:
    """A lambda typed by a user, as a float; ValueError with a sentence a user can act on."""
    lo, hi = LAMBDA_RANGES[name]
    symbol = LAMBDA_SYMBOLS[name]
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"{symbol} must be a number such as 1e-3, got {text!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{symbol} must be a positive number, got {text!r}.")
    if not lo <= value <= hi:
        raise ValueError(f"{symbol} = {value:g} is out of range: use a value between {lo:g} and {hi:g}.")
    return value


def selection_problem(selected: Sequence[str], class_names: Sequence[str]) -> str | None:
    """Why a choice of classes cannot be forgotten, or None when it can."""
    if not selected:
        return "Choose at least one class to forget."
    unknown = [s for s in selected if s not in class_names]
    if unknown:
        return f"Unknown class {unknown[0]!r}: this model's classes are {', '.join(class_names)}."
    if len(set(selected)) >= len(class_names):
        return "You chose every class. At least one class must remain, or there is nothing left to keep."
    return None


def class_indices(selected: Sequence[str], class_names: Sequence[str]) -> list[int]:
    names = list(class_names)
    return sorted({names.index(s) for s in selected})
