"""Training in a background thread, so the page stays live: progress, curves and a cancel button.

A job belongs to one browser session (it sits in ``st.session_state``); the thread never calls
Streamlit, it only appends epoch statistics that the page reads. Cancelling is polled between
batches; a cancelled run saves nothing.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from unlearning.checkpoints import save_checkpoint
from unlearning.data import Splits
from unlearning.pipeline import train_new_model
from unlearning.storage import SUFFIX, safe_filename, user_models_dir
from unlearning.training import EpochStats, TrainConfig, codes_warning


def unused_path(folder: Path, name: str) -> Path:
    """``folder/<safe name>.safetensors``, numbered when taken: a new model never replaces another."""
    base = safe_filename(name)
    stem = base[: -len(SUFFIX)]
    path, n = folder / base, 1
    while path.exists():
        path = folder / f"{stem}-{n}{SUFFIX}"
        n += 1
    return path


@dataclass
class TrainJob:
    """One training run: its settings, its live progress, and how it ended."""

    dataset: str | Splits  # a registered name, or splits already loaded
    arch: str
    config: TrainConfig
    device: str
    name: str
    folder: Path | None = None  # default: the local models folder
    epochs: list[EpochStats] = field(default_factory=list)
    state: str = "pending"  # pending, running, done, cancelled, failed
    message: str = ""
    path: Path | None = None
    test_accuracy: float | None = None
    warning: str = ""  # e.g. the model did not learn its codes: forgetting on it cannot be trusted
    started: float = 0.0
    finished: float = 0.0
    announced: bool = False  # the page has shown the outcome and selected the model
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state in ("pending", "running")

    @property
    def progress(self) -> float:
        return min(1.0, len(self.epochs) / max(1, self.config.epochs))

    def start(self) -> "TrainJob":
        self.started = time.perf_counter()
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name=f"train-{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (tests and scripts); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _on_epoch(self, stats: EpochStats, total: int) -> None:
        self.epochs.append(stats)

    def _run(self) -> None:
        try:
            ckpt, history, _ = train_new_model(self.dataset, self.arch, self.config, out=None, device=self.device,
                                               progress=self._on_epoch, should_stop=self._stop.is_set)
            if history.cancelled:
                self.state, self.message = "cancelled", f"Cancelled after {len(history.epochs)} epochs; nothing was saved."
                return
            folder = self.folder if self.folder is not None else user_models_dir()
            path = unused_path(folder, self.name)
            save_checkpoint(path, ckpt.model, ckpt.codes, ckpt.meta)
            self.path, self.test_accuracy = path, float(ckpt.meta["test_accuracy"])
            self.state = "done"
            self.message = (f"Saved {path.name}: test accuracy {self.test_accuracy:.1%}, "
                            f"{history.code_accuracy:.0%} of its codes recognised.")
            self.warning = codes_warning(history.code_accuracy, ckpt.num_classes) or ""
        except Exception as e:  # noqa: BLE001 - a failed run is reported on the page, never a traceback
            text = str(e).strip().splitlines()
            self.state, self.message = "failed", (text[0][:400] if text else type(e).__name__)
        finally:
            self.finished = time.perf_counter()
