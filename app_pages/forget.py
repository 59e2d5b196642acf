"""Forget: choose classes and settings, run once, then see before next to after, and take it away."""
from __future__ import annotations

import time

import streamlit as st

from ui import exports, figures, inputs, method_text, run_view, widgets
from ui.plain import plain, plain_list
from ui.session import audit_state, downloads, links, owner, state
from unlearning.methods import registry as methods
from unlearning.pipeline import default_lambdas

DRAW_FIRST_S = 0.6  # seconds the depth check waits for the browser to draw the result

st.title("Forget classes")

path = state.selected_path()
ckpt = state.page_checkpoint(path, "This model cannot be used for forgetting here")

meta, names = ckpt.meta, ckpt.class_names
model_id = state.model_name(path)
acc = meta.get("test_accuracy")
st.markdown(f"Model **{plain(model_id)}** · {plain(meta['arch'])} on {plain(meta['dataset'])} · {len(names)} classes · "
            f"test accuracy {'–' if acc is None else f'{acc:.1%}'}")

with st.expander("Reopen a run from its JSON file", icon=":material/upload_file:"):
    saved = st.file_uploader("A run's Metrics (JSON) download", type=["json"], key="reopen_json")
    if saved is not None and st.session_state.get("_reopened") != saved.file_id:
        st.session_state["_reopened"] = saved.file_id
        try:
            links.open_request(links.from_json(saved.getvalue()))
        except ValueError as e:
            st.error(f"{plain(saved.name)}: {plain(e)}.", icon=":material/error:")
        else:
            st.rerun()

# --- 0. a run asked for by the address or by a JSON file: fill the controls in and run it ------------------
request = links.take_request(model_id)
if request is not None:
    unknown = [c for c in request.forget if c not in names]
    if unknown:
        st.warning(f"The link asks to forget {plain_list(unknown, 60)}, which {plain(model_id)} does not have.",
                   icon=":material/link_off:")
        request = None
    else:
        st.session_state[f"classes::{model_id}"] = list(request.forget)
        st.session_state["mode"] = request.method
        if request.lambda1 is not None and request.lambda2 is not None:
            st.session_state[f"lambda1::{model_id}"] = f"{request.lambda1:g}"
            st.session_state[f"lambda2::{model_id}"] = f"{request.lambda2:g}"

# --- 1. what to forget, and how ----------------------------------------------------------------------
selected = st.multiselect("Classes to forget", names, key=f"classes::{model_id}", persist_state="session",
                          placeholder="Choose one or more classes",
                          help="Everything else is meant to be kept. At least one class must remain.")
problem = inputs.selection_problem(selected, names)
if problem and selected:
    st.warning(problem, icon=":material/warning:")

modes = method_text.available_modes()
mode = method_text.default_mode()
if len(modes) > 1:
    default = mode
    if st.session_state.get("mode") not in modes:  # set here (not by index=) so a link or the demo can set it too
        st.session_state["mode"] = mode
    mode = st.selectbox("Method", list(modes), key="mode", persist_state="session",
                        format_func=lambda m: f"{m} (default)" if m == default else m,
                        help="\n\n".join(f"**{k}**: {v}" for k, v in modes.items()))
    st.caption(method_text.plain_mode(mode))
    with st.expander("For the curious: the method precisely", key="presenter_hide_method"):
        st.markdown(modes[mode])

lambdas, lambda_errors = {}, []
d1, d2 = default_lambdas(meta["arch"])
if methods.takes_lambdas(mode):
    c1, c2 = st.columns(2)
    st.session_state.setdefault(f"lambda1::{model_id}", f"{d1:g}")  # a link may have set them
    st.session_state.setdefault(f"lambda2::{model_id}", f"{d2:g}")
    text1 = c1.text_input("λ1 · cap on each layer's scale", key=f"lambda1::{model_id}",
                          help=f"Each parameter tensor is moved by s·r, where r is the Fisher ratio and "
                               f"s = min(λ1, λ2 / max r). The paper uses {d1:g} for this kind of model.")
    text2 = c2.text_input("λ2 · cap on the largest single change", key=f"lambda2::{model_id}",
                          help=f"No parameter moves by more than λ2. The paper uses {d2:g} for this kind of model.")
    for name, text in (("lambda1", text1), ("lambda2", text2)):
        try:
            lambdas[name] = inputs.parse_lambda(text, name)
        except ValueError as e:
            lambda_errors.append(str(e))
    for msg in lambda_errors:
        st.error(msg, icon=":material/error:")
    st.markdown("λ1 and λ2 are the two limits on how hard the paper's rule pushes the weights: raise them to push "
                "harder.")
    with st.expander("For the curious: what λ1 and λ2 do"):
        st.markdown(
            f"For every parameter the method computes **r = F_forget / F_remain**: how much more that parameter "
            f"matters to the forgotten classes' codes than to the others'. Each parameter tensor is then moved by "
            f"**s · r**, with one scale per tensor, **s = min(λ1, λ2 / max r)**.\n\n"
            f"- **λ1** caps the scale: a larger λ1 moves everything more.\n"
            f"- **λ2** caps the largest change any single parameter can get (the one with the largest r).\n\n"
            f"Both + and − directions are tried; the one that forgets the codes and keeps the others' codes is "
            f"kept. The paper's values: λ1 = 1e-3, λ2 = 10 for its MNIST MLP; λ1 = 1e-5, λ2 = 1e4 for ResNet-18. "
            f"This model is a **{meta['arch']}**, so the defaults are λ1 = {d1:g}, λ2 = {d2:g}. "
            f"Accepted ranges: λ1 {inputs.LAMBDA_RANGES['lambda1'][0]:g} to "
            f"{inputs.LAMBDA_RANGES['lambda1'][1]:g}, λ2 {inputs.LAMBDA_RANGES['lambda2'][0]:g} to "
            f"{inputs.LAMBDA_RANGES['lambda2'][1]:g}.")
else:
    lambdas = {"lambda1": d1, "lambda2": d2}  # unused by this method; passed for the record

device = state.selected_device()
st.caption(f"Runs on **{state.device_label(device)}** (change it in the sidebar).")

ready = problem is None and not lambda_errors
if not selected:
    st.info("Choose the classes to forget, then press **Forget**.", icon=":material/touch_app:")
clicked = st.button("Forget", type="primary", icon=":material/auto_fix_high:", disabled=not ready, key="forget_button")
if clicked or (request is not None and ready):  # a link's run computes without a click
    run = state.forget_with_progress(path, inputs.class_indices(selected, names), lambdas["lambda1"],
                                     lambdas["lambda2"], device, mode=mode)
    if run is not None:
        state.keep_run(run)

# --- 2. what changed ---------------------------------------------------------------------------------
run: state.Run | None = st.session_state.get(state.RUN_KEY)
if run is None or not run.matches(path):
    # Nothing to show yet: pay torch's first-call costs on this model now (once per process), not on the click,
    # and show the model as it is (which also loads the browser's chart library before the result needs it).
    as_is = state.warm_demo(path, [len(names) - 1], d1, d2, device, method_text.default_mode())
    audit_state.warm_depth_check(path, device)  # the original's half of the depth check, read while the reader reads
    if as_is is not None:
        chosen = inputs.class_indices(selected, names) if problem is None and selected else []
        widgets.chart(figures.class_accuracy(names, as_is.per_class_accuracy, chosen), key="as_is")
    st.stop()

view = run.view
o, r = view.outcome, view.outcome.result
this_run = links.request_for(model_id, view.forget_names, r.mode, r.lambda1, r.lambda2)
links.show_in_address(this_run)  # a refresh or a copied address reopens this run
st.header(f"Forgetting {plain_list(view.forget_names, 60)}: before and after", divider="gray")
st.caption(" · ".join(method_text.settings_line(r)) + f" · measured on {int(o.before.confusion.sum()):,} real test images")
explained = method_text.settings_explained(r)
if explained:
    with st.expander("What these settings mean", key="presenter_hide_settings"):
        st.markdown("\n".join(f"- {line}" for line in explained))
banner = st.empty()  # filled at the end: the depth check reads features, the charts come first
if view.outcome.depth is not None:
    with banner.container():
        widgets.verdict_banner(view)
        st.page_link("app_pages/audit.py", label="See the whole audit: is it gone?", icon=":material/policy:")
else:
    with banner.container():
        widgets.pending_banner(view)
widgets.metric_cards(view, audit_state.retrain_seconds(path, view.forget))
reference = audit_state.reference_evaluation(path, view.forget, run.settings["device"])
NO_REFERENCE = ("No model retrained without these classes is at hand, so there is no reference to compare with. "
                "Train one on the **Is it gone?** page (minutes), or ship one with `python benchmarks/references.py`.")

# --- 3. take it away: the link, the files -------------------------------------------------------------
stem = exports.file_stem(model_id, view.forget_names)
with st.container(horizontal=True, gap="small", key="downloads"):
    st.download_button("Report (HTML)", downloads.report_file(run, path, reference), file_name=f"{stem}.html",
                       mime="text/html", icon=":material/slideshow:", key="dl_report", on_click="ignore",
                       help="One self-contained file with every figure below and the numbers behind them; "
                            "opens offline in any browser. Send it to people who will not run the app.")
    st.download_button("Unlearning card (HTML)", downloads.card_file(run, path), file_name=f"{stem}-card.html",
                       mime="text/html", icon=":material/badge:", key="dl_card", on_click="ignore",
                       help="One printable page for someone who will read nothing else: what was asked and when, "
                            "the model and its weights hash, the method, the verdict, the time against "
                            "retraining, the cost to the other classes and the caveats. Also the report's first page.")
    st.download_button("Metrics (CSV)", exports.metrics_csv(view), file_name=f"{stem}.csv", mime="text/csv",
                       icon=":material/table:", key="dl_csv", on_click="ignore",
                       help="One table: a row per class, with the run's settings in every row.")
    st.download_button("Metrics (JSON)", exports.metrics_json(view), file_name=f"{stem}.json",
                       mime="application/json", icon=":material/data_object:", key="dl_json", on_click="ignore",
                       help="Everything the backend reports; load it back below to reopen this run.")
    st.download_button("Unlearned model (.safetensors)", downloads.model_file(run), file_name=f"{stem}.safetensors",
                       mime="application/octet-stream", icon=":material/download:", key="dl_model", on_click="ignore")
    if st.button("Keep the unlearned model in my models", icon=":material/save:", key="keep_model",
                 help="Saves it as one of your models (this session's) and selects it, so you can inspect it or forget more."):
        try:
            target = owner.keep_model(run.checkpoint, o, stem)
        except (ValueError, OSError) as e:
            st.error(f"Could not save the model: {plain(e)}")
        else:
            state.select_model(target)
            state.flash(f"Saved and selected {plain(target.name)}: it is now the model in the sidebar.")
            st.rerun()
with st.container(key="presenter_hide_link"):
    st.markdown("**Link to this run**: opening it recomputes this run and shows it (copy it with the icon on the "
                "right). Share this one rather than the address bar's: it leaves out your owner key, so others get "
                "the run, not your models.")
    st.code(links.link_to(this_run, "/unlearn"), language=None, wrap_lines=True)

# Only the open tab is drawn (a tab change reruns the page, which recomputes nothing): the click's browser
# work is one chart, not five, and the cards show sooner (full-size ResNet-8: 0.9 s less).
tabs = st.tabs(["Accuracy per class", "Sensitivity", "Mnemonic codes", "Test images", "Confusion"], key="result_tab",
               on_change="rerun")
if tabs[0].open:
    with tabs[0]:
        widgets.chart(figures.per_class_accuracy(names, o.before.per_class_accuracy, o.after.per_class_accuracy,
                                                 view.forget, retrained=None if reference is None
                                                 else reference.per_class_accuracy), key="bars")
        if reference is None:
            st.caption(NO_REFERENCE)
        st.dataframe(run_view.metrics_rows(view), hide_index=True, width="stretch", column_config={
            "class": "class", "forgotten": "forgotten", "test_images": "test images",
            "accuracy_before_pct": st.column_config.NumberColumn("before (%)", format="%.1f"),
            "accuracy_after_pct": st.column_config.NumberColumn("after (%)", format="%.1f"),
            "change_points": st.column_config.NumberColumn("change (points)", format="%+.1f")})

if tabs[1].open:
    with tabs[1]:
        if not r.tensors:
            st.info(f"The {r.mode} method does not use the Fisher information, so there is no sensitivity to show.")
        else:
            widgets.chart(figures.ratio_histogram(*r.ratio_histogram(), model_params=r.total_params,
                                                  model_moved=r.moved_params), key="hist_all")
            st.caption("Every parameter the method weighed, binned by how much more it matters to the forgotten "
                       "classes' codes than to the others'. The green bars are the parameters it moved.")
            by_name = {t.name: t for t in run_view.weighed_tensors(r)}
            layer = st.selectbox("One layer", list(by_name), key=f"layer::{model_id}",
                                 index=list(by_name).index(run_view.busiest_tensor(r).name),
                                 format_func=lambda n: f"{figures.layer_label(n)} ({by_name[n].numel:,} parameters, "
                                                       f"scale s = {by_name[n].scale:.2g})")
            t = by_name[layer]
            widgets.chart(figures.ratio_histogram(r.ratio_edges, t.ratio_counts, t.moved_counts,
                                                  title=f"Sensitivity in {figures.layer_label(layer)}"), key="hist_layer")
            widgets.chart(figures.layer_overview([t.name for t in r.tensors], [t.numel for t in r.tensors],
                                                 [t.moved for t in r.tensors], [t.scale for t in r.tensors]),
                          key="layers")

if tabs[2].open:
    with tabs[2]:
        widgets.chart(figures.prediction_gallery(
            view.code_images, list(view.code_classes), view.codes_before.labels, view.codes_before.confidence,
            view.codes_after.labels, view.codes_after.confidence, names, view.forget,
            "Mnemonic codes: prediction was → now",
            columns=min(10, len(view.code_classes))), key="codes")
        scores = r.code_scores.get(r.sign)
        if scores:
            st.caption(f"On the codes alone, the chosen sign ({r.sign}) recognises {scores[0]:.0%} of the forgotten "
                       f"classes' codes and {scores[1]:.0%} of the others'. This is all the method sees when it decides.")

if tabs[3].open:
    with tabs[3]:
        widgets.chart(figures.prediction_gallery(
            view.sample_images, view.sample_labels, view.samples_before.labels, view.samples_before.confidence,
            view.samples_after.labels, view.samples_after.confidence, names, view.forget,
            "Real test images: prediction was → now", columns=6), key="samples")
        st.caption("The first test images of each forgotten class (framed), then one of each of the first kept classes.")

if tabs[4].open:
    with tabs[4]:
        widgets.chart(figures.confusion_matrices(o.before.confusion, o.after.confusion, names, view.forget,
                                                 retrained=None if reference is None else reference.confusion),
                      key="confusion")
        if reference is None:
            st.caption(NO_REFERENCE)

# --- 4. is it gone? (the depth check, last: everything above is already on screen) ------------------
if view.outcome.depth is None:
    # The browser draws the cards and the chart sent above on the same cores the depth check's forward passes
    # use: a moment's head start shows them 0.5-0.7 s sooner on 2 cores (benchmarks/first_click.py).
    time.sleep(DRAW_FIRST_S)
    try:
        view = audit_state.with_depth(run, path).view
    except (ValueError, RuntimeError) as e:  # e.g. a model whose logits do not come from a linear layer
        banner.empty()
        with banner.container():
            widgets.verdict_banner(view)
            st.caption(f"The depth check could not run on this model: {str(e).splitlines()[0][:300]}")
    else:
        with banner.container():
            widgets.verdict_banner(view)
            st.page_link("app_pages/audit.py", label="See the whole audit: is it gone?", icon=":material/policy:")
