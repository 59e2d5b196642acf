"""Model: the chosen model's card and codes; upload your own; train a new one with mnemonic codes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from ui import figures, formatting, samples, widgets
from ui.session import jobs, owner, state
from ui.plain import plain, plain_list
from ui.session.jobs import TrainJob
from unlearning.storage.checkpoints import MAX_FILE_BYTES, CheckpointError
from unlearning.data import EMBEDDED, LOADERS
from unlearning.pipeline import previously_forgotten
from unlearning.storage.safe_io import WriteError
from unlearning.storage.folders import store_upload
from unlearning.training import TrainConfig, codes_warning

JOB_KEY = "train_job"
UPLOAD_MB = min(500, MAX_FILE_BYTES // 2**20)  # within the backend's own limit (Streamlit shows 512 MB as "1GB")

st.title("Model")

# --- 1. the chosen model's card ----------------------------------------------------------------------
path = state.selected_path()
ckpt = None
if path is None:
    st.warning("No model is selected yet: upload one or train one below.")
else:
    try:
        ckpt = state.shared_checkpoint(path)
    except (CheckpointError, OSError) as e:
        st.error(f"This model cannot be loaded: {plain(e)}")

if ckpt is not None:
    meta = ckpt.meta
    st.subheader(plain(state.model_name(path)))
    training = meta.get("training") or {}
    acc, val = meta.get("test_accuracy"), meta.get("val_accuracy")
    cols = st.columns(4)
    cols[0].metric("Architecture", meta["arch"], border=True)
    cols[1].metric("Parameters", f"{sum(p.numel() for p in ckpt.model.parameters()):,}", border=True)
    cols[2].metric("Dataset", meta["dataset"], border=True)
    cols[3].metric("Test accuracy", "–" if acc is None else f"{acc:.1%}", border=True,
                   help="On the dataset's held-out test split, real images only.")
    facts = {
        "classes": f"{len(ckpt.class_names)}: {plain_list(ckpt.class_names[:20], 60)}"
                   + (" …" if len(ckpt.class_names) > 20 else ""),
        "input": " × ".join(str(s) for s in meta["input_shape"]),
        "t_mix (share of samples swapped for their code)": meta.get("t_mix", "–"),
        "seed": meta.get("seed", "–"),
        "validation accuracy": "–" if val is None else f"{val:.1%}",
        "codes recognised after training": "–" if meta.get("code_accuracy") is None else f"{meta['code_accuracy']:.0%}",
        "training": ", ".join(f"{k} {training[k]}" for k in ("epochs_run", "lr", "batch_size", "momentum",
                                                             "weight_decay", "schedule") if k in training)
                    + (f", {training['seconds']:.0f} s" if "seconds" in training else "")
                    + (" (cancelled early)" if training.get("cancelled") else ""),
        "created": meta.get("created", "–"),
        "file": str(path),
    }
    if (warning := codes_warning(meta.get("code_accuracy"), len(ckpt.class_names))) is not None:
        st.warning(warning[0].upper() + warning[1:], icon=":material/warning:")
    if meta.get("forgotten"):
        facts["already forgot"] = plain_list(ckpt.class_names[c] for c in previously_forgotten(meta))
    facts_table = "| this model | |\n|---|---|\n" + "\n".join(
        f"| {k} | {v if k in ('classes', 'already forgot') else plain(v)} |" for k, v in facts.items())
    card_md = Path(path).with_suffix(".md")  # the model zoo's card, when there is one
    if card_md.is_file():
        st.markdown(formatting.demote_headings(card_md.read_text(encoding="utf-8"), levels=2))
        with st.expander("Everything the checkpoint says about itself"):
            st.markdown(facts_table)
    else:
        st.markdown(facts_table)
    extra = {k: v for k, v in (meta.get("card") or {}).items() if k != "parameters"}
    if extra:
        with st.expander("More from the card"):
            st.json(extra)

    # --- the codes next to real samples of each class
    try:
        test = state.test_split(ckpt)
    except (ValueError, OSError) as e:
        test = None
        st.info(f"Real samples cannot be shown: {plain(e)}")
    names = ckpt.class_names
    shown = list(range(min(len(names), samples.MAX_GALLERY)))
    if len(names) > samples.MAX_GALLERY:
        picked = st.multiselect("Classes to show", names, default=[names[i] for i in shown],
                                max_selections=samples.MAX_GALLERY, key="gallery_classes")
        shown = [names.index(n) for n in picked]
    if shown and test is not None:
        labels = test.labels.numpy()
        first = [int(np.flatnonzero(labels == c)[0]) if (labels == c).any() else -1 for c in shown]
        shown = [c for c, i in zip(shown, first) if i >= 0]
        first = [i for i in first if i >= 0]
        widgets.chart(figures.code_gallery(samples.to_display(ckpt.codes[shown]),
                                           samples.to_display(test.images[first]), shown, names), key="gallery")
        st.caption("Each class's mnemonic code is a fixed random image. The model learnt to recognise it as that "
                   "class, which is what lets the method find the class's parameters without any real data.")

    broken = [e for e in state.model_entries() if e.error]
    if broken:
        with st.expander(f"{len(broken)} checkpoint(s) in the model folders cannot be used"):
            for e in broken:
                st.markdown(f"- {plain(e.path.name)}: {plain(e.error)}")

st.divider()
upload_tab, train_tab = st.tabs(["Upload a model", "Train a new model"])

# --- 2. upload ---------------------------------------------------------------------------------------
with upload_tab:
    st.markdown("A `.safetensors` checkpoint saved by this app or by `python -m unlearning train` "
                "(weights, mnemonic codes and metadata). Pickled `.pt` files are refused, never opened. "
                "It is yours: listed in this session (and after a refresh), not in anyone else's.")
    up = st.file_uploader("Checkpoint", type=["safetensors"], key="upload", max_upload_size=UPLOAD_MB)
    if up is not None and st.session_state.get("_uploaded") != up.file_id:
        st.session_state["_uploaded"] = up.file_id
        try:
            stored = store_upload(up.getvalue(), up.name, owner.folder(), also=owner.others())
        except (CheckpointError, WriteError) as e:  # a bad file, or a models folder we cannot write
            st.session_state["_upload_error"] = f"{plain(up.name)} cannot be used: {plain(e)}"
        except Exception as e:  # noqa: BLE001 - whatever a file provokes, a sentence, never a traceback
            st.session_state["_upload_error"] = f"{plain(up.name)} cannot be used ({type(e).__name__})"
        else:
            st.session_state.pop("_upload_error", None)
            state.select_model(stored)
            state.flash(f"Uploaded and selected {plain(stored.name)}.")
            st.rerun()
    if st.session_state.get("_upload_error"):
        st.error(st.session_state["_upload_error"], icon=":material/error:")

# --- 3. train ----------------------------------------------------------------------------------------
with train_tab:
    # The owner's job, also one started before a refresh (a new session with the same owner token).
    if (mine := jobs.job_of(owner.current())) is not None:
        st.session_state[JOB_KEY] = mine
    job: TrainJob | None = st.session_state.get(JOB_KEY)
    busy = job is not None and job.running
    with st.form("train_form", border=True):
        c = st.columns(3)
        datasets = list(EMBEDDED) + [d for d in LOADERS if d not in EMBEDDED and d != "imagefolder"]
        dataset = c[0].selectbox("Dataset", datasets, key="train_dataset",
                                 help="mnist5k and digits ship with the app; the others must be in ./data.")
        arch = c[1].selectbox("Architecture", ["mlp", "cnn", "resnet18"], key="train_arch",
                              help="mlp is the paper's MNIST model; cnn is small; resnet18 wants a GPU.")
        epochs = c[2].number_input("Epochs", 1, 500, 20, key="train_epochs")
        c = st.columns(3)
        t_mix = c[0].slider("t_mix", 0.0, 1.0, 0.1, 0.05, key="train_tmix",
                            help="How often a training image is replaced by its class's mnemonic code, so that "
                                 "the model learns the codes too (the probability of the swap; the paper uses 0.1 "
                                 "for MNIST, 0.3 for CIFAR-10).")
        seed = c[1].number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
        lr = c[2].number_input("Learning rate", 1e-5, 1.0, 0.01, format="%.4f", key="train_lr")
        name = st.text_input("Name", value="", placeholder="e.g. my-mlp (default: arch-dataset-epochs-seed)",
                             key="train_name")
        start = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:", disabled=busy)
    st.caption("Trained models are saved as yours (this session's, kept across a refresh) and selected as soon "
               "as they are done. A refresh during training shows it here again.")
    if start and not busy:
        try:
            config = TrainConfig(epochs=int(epochs), t_mix=float(t_mix), seed=int(seed), lr=float(lr))
        except ValueError as e:
            st.error(str(e))
        else:
            job = TrainJob(dataset, arch, config, state.selected_device(),
                           name.strip() or f"{arch}-{dataset}-e{int(epochs)}-s{int(seed)}",
                           folder=owner.folder(), also=owner.others())
            st.session_state[JOB_KEY] = jobs.register(owner.ensure(), job.start())

    job = st.session_state.get(JOB_KEY)

    @st.fragment(run_every=1.0 if job is not None and job.running else None)
    def monitor() -> None:
        """Live progress and curves while the background thread trains; re-drawn every second."""
        job: TrainJob | None = st.session_state.get(JOB_KEY)
        if job is None:
            return
        done = len(job.epochs)
        label = {"running": f"Training {job.name}: epoch {done} of {job.config.epochs}",
                 "pending": f"Training {job.name}: starting",
                 "done": f"Trained {job.name}", "cancelled": f"Cancelled {job.name}",
                 "failed": f"Training {job.name} failed"}[job.state]
        icon = {"done": ":material/check_circle:", "failed": ":material/error:",
                "cancelled": ":material/cancel:"}.get(job.state, ":material/hourglass_top:")
        with st.container(border=True):
            st.markdown(f"{icon} **{label}**")
            st.progress(job.progress, text=f"{done}/{job.config.epochs} epochs"
                        + (f" · validation accuracy {job.epochs[-1].val_accuracy:.1%}" if job.epochs else ""))
            if job.epochs:
                widgets.chart(figures.training_curves(job.epochs, job.config.epochs), key="train_curves")
            if job.running:
                st.button("Cancel training", icon=":material/stop:", on_click=job.cancel, key="train_cancel")
            elif job.state == "failed":
                st.error(job.message)
            else:
                st.write(job.message)
                if job.warning:
                    st.warning(job.warning[0].upper() + job.warning[1:], icon=":material/warning:")
        if not job.running and not job.announced:
            job.announced = True
            if job.state == "done" and job.path is not None:
                state.select_model(job.path)
                state.flash(f"{job.message} It is now the selected model.")
            st.rerun(scope="app")

    monitor()
