"""Is it gone? The audit of the last run: original, unlearned and retrained model side by side."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ui import audit_figures, audit_text, widgets
from unlearning.evaluation import run_audit
from ui.session import audit_state, state
from ui.plain import plain_list
from unlearning.evaluation import references
from unlearning.evaluation.audit import ANAMNESIS_AT_LEAST
from unlearning.methods.baselines import Cancelled

st.title("Is it gone?")
st.markdown(
    "A forgotten class's test accuracy (A_F) falls to zero just as well when only the outputs were edited as "
    "when the class left the network. This page asks the harder question, on the run you just made: can a few "
    "labelled images bring it back, how fast does it relearn, does it still look like the original inside, and "
    "can an attacker tell it was trained on? Every figure sits beside the **model retrained without the "
    "classes**, the gold standard.")

path = state.selected_path()
ckpt = state.page_checkpoint(path, "This model cannot be audited here")
run: state.Run | None = st.session_state.get(state.RUN_KEY)
if run is None or not run.matches(path):
    st.info("Forget a class first: the audit opens on your last run of the model in the sidebar.",
            icon=":material/touch_app:")
    st.page_link("app_pages/forget.py", label="Go to Forget", icon=":material/auto_fix_high:")
    st.stop()

view = run.view
names, forget = view.class_names, view.forget
device = run.settings["device"]
splits = state.shared_splits(ckpt.meta["dataset"])
st.header(f"Forgetting {plain_list(view.forget_names, 60)} with {view.outcome.result.mode}", divider="gray")

# --- the reference ------------------------------------------------------------------------------------
ref = audit_state.shared_reference(path, forget)
if ref is None:
    st.warning(
        "No model retrained without these classes is at hand, so the audit cannot say how deep forgetting "
        "went, only whether the features still give the class back. Shipped references live in "
        "`assets/references/` (made by `python benchmarks/references.py`); others are trained here, with the "
        "model's own recipe, and cached in " f"`{references.cache_dir()}`.", icon=":material/warning:")
    if st.button("Train the retrained reference now (minutes)", icon=":material/model_training:",
                 key="audit_train_reference"):
        with st.status("Retraining without the forgotten classes…", expanded=True) as status:
            bar = st.progress(0.0, text="Starting…")
            st.button("Cancel", icon=":material/stop:", key="audit_cancel_reference",
                      help="Stops the training; nothing is saved.")
            try:
                # A click on Cancel reruns the page, which stops this loop at its next progress update.
                made = references.retrained_reference(
                    run.checkpoint, splits, forget, device=device,
                    progress=lambda f, t: bar.progress(min(max(float(f), 0.0), 1.0), text=t))
            except Cancelled:
                status.update(label="Cancelled: nothing was saved", state="error")
            except (ValueError, RuntimeError, OSError) as e:
                status.update(label="Could not retrain", state="error")
                st.error(str(e).strip().splitlines()[0][:400] if str(e).strip() else type(e).__name__)
            else:
                status.update(label=f"Retrained in {made.seconds:.0f} s and cached", state="complete")
                st.rerun()
else:
    st.caption(f"Reference: retrained from scratch without {plain_list(view.forget_names, 60)} with the model's own "
               f"recipe ({ref.source}, `{ref.path.name}`"
               + (f", {ref.seconds:.0f} s to train" if ref.seconds == ref.seconds else "") + ").")

# --- the instant part ---------------------------------------------------------------------------------
with st.spinner("Auditing: probes, attacks and layer-wise similarity…"):
    try:
        instant = audit_state.instant_audit(run, path)
    except (ValueError, RuntimeError) as e:
        st.error(f"The audit cannot run on this model: {str(e).strip().splitlines()[0][:400]}")
        st.stop()

verdict = instant.depth.verdict
tone = audit_text.verdict_tone(replace(view.outcome, depth=instant.depth))
show = {"ok": st.success, "warn": st.warning, "bad": st.error}[tone]
show(audit_text.titled(verdict.level, verdict.message),
     icon={"ok": ":material/check_circle:", "warn": ":material/warning:", "bad": ":material/error:"}[tone])
st.caption(audit_text.depth_rule(verdict.thresholds))
depth = instant.depth
if depth.profile is not None:
    widgets.chart(audit_figures.recoverability_by_depth(depth.profile, verdict.worst_depth), key="audit_depths")
    st.caption("Each depth is one stage of the network, input side left; convolution maps are averaged over space, "
               "transformer tokens over tokens. Where the unlearned line rises above the retrained one, the class "
               "is still there at that depth. " + audit_text.anamnesis_text(depth.anamnesis))
    st.dataframe(depth.rows(), hide_index=True, width="stretch")
with st.expander("The words on this page, plainly", key="presenter_hide_words"):
    st.markdown(
        "- **Linear probe**: the simplest possible classifier (one straight-line rule per class) trained on the "
        "model's inner features. If it can still pick out the forgotten class from a few labelled examples, the "
        "knowledge is still inside the model, only hidden from its answers.\n"
        "- **k-shot**: the probe saw k labelled images of each forgotten class (and every image of the others).\n"
        "- **Retrained model**: trained from scratch without the forgotten classes: the gold standard to match.\n"
        "- **Depth**: one stage of the network, from the input side to the features the last layer reads; a class "
        "erased from the last stage only can still be read one stage lower.\n"
        "- **Anamnesis Index**: how many fine-tuning steps the class needs to come back, divided by the steps the "
        f"retrained model needs; below {ANAMNESIS_AT_LEAST:.1f} it comes back clearly faster than to a model that "
        "never saw it.\n"
        "- **CKA** (centred kernel alignment): a score from 0 to 1 of how alike two models' inner features are; 1 "
        "means the same up to a rotation.\n"
        "- **Membership inference attack (MIA)**: an attacker guessing, for each training image of the forgotten "
        "classes, whether the model was trained on it.")
    st.markdown("*For the curious*: the probe is a logistic regression on the penultimate-layer features, "
                "fitted on training features and scored on the forgotten classes' test images (mean of 3 draws); "
                "CKA is linear CKA (Kornblith et al. 2019); the SVC attack is SalUn's \"MIA efficacy\".")

store = audit_state.run_store(run)
costly: dict[str, run_audit.CostlyFacts] = store.get("costly", {})
st.dataframe(audit_text.summary_by_measure(audit_text.summary_rows(instant, costly)), hide_index=True,
             width="stretch")

# --- the costly part: relearning and the larger probes ------------------------------------------------
models = list(instant.facts)
missing = [m for m in models if m not in costly]
st.subheader("Relearning and the 50-shot probe", divider="gray")
st.markdown("Fine-tuning each model on a few images per class shows how fast the class comes back; the "
            "50-shot probe how much of it more labelled images recover. This takes a while (tens of seconds).")
if missing and st.button("Run relearning and the 50-shot probe", type="primary", icon=":material/replay:",
                         key="audit_costly"):
    with st.status("Relearning…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting…")
        st.button("Cancel", icon=":material/stop:", key="audit_cancel",
                  help="Stops after the current model; what is done is kept.")
        for i, name in enumerate(missing):
            bar.progress(i / len(missing), text=f"Relearning the {name} model…")
            costly[name] = audit_state.costly_for(name, run, path, instant)
            store["costly"] = costly
        bar.progress(1.0, text="Done")
        status.update(label="Relearning done", state="complete")
    st.rerun()

# --- the figures --------------------------------------------------------------------------------------
shots = {n: {**f.shots, **(costly[n].shots if n in costly else {})} for n, f in instant.facts.items()}
widgets.chart(audit_figures.recoverability(shots), key="audit_shots")
st.caption("Each probe sees every training image of the kept classes and only k of each forgotten class, then is "
           "asked about the forgotten classes' test images (mean of 3 draws; bars: spread). Near the original's "
           "line: the class is all there. Near the retrained model's: it is as gone as retraining makes it.")
if len(costly) == len(models):
    widgets.chart(audit_figures.relearning({n: costly[n].relearn for n in models}), key="audit_relearn")
    st.caption("A class that was only hidden comes back in a few steps; one that is gone relearns about as fast "
               "as in the retrained model, which never saw it. Read 90 % as well as 50 %: a row pushed far "
               "negative can be slow to 50 % and still be all there.")
else:
    st.info("Relearning curves appear here after the button above.", icon=":material/replay:")
emb = instant.embedding
widgets.chart(audit_figures.embeddings(emb.points, emb.labels, names, forget, emb.explained), key="audit_embed")
st.caption("The same test images in each panel. If the forgotten class (vermillion) still forms its own cluster in "
           "the unlearned model, only its label was taken away; if it dissolved into its neighbours, as in the "
           "retrained model, it left the features.")
widgets.chart(audit_figures.layer_similarity(instant.cka), key="audit_cka")
st.caption("1 means the same representation up to a rotation. Hiding leaves every layer below the classifier at 1 "
           "against the original; forgetting lowers the forgotten classes' similarity to the original where the "
           "class lived, while the kept classes stay near 1.")
mia = {n: {"entropy MIA": f.mia_entropy, "SVC MIA": f.mia_svc} for n, f in instant.facts.items()}
widgets.chart(audit_figures.membership(mia), key="audit_mia")
acc = instant.facts["unlearned"].mia_entropy_accuracy
st.caption(f"Both attacks ask of each forgotten-class training image whether the model was trained on it; a model "
           f"that forgot should answer like the retrained one, so compare the bars with its bars, not with zero "
           f"(the entropy attack tells members from test images with {acc:.0%} accuracy on this model: near 50 % "
           f"it is a weak witness).")
