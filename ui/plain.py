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

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones markdown,
# GitHub's extensions (tables, autolinks, strikethrough), LaTeX ($) and Streamlit's :icon: / :colour[...]
# directives give a meaning to anywhere in a line. '@' breaks the autolink of an e-mail address; '(', '.',
# '/' need no escape once '[' has one, and stay readable in messages.
SPECIAL = "\\`*_{}[]<>#!|~$@&"
# ':' only where it starts something: "https://" (a bare URL is a link), ":red[", ":material/x:", ":smile:";
# "Error: message" keeps its colon as it is.
DIRECTIVE_COLON = re.compile(r":(?=//|[A-Za-z0-9_+-]+[:\[/])")
_ESCAPE = re.compile("[" + re.escape(SPECIAL) + "]|" + DIRECTIVE_COLON.pattern)  # one pass over the text
_WWW = re.compile(r"(?i)\b(www)\.")  # "www.evil.example" is a link in GitHub markdown even without a scheme
_LEADING = re.compile(r"^([-+=]|\d+(?=[.)]))")  # a list item or heading underline at the start of a line
MAX_SHOWN = 300  # characters of one outside text shown; the rest is cut, marked with an ellipsis


def plain(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` on one line, at most ``limit`` characters, every markdown character escaped."""
    s = " ".join(str(text).split())  # no newline may start a heading, a list or a table row
    if len(s) > limit:
        s = s[:limit] + "…"
    s = _WWW.sub(r"\1\\.", _ESCAPE.sub(lambda m: "\\" + m.group(0), s))
    m = _LEADING.match(s)
    if m:  # "1. x" or "- x" would be a list: escape the mark after the number, or the dash itself
        s = (s[:m.end()] + "\\" + s[m.end():]) if m.group(1)[0].isdigit() else "\\" + s
    return s


def plain_list(items: object, limit: int = MAX_SHOWN) -> str:
    """Items from outside joined by commas, each ``plain``."""
    return ", ".join(plain(i, limit) for i in items)  # type: ignore[union-attr]
