"""What the app keeps while people use it: shared read-only caches, each browser session's own state, the
owner token, the address, and training jobs.

``state`` (checkpoints, datasets, the last run), ``audit_state`` (the audit's caches and the depth check of a
run), ``tour_state`` (the guided tour's computations and where it starts), ``owner`` (whose models these are,
and keeping one), ``links`` (a run in the address) and ``jobs`` (training in a background thread, by owner).
All but ``jobs`` use Streamlit; ``jobs`` keeps its registry in plain Python, so a thread never calls Streamlit.
"""
