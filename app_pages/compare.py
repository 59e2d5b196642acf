"""Compare: forget the same classes with every method, on the same model, and weigh time against quality."""
from __future__ import annotations

import streamlit as st

from ui import compare_figures, compare_runs, compare_table, method_text, widgets
from ui.plain import plain, plain_list
from ui.session import state
from unlearning import comparison
from unlearning.methods.baselines import recipe_from_meta

st.title("Compare methods")
st.markdown(
    "The paper claims the one-shot method is *faster and better at forgetting* than the alternatives. Check it "
    "here: forget the same classes from the same model with every method, then compare time, accuracy on the "
    "forgotten and remaining classes of real test images, and a membership-inference attack. **Retraining from "
    "scratch** without the forgotten classes is the reference every method tries to imitate.")

path = state.selected_path()
ckpt = state.page_checkpoint(path, "This model cannot be compared here", measure=False)
splits = state.shared_splits(ckpt.meta["dataset"])  # loaded by the check above

meta, names = ckpt.meta, ckpt.class_names
model_id = state.model_name(path)
st.markdown(f"Model **{plain(model_id)}** · {plain(meta['arch'])} on {plain(meta['dataset'])} · {len(names)} classes · "
            f"{len(splits.train):,} training images (the baselines read them; the one-shot method does not)")

compare_runs.start_from_last_run(path, f"compare_classes::{model_id}")  # a new run here: start from its classes
selected = st.multiselect("Classes to forget", names, key=f"compare_classes::{model_id}", persist_state="session",
                          placeholder="Choose one or more classes")
classes = [names.index(s) for s in selected]
problem = None
if not selected:
    problem = "Choose the classes to forget, then run the methods."
elif len(set(selected)) >= len(names):
    problem = "You chose every class: at least one class must remain."
modes = method_text.available_modes()
mode = comparison.default_mode()
if len(modes) > 1:
    default = mode
    mode = st.selectbox("One-shot method", list(modes), index=list(modes).index(mode), key="compare_mode",
                        format_func=lambda m: f"{m} (default)" if m == default else m,
                        help="\n\n".join(f"**{k}**: {v}" for k, v in modes.items()))
    st.caption(modes[mode])
device = state.selected_device()
st.caption(f"Runs on **{state.device_label(device)}** (change it in the sidebar). Times are each method's own "
           f"work, from the model to the forgotten model; measuring and attacking it afterwards is not counted.")

results = compare_runs.results_for(path, classes, device)  # kept for this (model, classes, device)
rows: dict[str, comparison.MethodRow] = results["rows"]
audits = results["audit"]

st.subheader("1 · The methods that need no training", divider="gray")
st.markdown("The one-shot method (Fisher on the mnemonic codes, one perturbation; the mode chosen above) and "
            "**SSD**, which dampens "
            "the parameters most important to the forgotten data (one pass over the training set, no gradient "
            "step): once with its published settings, once with α chosen on the validation split.")
quick = st.button("Run the one-shot method and SSD", type="primary", icon=":material/bolt:",
                  disabled=problem is not None, key="compare_quick")

st.subheader("2 · The methods that train", divider="gray")
settings, t_mix, _ = recipe_from_meta(meta)
remaining = sum(int((splits.train.labels == c).sum()) for c in range(len(names)) if c not in set(classes))
st.markdown(
    f"Fine-tuning, NegGrad+ and random labels take a few epochs over the training data; **retraining** repeats "
    f"the model's own recipe from scratch: {settings.epochs} epochs over the {remaining:,} remaining images "
    f"(minutes for a large model). Each runs with a progress bar; the page waits for it.")
chosen = st.multiselect("Training-based methods to run", list(comparison.TRAINING), default=list(comparison.TRAINING),
                        format_func=lambda m: comparison.LABELS[m], key="compare_training")
slow = st.button("Run the training-based methods", icon=":material/hourglass_top:",
                 disabled=problem is not None or not chosen, key="compare_slow")

if problem and selected:
    st.warning(problem, icon=":material/warning:")
elif problem:
    st.info(problem, icon=":material/touch_app:")
if quick:
    compare_runs.run_methods(list(comparison.NO_TRAINING), path, splits, classes, device, mode, results)
if slow:
    compare_runs.run_methods([m for m in comparison.TRAINING if m in chosen], path, splits, classes, device, mode,
                             results)

# --- results ------------------------------------------------------------------------------------------
if not rows:
    st.stop()
ordered = [rows[m] for m in comparison.METHOD_NAMES if m in rows]
one = rows.get(comparison.ONE_SHOT)
if one is not None and one.mode and one.mode != mode:
    st.caption(f"The one-shot row was run in mode **{one.mode}**; press the first button again for **{mode}**.")
reference = rows.get(comparison.REFERENCE)
st.header(f"Forgetting {plain_list(selected, 60)}: every method side by side", divider="gray")
if reference is None:
    st.info("Run retraining (section 2) to see the reference point: the model that never saw these classes.",
            icon=":material/info:")


table = compare_table.table_rows(ordered, one, audits)
st.dataframe(table, hide_index=True, width="stretch", column_config={
    # Short headings: at 1024 px the right-hand columns were cut ("relearn st…"); each help says it in full.
    "seconds": st.column_config.NumberColumn("s", format="%.3g", help="The method's own work, model to forgotten model."),
    "× one-shot": st.column_config.NumberColumn("×", format="%.0f×", help="How many times the one-shot method's time."),
    "A_F %": st.column_config.NumberColumn(help="Test accuracy on the forgotten classes: lower is better."),
    "A_R %": st.column_config.NumberColumn(help="Test accuracy on the remaining classes: higher is better."),
    "MIA %": st.column_config.NumberColumn(help="Forget-class training images the attack calls members; "
                                                "the retrained model's value is the target."),
    "attack acc. %": st.column_config.NumberColumn("att. acc %", help="How well the attack tells members from test images at "
                                                        "all; near 50% it cannot, and MIA is noise."),
    "10-shot probe %": st.column_config.NumberColumn("probe %", help="Can 10 labelled images per forgotten class bring it back? "
                                                          "A linear probe (the simplest classifier, one straight-line "
                                                          "rule per class) on the penultimate features, given them; "
                                                          "its accuracy. Retraining's value is the target."),
    "relearn steps to 50 %": st.column_config.NumberColumn("relearn", help="Fine-tuning steps until the forgotten classes are "
                                                                "back to half the original's accuracy (empty: not "
                                                                "within the budget). Fewer than retraining: hidden."),
    "SVC MIA %": st.column_config.NumberColumn("SVC %", help="Confidence-based attack (SVC, as in SalUn): "
                                               "forget-class training images it calls members (100 minus SalUn's "
                                               "'MIA efficacy'), counted like MIA %; retraining's is the target."),
})

st.download_button("The comparison (CSV)", compare_table.table_csv(table, model_id, selected, device),
                   file_name=f"{model_id}-compare-{'-'.join(selected)}.csv",
                   mime="text/csv", icon=":material/table:", key="compare_csv", on_click="ignore",
                   help="The table above, one row per method, with the model, the classes and the device in each row.")

widgets.chart(compare_figures.tradeoff(ordered), key="compare_tradeoff")
widgets.chart(compare_figures.speed(ordered), key="compare_speed")
depth_rows = [{"method": r.method, "seconds": r.seconds, "probe_forget": audits[r.method].probe_forget}
              for r in ordered if r.method in audits]
if depth_rows:
    original = compare_runs.original_probe(results, path, device, classes)  # the dotted line
    widgets.chart(compare_figures.depth_vs_time(depth_rows, original), key="compare_depth")

with st.expander("How to read the membership-inference attack"):
    st.markdown(
        "A logistic regression looks at one number per image, the entropy of the model's output, and learns to "
        "tell the training images of the remaining classes (*members*) from test images (*non-members*). It is "
        "then asked about the forgotten classes' training images: **MIA** is the share it still calls members. "
        "A model that truly forgot them should look like the retrained model, which never saw them, so compare "
        "with retraining's value rather than with zero.\n\n"
        "**Attack accuracy** is how well the attack tells members from non-members in the first place. Near "
        "50% the model's entropy reveals nothing about membership (it does not overfit), and the MIA figures "
        "are noise around an arbitrary threshold.")
with st.expander("Settings of each method"):
    for r in ordered:
        st.markdown(f"**{compare_table.label(r)}** · {r.device}" + "".join(f"\n- {n}" for n in r.notes))
