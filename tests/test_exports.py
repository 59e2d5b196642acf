"""ui/exports: the downloads' names. (The CSV, JSON and checkpoint of a run: tests/test_ui_figures.py, on its run.)"""
from __future__ import annotations

from ui import exports


def test_file_stem_names_the_model_and_the_classes_in_safe_characters():
    assert exports.file_stem("digits-mlp", ["3", "8"]) == "digits-mlp-forgot-3-8"
    assert exports.file_stem("m", ["T-shirt/top", "a b"]) == "m-forgot-T-shirt-top-a-b"  # no folder, no space
    assert exports.file_stem("../x", ["y"]) == "..-x-forgot-y"  # dots stay, the slash does not
    assert len(exports.file_stem("m" * 90, ["class"] * 10)) == 100
