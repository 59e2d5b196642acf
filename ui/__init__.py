"""The app's side of the house: figures, analysis of results, the HTML report and Streamlit state.

``figures``, ``analysis`` and ``report`` never import Streamlit, so they can be tested (and reused
by scripts) without a running app; ``state`` and ``widgets`` are the only Streamlit-aware modules.
"""
