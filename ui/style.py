"""How the app looks on a 1024x768 projector: page CSS, the theme choice and the presenter mode.

Streamlit's own layout gives a 1024 px screen a third to the sidebar and wide margins, which cut
metric cards ("97.…"), labels and tabs. The CSS here narrows the sidebar and margins, lets card
labels wrap instead of ending in an ellipsis, and lets tabs wrap instead of scrolling. Presenter mode
adds larger type and hides the sidebar and the explanations a room does not need.

The theme: Streamlit reads the viewer's choice from the browser's localStorage once, when the page
loads (the key the ⋮ → Settings menu writes, which ``toolbarMode = "minimal"`` hides). The sidebar's
control writes that key for every page address and reloads; the choice also travels in the address
(``?theme=dark``), so a shared link or a refresh keeps it.
"""
from __future__ import annotations

import json

import streamlit as st

THEMES = ("Auto", "Light", "Dark")  # Auto: the computer's setting
THEME_PARAM = "theme"
PRESENT_PARAM = "present"
THEME_KEY = "theme_choice"
PRESENT_KEY = "presenter_mode"

BASE_CSS = """
<style>
/* A projector is 1024 px wide: a narrower sidebar and slimmer margins leave the page about 720 px. */
section[data-testid="stSidebar"][data-collapsed="false"] { width: 265px !important; min-width: 265px !important;
  max-width: 265px !important; }
[data-testid="stMainBlockContainer"] { padding-left: 1.75rem !important; padding-right: 1.75rem !important;
  padding-top: 3rem !important; }
/* Metric cards: labels wrap rather than end in an ellipsis; values never clip. */
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; }
[data-testid="stMetricLabel"] { height: auto !important; min-height: 1.5rem; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * { overflow: visible !important;
  text-overflow: clip !important; white-space: nowrap; }
/* The value shrinks with the window so that "100.0%" stays inside a 155 px card at 1024 px. */
[data-testid="stMetricValue"] { font-size: clamp(1.35rem, 2.5vw, 2rem) !important; }
/* Tabs wrap onto a second line instead of hiding behind a scroll arrow. */
[data-baseweb="tab-list"] { flex-wrap: wrap !important; row-gap: .25rem; }
/* Tables written in Markdown (model cards) wrap their cells and scroll inside the page, never past it. */
[data-testid="stMarkdownContainer"] table { display: block; max-width: 100%; overflow-x: auto; }
[data-testid="stMarkdownContainer"] td, [data-testid="stMarkdownContainer"] th { overflow-wrap: break-word; }
[data-testid="stMarkdownContainer"] td:first-child, [data-testid="stMarkdownContainer"] th:first-child {
  white-space: nowrap; }
</style>
"""

PRESENTER_CSS = """
<style>
/* Presenter mode: large type for the back of the room, no sidebar, no toolbar, no fine print. */
html { font-size: 120% !important; }
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stToolbar"], [data-testid="stHeader"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: none !important; padding-top: 1.5rem !important; }
[data-testid="stCaptionContainer"], [class*="st-key-presenter_hide"] { display: none !important; }
[data-testid="stMetricValue"] { font-size: clamp(1.5rem, 3vw, 2.6rem) !important; }
/* The page switcher that replaces the sidebar: one compact row. */
.st-key-presenter_bar { font-size: 0.8rem; row-gap: 0 !important; }
.st-key-presenter_bar [data-testid="stPageLink"] a { padding: 0 .4rem !important; }
</style>
"""


def _param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value if isinstance(value, str) else None


def theme_from_address() -> str:
    """The theme the address asks for ("Auto" when it asks for none or for something unknown)."""
    value = (_param(THEME_PARAM) or "").capitalize()
    return value if value in THEMES else "Auto"


def presenter_mode() -> bool:
    """On when this session switched it on, or (before the switch is drawn) when the address asks for it."""
    if PRESENT_KEY in st.session_state:
        return bool(st.session_state[PRESENT_KEY])
    return _param(PRESENT_PARAM) == "1"


def apply_css() -> None:
    """The page CSS for this run (call once per run, before the page draws)."""
    st.html(BASE_CSS + (PRESENTER_CSS if presenter_mode() else ""))


def _theme_script(choice: str, paths: list[str], guarded: bool) -> str:
    """JavaScript that stores ``choice`` where Streamlit looks for it at load, for every page address,
    puts it in the address and reloads. ``guarded``: at most once per tab and choice (no reload loop)."""
    keys = sorted({f"stActiveTheme-{p}-v2" for p in paths})
    param = "" if choice == "Auto" else choice.lower()
    stored = "System" if choice == "Auto" else choice  # Streamlit's own names
    return f"""<script>
(() => {{
  const value = {json.dumps(json.dumps(stored))};
  const keys = {json.dumps(keys)}.concat([`stActiveTheme-${{window.location.pathname}}-v2`]);
  for (const k of keys) window.localStorage.setItem(k, value);
  const guard = "mus-theme-reloaded";
  if ({'true' if guarded else 'false'}) {{
    if (window.sessionStorage.getItem(guard) === value) return;
    window.sessionStorage.setItem(guard, value);
  }}
  const url = new URL(window.location.href);
  if ({json.dumps(param)}) url.searchParams.set({json.dumps(THEME_PARAM)}, {json.dumps(param)});
  else url.searchParams.delete({json.dumps(THEME_PARAM)});
  window.location.replace(url.toString());
}})();
</script>"""


_THEME_CHOSEN = "_theme_chosen"  # set by the control's own change: only then does the page reload


def _chosen() -> None:
    st.session_state[_THEME_CHOSEN] = True


def theme_control(paths: list[str]) -> None:
    """A Light / Dark / Auto control in the sidebar that applies the theme at once (one reload).

    ``paths`` are the app's page addresses ("/", "/models", ...): Streamlit keys the stored theme by
    the address the app was opened at. The session holds the choice; moving between pages clears the
    query, so the choice is written back into the address on every run, never by reloading: a reload
    starts a new session (ui/session/state.py keeps the last run across the one the viewer's own choice needs).
    """
    if THEME_KEY not in st.session_state:
        st.session_state[THEME_KEY] = theme_from_address()
    choice = st.segmented_control("Theme", THEMES, key=THEME_KEY, required=True, on_change=_chosen,
                                  help="Light for a bright room or a projector, dark for a screen; Auto follows "
                                       "the computer's setting. The page reloads once to apply it; your last "
                                       "run is kept.") or "Auto"
    param = "" if choice == "Auto" else choice.lower()
    if param and _param(THEME_PARAM) != param:
        st.query_params[THEME_PARAM] = param
    elif not param and THEME_PARAM in st.query_params:
        del st.query_params[THEME_PARAM]
    active = getattr(st.context.theme, "type", None)
    if st.session_state.pop(_THEME_CHOSEN, False):  # the viewer chose: store it and reload
        st.html(_theme_script(choice, paths, guarded=False), unsafe_allow_javascript=True)
    elif param and active is not None and active != param:  # a link asks for a theme this browser lacks
        st.html(_theme_script(choice, paths, guarded=True), unsafe_allow_javascript=True)


def presenter_toggle() -> None:
    """The sidebar switch into presenter mode; the choice is kept in the address (``?present=1``) so a
    refresh or a shared link keeps it, and on the session so that moving between pages keeps it too."""
    if PRESENT_KEY not in st.session_state:
        st.session_state[PRESENT_KEY] = _param(PRESENT_PARAM) == "1"
    on = st.toggle("Presenter mode", key=PRESENT_KEY,
                   help="Larger text and figures, no sidebar and no fine print: for a projector. "
                        "Leave it with the button at the top of the page.")
    if on:
        st.query_params[PRESENT_PARAM] = "1"
    elif PRESENT_PARAM in st.query_params:
        del st.query_params[PRESENT_PARAM]


def _leave() -> None:
    st.session_state[PRESENT_KEY] = False


def presenter_bar(pages: list) -> None:
    """In presenter mode the sidebar is hidden: a compact row at the top of the page takes its place, with
    a link to every page (``pages``: the visible st.Page objects; a link keeps the session, unlike an
    address typed or a plain <a>) and the button that brings the sidebar back."""
    if not presenter_mode():
        return
    with st.container(horizontal=True, gap="small", key="presenter_bar"):
        for p in pages:
            st.page_link(p, label=p.title, icon=p.icon)
        st.button("Leave presenter mode", icon=":material/close_fullscreen:", key="leave_presenter", on_click=_leave)
