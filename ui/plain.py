"""Text from outside the app, shown as text: never as markdown, a link, an image or an icon.

Streamlit renders markdown in almost every element (messages, captions, headers, status labels, table
cells). A model name, a class name, a file name, a metadata field or an address parameter is chosen by
whoever made the file or the link, so ``[Sign in](https://evil.example)`` would be a live link inside
the app's own message box and ``![t](https://evil.example/pixel)`` an image fetched on sight. HTML is
escaped by Streamlit already; markdown is not. Every such text goes through ``plain`` before it is
placed in a string Streamlit renders.
"""
from __future__ import annotations

import re

# Two kinds of markdown reach a text. What the parser reads (links, images, emphasis, code, HTML, tables,
# LaTeX) is defused by a backslash before each of these characters; '(', '.', '/' need none once '['
# has one, and stay readable in messages.
SPECIAL = "\\`*_{}[]<>#!|~$&"
# What is found after parsing, in the text itself, where a backslash is already gone: GitHub's autolinks
# (https://..., www...., user@host) and Streamlit's :material/icon:, :smile:, :red[...]. These are
# broken by a zero-width space (seen in Chromium: with a backslash alone, https://evil.example stayed a link).
BREAK = "\u200b"
DIRECTIVE_COLON = re.compile(r":(?=//|[A-Za-z0-9_+-]+[:\[/])")  # "Error: message" keeps its colon as it is
_PARSED = re.compile("[" + re.escape(SPECIAL) + "]")
_FOUND = re.compile(DIRECTIVE_COLON.pattern + r"|@|(?i:\bwww)(?=\.)")
_LEADING = re.compile(r"^([-+=]|\d+(?=[.)]))")  # a list item or heading underline at the start of a line
MAX_SHOWN = 300  # characters of one outside text shown; the rest is cut, marked with an ellipsis


def plain(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` on one line, at most ``limit`` characters, every markdown character escaped and every
    autolink or Streamlit directive broken (it reads the same)."""
    s = " ".join(str(text).split())  # no newline may start a heading, a list or a table row
    if len(s) > limit:
        s = s[:limit] + "…"
    s = _FOUND.sub(lambda m: m.group(0) + BREAK, s)
    s = _PARSED.sub(lambda m: "\\" + m.group(0), s)
    m = _LEADING.match(s)
    if m:  # "1. x" or "- x" would be a list: escape the mark after the number, or the dash itself
        s = (s[:m.end()] + "\\" + s[m.end():]) if m.group(1)[0].isdigit() else "\\" + s
    return s


def plain_list(items: object, limit: int = MAX_SHOWN) -> str:
    """Items from outside joined by commas, each ``plain``."""
    return ", ".join(plain(i, limit) for i in items)  # type: ignore[union-attr]
