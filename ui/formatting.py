"""Numbers and markdown as a reader sees them: durations with a sensible precision, shares in percent,
headings put in their place.

No Streamlit.
"""
from __future__ import annotations


def seconds_text(seconds: float) -> str:
    """A duration with the precision a reader can use: 8 ms, 0.31 s, 2.4 s, 55 s, 3 min 05 s."""
    if not seconds == seconds or seconds < 0:  # NaN or nonsense
        return "–"
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else "< 1 ms"
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def pct_text(x: float) -> str:
    """A share as a percentage with one decimal: 0.123 is "12.3%"."""
    return f"{100 * x:.1f}%"


def demote_headings(markdown: str, levels: int = 2) -> str:
    """Markdown with every heading ``levels`` deeper (a card's "# Title" must not outshout the page)."""
    out = []
    for line in markdown.splitlines():
        stripped = line.lstrip("#")
        depth = len(line) - len(stripped)
        out.append("#" * min(6, depth + levels) + stripped if 0 < depth and stripped.startswith(" ") else line)
    return "\n".join(out)
