"""The app's side of the house: figures, the view of a run, exports, the report and card, and (in ``session/``)
what the app keeps while people use it.

Only the modules in ``STREAMLIT_MODULES`` import Streamlit: session state and caches (``session/``, except
``session.jobs``, whose training threads never call Streamlit), the page style, the pieces pages draw, and
Compare's runs in their status boxes (``compare_runs``). Every other module (``inputs``, ``method_text``,
``run_view``, ``samples``, ``formatting``, ``exports``, ``compare_table``, ``audit_text``, ``card``, ``report``,
``plain``, ``theme``, ``session.jobs`` and the ``*figures`` modules) runs without Streamlit, so tests and
scripts use them without an app; ``tests/test_ui_imports.py`` keeps this list true.
"""
STREAMLIT_MODULES = frozenset({"session.state", "session.audit_state", "session.tour_state", "session.links",
                               "session.owner", "session.downloads", "compare_runs", "style", "widgets"})
