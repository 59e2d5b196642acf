"""The app's side of the house: figures, the analysis of a run, the report and card, and Streamlit state.

Only the modules in ``STREAMLIT_MODULES`` import Streamlit: session state and caches, the address,
the page style and the pieces pages draw. Every other module (``analysis``, ``audit_text``, ``card``,
``report``, ``plain``, ``jobs`` and the ``*figures`` modules) runs without Streamlit, so tests and
scripts use them without an app; ``tests/test_ui_imports.py`` keeps this list true.
"""
STREAMLIT_MODULES = frozenset({"state", "audit_state", "links", "owner", "style", "widgets"})
