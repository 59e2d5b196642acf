"""ui/plain: any text shown in the app is one line with every markdown character escaped (Hypothesis)."""
from __future__ import annotations

import re

from hypothesis import given, strategies as st

from conftest import _unescaped


@given(text=st.text(max_size=300))
def test_plain_escapes_every_markdown_character_and_keeps_one_line(text):
    from ui.plain import plain

    shown = plain(text)
    assert "\n" not in shown and not _unescaped(shown)


def test_plain_defuses_the_links_and_images_of_the_issue():
    from ui.plain import plain

    for text in ("[Session expired - click here to sign in](https://evil.example/login)",
                 "![t](https://evil.example/pixel.png)", "[Model outdated](https://evil.example/fix.exe)"):
        shown = plain(text)
        assert re.search(r"(?<!\\)\]\(", shown) is None and "https:\u200b//" in shown and not _unescaped(shown)
