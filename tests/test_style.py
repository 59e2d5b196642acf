"""ui/style in the app: Presenter mode and the chosen theme live in the address and survive page moves."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import app

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


def test_presenter_mode_lives_in_the_address_keeps_a_page_switcher_and_can_be_left():
    at = app("app_pages/guide.py")
    assert not any(b.key == "leave_presenter" for b in at.button)
    at.toggle(key="presenter_mode").set_value(True).run()
    assert at.query_params.get("present") in ("1", ["1"])
    links = [p.proto.label for p in at.get("page_link")]
    assert {"Overview", "Forget", "Is it gone?", "Compare"} <= set(links), links  # the sidebar is hidden
    at.switch_page("app_pages/compare.py").run()  # a page move keeps presenter mode
    assert not at.exception and any(b.key == "leave_presenter" for b in at.button)
    at.button(key="leave_presenter").click().run()
    assert not at.exception
    assert "present" not in at.query_params and not any(b.key == "leave_presenter" for b in at.button)


def _theme_scripts(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "stActiveTheme" in h.proto.body]


def test_a_chosen_theme_reloads_once_and_page_moves_keep_it_without_reloading():
    """Moving between pages clears the query; the theme used to be missing from it then, and the page
    reloaded to put it back, which started a new session and lost the last run."""
    at = app("app_pages/guide.py")
    at.segmented_control(key="theme_choice").set_value("Dark").run()
    assert not at.exception
    assert any("stActiveTheme" in h.proto.body for h in at.get("html"))  # the script that applies it
    assert len(_theme_scripts(at)) == 1  # the script that applies it (one reload)
    assert at.query_params.get("theme") in ("dark", ["dark"])
    for page in ("app_pages/forget.py", "app_pages/audit.py", "app_pages/guide.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert _theme_scripts(at) == [], page  # no reload
        assert at.query_params.get("theme") in ("dark", ["dark"]), page
