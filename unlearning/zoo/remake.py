"""Remaking the zoo: train every recipe from scratch, then measure the forgetting table and write the cards
and ``DEFAULT`` (``python -m unlearning zoo --rebuild``)."""
from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..data import EMBEDDED, load_dataset
from ..storage.checkpoints import save_checkpoint, weights_sha256
from ..storage.folders import SHIPPED_DIR, SUFFIX
from ..storage.safe_io import atomic_write_text
from .cards import card_markdown
from .recipes import MAX_BYTES, RECIPES, TRAIN_THREADS, Recipe, recipe
from .shipped import default_name, list_zoo
from .table import TABLE_CSV, TABLE_MD, TABLE_THREADS, measure, table_markdown, table_rows, write_csv
from .targets import TableSummary, pick_default, summaries


def build(rec: Recipe, folder: Path = SHIPPED_DIR, log: Callable[[str], None] = print,
          device: str | None = None, data_root: str | None = None) -> Path:
    """Train one recipe from scratch (on the GPU when there is one) and save it with its card; returns the path.

    On the CPU, with ``TRAIN_THREADS`` threads, a rebuild gives the same weights bit for bit; the card
    records the device it was trained on."""
    from ..device import describe, pick_device
    from ..models import count_parameters
    from ..pipeline import train_new_model

    dev = pick_device(device)
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        splits = load_dataset(rec.dataset, root=None if rec.dataset in EMBEDDED else data_root, seed=0)
        every = max(1, rec.config.epochs // 10)
        start = time.perf_counter()
        ckpt, history, _ = train_new_model(
            splits, rec.arch, rec.config, device=dev,
            progress=lambda s, n: log(f"  {rec.name}: epoch {s.epoch}/{n} loss {s.loss:.4f} val {s.val_accuracy:.3f}")
            if s.epoch == n or s.epoch % every == 0 else None)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    meta = dict(ckpt.meta)
    meta.pop("created", None)  # a rebuild must give the same file; the date would differ every time
    c, h, w = splits.info.input_shape
    where = "CPU" if dev.type == "cpu" else describe(dev)
    meta["card"] = {
        "title": rec.title, "why": rec.why, "architecture": rec.architecture,
        "parameters": count_parameters(ckpt.model),
        "data": f"{len(splits.train)} training, {len(splits.val)} validation and {len(splits.test)} test "
                f"{'digits' if rec.dataset == 'mnist5k' else 'images'}, {h}x{w} {'grey' if c == 1 else 'colour'}, "
                f"raw [0, 1] pixels",
        "recipe": rec.config.to_dict(), "seed": rec.config.seed,
        "test_accuracy": ckpt.meta["test_accuracy"], "val_accuracy": ckpt.meta["val_accuracy"],
        "training_seconds": round(seconds, 1),
        "trained_on": f"{where} ({platform.machine()}), {TRAIN_THREADS} thread(s), torch {torch.__version__}",
        "weights_sha256": weights_sha256(ckpt),
    }
    path = save_checkpoint(Path(folder) / f"{rec.name}{SUFFIX}", ckpt.model, ckpt.codes, meta)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{path.name} is {size / 2**20:.1f} MiB; zoo models must stay under 10 MiB")
    log(f"{rec.name}: test accuracy {ckpt.meta['test_accuracy']:.4f}, {seconds:.0f} s, {size / 2**20:.2f} MiB")
    return path


def rebuild(folder: Path = SHIPPED_DIR, names: Sequence[str] | None = None, table: bool = True,
            log: Callable[[str], None] = print, data_root: str | None = None) -> list[Path]:
    """Retrain the zoo (or the recipes in ``names``), then remake the forgetting table, the cards and DEFAULT."""
    chosen = [recipe(n) for n in names] if names else list(RECIPES)
    paths = [build(r, folder, log, data_root=data_root) for r in chosen]
    if table:
        make_table(folder=folder, log=log, names=names, data_root=data_root)
    else:
        write_cards(folder)
    return paths


def write_cards(folder: Path = SHIPPED_DIR, summaries_by_model: dict[str, list[TableSummary]] | None = None) -> list[Path]:
    """(Re)write ``<name>.md`` beside every shipped checkpoint; without ``summaries_by_model``, each card
    keeps its model's summary from the committed table (a rebuild without ``--no-table`` must not drop it)."""
    if summaries_by_model is None:
        summaries_by_model = {}
        for s in summaries(table_rows()):
            summaries_by_model.setdefault(s.model, []).append(s)
    written = []
    for m in list_zoo(folder):
        path = m.path.with_suffix(".md")
        atomic_write_text(path, card_markdown(m.name, m.meta, summaries_by_model.get(m.name, ())))
        written.append(path)
    return written


def make_table(folder: Path = SHIPPED_DIR, csv_path: Path = TABLE_CSV, md_path: Path = TABLE_MD,
               modes: Sequence[str] | None = None, write_default: bool = True,
               log: Callable[[str], None] = print, names: Sequence[str] | None = None,
               data_root: str | None = None) -> list[dict[str, Any]]:
    """Measure every shipped model in every mode; write the CSV, the Markdown, the cards and DEFAULT.

    With ``names`` or ``modes``, only those models and modes are measured; the rest keep their rows
    from the existing CSV (a model added to the zoo, or a mode that changed, joins the table without
    re-timing the rest)."""
    from ..methods.registry import DEFAULT_MODE, names as mode_names  # not ``names``: that is the model list

    measured = list(modes) if modes else list(mode_names(one_shot=True))
    # a model or mode left out keeps its rows from the existing CSV
    old = table_rows(path=csv_path) if (names is not None or modes) else []
    threads = torch.get_num_threads()
    torch.set_num_threads(TABLE_THREADS)
    try:
        rows = []
        for m in list_zoo(folder):
            new = (measure(m.load(), m.name, measured, log, data_root) if names is None or m.name in names else [])
            for mode in mode_names(one_shot=True):
                if mode in measured and (names is None or m.name in names):
                    rows += [r for r in new if r["mode"] == mode]
                else:
                    rows += [r for r in old if r["model"] == m.name and r["mode"] == mode]
    finally:
        torch.set_num_threads(threads)
    sums = summaries(rows)
    # The app must open with no data but what ships in pip packages: the default is an embedded-data model.
    embedded = {m.name for m in list_zoo(folder) if m.meta["dataset"] in EMBEDDED}
    default_sums = [s for s in sums if s.mode == DEFAULT_MODE and s.model in embedded]
    default = pick_default(default_sums) if default_sums else default_name(folder)
    if write_default and default_sums:
        atomic_write_text(Path(folder) / "DEFAULT", f"{default}{SUFFIX}\n")
    write_csv(rows, csv_path)
    atomic_write_text(md_path, table_markdown(rows, DEFAULT_MODE, default))
    by_model: dict[str, list[TableSummary]] = {}
    for s in sums:
        by_model.setdefault(s.model, []).append(s)
    write_cards(folder, by_model)
    log(f"wrote {csv_path}, {md_path} and the cards; default model: {default}")
    return rows
