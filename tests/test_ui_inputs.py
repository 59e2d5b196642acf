"""ui/inputs (unlearning/inputs is tests/test_inputs.py): the lambdas and the classes a user gives, checked."""
from __future__ import annotations

import pytest

from ui import inputs


@pytest.mark.parametrize("text, ok", [("1e-3", True), (" 0.5 ", True), ("abc", False), ("0", False), ("-1", False),
                                      ("nan", False), ("inf", False), ("5", False), ("1e-12", False)])
def test_lambda1_parsing(text, ok):
    if ok:
        assert inputs.parse_lambda(text, "lambda1") == float(text)
    else:
        with pytest.raises(ValueError, match="λ1"):
            inputs.parse_lambda(text, "lambda1")


def test_class_selection_problems():
    names = ["a", "b", "c"]
    assert "at least one" in inputs.selection_problem([], names)
    assert "every class" in inputs.selection_problem(names, names)
    assert "Unknown" in inputs.selection_problem(["z"], names)
    assert inputs.selection_problem(["b"], names) is None
    assert inputs.class_indices(["c", "a"], names) == [0, 2]
