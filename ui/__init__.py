"""The app's side of the house: figures, the view of a run, exports, the report and card, and Streamlit state.

Only the modules in ``STREAMLIT_MODULES`` import Streamlit: session state and caches, the address,
the page style and the pieces pages draw. Every other module (``inputs``, ``method_text``, ``run_view``,
``samples``, ``formatting``, ``exports``, ``auditing``, ``card``, ``report``, ``plain``, ``jobs``, ``theme`` and
the ``*figures`` modules) runs without Streamlit, so tests and scripts use them without an app; ``tests/test_ui_imports.py`` keeps this list true.
"""
STREAMLIT_MODULES = frozenset({"state", "audit_state", "links", "owner", "style", "widgets"})
