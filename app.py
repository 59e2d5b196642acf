"""Mnemonic Unlearning Studio: `streamlit run app.py`.

Navigation, the shared sidebar (which model, which device) and nothing heavy: each page in
app_pages/ tells its own story, figures come from ui/figures.py, the work from the unlearning package.
"""
from __future__ import annotations

# Imported here, once, before any session runs: Plotly's chart encoder reads these modules, and
# sessions drawing their first charts at the same time on a fresh server otherwise saw them half
# imported (AttributeError: partially initialized module 'pandas'), found by benchmarks/load.py.
import numpy  # noqa: F401
import pandas  # noqa: F401
import PIL.Image  # noqa: F401
import streamlit as st

from ui import style
from ui.session import links, owner, state
from ui.plain import plain
from unlearning.device import available_devices

st.set_page_config(page_title="Mnemonic Unlearning Studio", page_icon=":material/psychology_alt:", layout="wide")

# The pages live in app_pages/, not pages/: with a pages/ folder Streamlit runs a fresh server's first
# request in its old file-based mode, where a page's own address is "Page not found".
overview = st.Page("app_pages/overview.py", title="Overview", icon=":material/school:", default=True)
pages = [
    overview,
    st.Page("app_pages/model.py", title="Model", icon=":material/model_training:", url_path="models"),
    st.Page("app_pages/forget.py", title="Forget", icon=":material/auto_fix_high:", url_path="unlearn"),
    st.Page("app_pages/audit.py", title="Is it gone?", icon=":material/policy:", url_path="is-it-gone"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="methods"),
    st.Page("app_pages/tour.py", title="Guided tour", icon=":material/tour:", url_path="guided-tour"),
    st.Page("app_pages/guide.py", title="How to read the plots", icon=":material/menu_book:", url_path="how-to-read"),
    # The Overview lives at "/"; its old address still leads there.
    st.Page(lambda: st.switch_page(overview), title="Overview ", url_path="start", visibility="hidden"),
]
PATHS = ["/", "/models", "/unlearn", "/is-it-gone", "/methods", "/guided-tour", "/how-to-read", "/start"]
page = st.navigation(pages)
style.apply_css()
links.warn_if_address_dropped()  # an address Streamlit threw away whole (1,000+ parameters): say so
owner.ensure()  # this session's owner token (?owner=…): which uploaded and trained models are its own
state.restore_run()  # after a reload (a theme applied, a refresh): this owner's last run
links.restore_model()  # a link's ?model=… picks the sidebar's model, once per session

with st.sidebar:
    entries = [e for e in state.model_entries() if e.meta is not None]
    options = [str(e.path) for e in entries]
    tags = {"yours": " (yours)", "local": " (local)"}  # shipped ones need no tag
    labels = {str(e.path): e.name + tags.get(e.source, "") for e in entries}
    if state.PENDING_MODEL in st.session_state:  # a model just uploaded, trained, or chosen by the demo
        st.session_state[state.MODEL_KEY] = st.session_state.pop(state.PENDING_MODEL)
    if st.session_state.get(state.MODEL_KEY) not in options and options:
        default = state.default_path()
        st.session_state[state.MODEL_KEY] = default if default in options else options[0]
    if options:
        groups = state.group_by_dataset(entries)  # dataset -> its models' paths, the embedded digits first
        st.session_state[state.DATASET_KEY] = next(d for d, paths in groups.items()
                                                   if st.session_state[state.MODEL_KEY] in paths)
        if len(groups) > 1:
            st.selectbox("Data", list(groups), key=state.DATASET_KEY, format_func=state.dataset_title,
                         on_change=state.first_model_of, args=(groups,),
                         help="Models are grouped by the data they were trained on: the embedded digits, or the "
                              "full-size Fashion-MNIST (60,000 clothes images, Debian's dataset-fashion-mnist).")
        options = groups[st.session_state[state.DATASET_KEY]]
        st.selectbox("Model", options, key=state.MODEL_KEY, format_func=lambda p: labels.get(p, p),
                     help="Shipped models come with the app; yours are the ones this session trained or "
                          "uploaded (kept across a refresh: the address holds your key); local ones were put "
                          "in the server's models folder by its operator.")
        meta = next(e.meta for e in entries if str(e.path) == st.session_state[state.MODEL_KEY])
        acc = meta.get("test_accuracy")
        st.caption(f"{plain(meta['arch'])} on {plain(meta['dataset'])} · {len(meta['class_names'])} classes · test accuracy "
                   f"{'–' if acc is None else f'{acc:.1%}'}" + (" · already forgot some classes" if meta.get("forgotten") else ""))
    else:
        st.error("No usable model found: add a .safetensors checkpoint on the Model page.")
    devices = available_devices()
    if st.session_state.get(state.DEVICE_KEY) not in devices:
        st.session_state[state.DEVICE_KEY] = devices[0]
    st.selectbox("Device", devices, key=state.DEVICE_KEY, format_func=state.device_label,
                 help="Where forgetting and training run. The GPU is preselected when there is one.")
    style.theme_control(PATHS)
    style.presenter_toggle()

style.presenter_bar([p for p in pages if p.url_path != "start"])
state.show_flash()
page.run()
