"""The guide page (app_pages/guide.py, "How to read the plots") through streamlit.testing."""
from __future__ import annotations

import pytest

from conftest import app

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


def test_guide_page_explains_every_view():
    at = app("app_pages/guide.py")
    heads = [h.value for h in at.header]
    for h in ("Accuracy per class", "Parameter sensitivity", "Mnemonic codes", "Real test images", "Confusion matrices"):
        assert h in heads
