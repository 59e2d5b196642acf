"""Overview: what machine unlearning is, the method in one picture, and a one-click demo."""
from __future__ import annotations

import streamlit as st

from ui import figures, method_text, widgets
from ui.session import audit_state, state
from unlearning.pipeline import default_lambdas

st.title("Mnemonic Unlearning Studio")
st.markdown("##### Make a trained classifier forget a class in one shot, without retraining it, and see exactly "
            "what changed.")

mode = method_text.default_mode()
left, right = st.columns(2, gap="large")
with left:
    st.subheader("Why unlearning")
    st.markdown(
        "A model keeps what it learnt from its training data. Sometimes that has to go: a person asks to be "
        "removed (the *right to be forgotten*), a data source turns out to be mislabelled, poisoned or "
        "licensed wrongly, or a whole category must no longer be recognised. Retraining without that data "
        "is the gold standard, but it is slow and needs the original data. **Machine unlearning** removes the "
        "knowledge from the trained model directly.")
with right:
    st.subheader("The method here")
    st.markdown(
        "It starts from *One-Shot Machine Unlearning with Mnemonic Code* (Yamashita, Yamada, Shibata, ACML 2024): "
        "during training every class gets a fixed random image, its **mnemonic code**, mixed into the data, so "
        "the codes can stand in for the training data later. "
        f"The app's default method is **{mode}**: {method_text.plain_mode(mode)} "
        "The paper's own rule is one of the other methods on the Forget page; the guided tour runs it step by "
        "step on the default model, where it does not forget, and compares it with the default method.")

# The method in three steps, as page text (legible at any width, unlike a scaled picture); step 2 says
# what the app's default method does.
steps = [
    ("1 · Train once, with codes", "Every class gets a fixed random image, its **mnemonic code**. During training "
     "some images are swapped for their class's code, so the model learns to recognise the codes too. The codes "
     "ship with the model."),
    ("2 · Forget, in one shot", f"The default method, **{mode}**, edits the trained model once: no gradient "
     "steps, no training data. The **Time to forget** card puts its time next to retraining's."),
    ("3 · Check on real test images", "Accuracy on the forgotten classes (**A_F**) should fall to about zero and "
     "accuracy on the others (**A_R**) stay where it was, measured on held-out test images the method never "
     "saw. The codes alone can be fooled."),
]
with st.container(horizontal=True, gap="small", key="method_steps"):
    for title, text in steps:
        with st.container(border=True, width=215):
            st.markdown(f"**{title}**")
            st.markdown(text)

st.subheader("Try it: one click")
demos = state.demo_models()  # digits, and clothes where the full-size data is installed
kind = (st.segmented_control("Data", list(demos), default=next(iter(demos)), key="demo_data", required=True)
        if len(demos) > 1 else next(iter(demos), None))
default = demos.get(kind) if kind else None
if default is None:
    st.error("The default model is missing from assets/models; pick or train one on the Model page.")
    st.stop()
ckpt = state.page_checkpoint(default, "The default model cannot be used here")

names = ckpt.class_names
choice = st.segmented_control(f"Class to forget from the default model ({state.model_name(default)})", names,
                              default="7" if "7" in names else names[-1], key="demo_class", required=True)
lambda1, lambda2 = default_lambdas(ckpt.meta["arch"])
demo_settings = dict(lambda1=lambda1, lambda2=lambda2, device=state.selected_device(), mode=method_text.default_mode())
if st.button(f"Forget {choice} now", type="primary", icon=":material/play_arrow:", key="demo_button"):
    run = state.forget_with_progress(default, [names.index(choice)], demo=True, **demo_settings)
    if run is not None:
        state.keep_run(run, demo=True)
        # The Forget page shows this run with its controls filled in: the class chosen, the button enabled.
        st.session_state[f"classes::{state.model_name(default)}"] = [choice]
        st.session_state["mode"] = demo_settings["mode"]
        if state.selected_path() != default:  # the Forget page shows this run on the default model
            state.select_model(default)
            st.rerun()

run = st.session_state.get(state.DEMO_KEY)
if run is not None and run.matches(default):
    view = run.view
    banner = st.empty()  # the outputs' verdict now, the depth when its check is done; the numbers and bars first
    with banner.container():
        widgets.pending_banner(view)
    widgets.metric_cards(view, audit_state.retrain_seconds(default, view.forget))
    o = view.outcome
    widgets.chart(figures.per_class_accuracy(view.class_names, o.before.per_class_accuracy,
                                             o.after.per_class_accuracy, view.forget), key="demo_bars")
    st.page_link("app_pages/forget.py", label="See everything that changed on the Forget page",
                 icon=":material/arrow_forward:")
    with banner.container():
        try:
            view = audit_state.with_depth(run, default).view
        except (ValueError, RuntimeError):  # no depth check on this model: the banner says it was not measured
            pass
        widgets.verdict_banner(view)
else:
    st.caption("Forgets the chosen class from the shipped model with the default method and settings, then "
               "measures every class's accuracy on real test images before and after.")

# Everything above is on screen; while the reader reads, compute the demo's run (once per process).
if st.session_state.get(state.DEMO_KEY) is None:
    state.warm_demo(default, [names.index(choice)], **demo_settings)
