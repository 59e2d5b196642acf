"""Training in a background thread, so the page stays live: progress, curves and a cancel button.

A job belongs to its owner (the session's owner token, see ui/session/owner.py): it is kept in a small
process-wide registry by owner, so a refresh of that session (same token, new Streamlit session)
finds it again with its progress and cancel button, and its outcome when it is done; other owners
never see it. The thread never calls Streamlit, it only appends epoch statistics that the page reads.
Cancelling is polled between batches; a cancelled run saves nothing.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from unlearning.storage.checkpoints import save_checkpoint
from unlearning.data import Splits
from unlearning.pipeline import train_new_model
from unlearning.storage.folders import is_owner, unique_path, user_models_dir
from unlearning.training import EpochStats, TrainConfig, codes_warning


def unused_path(folder: Path, name: str, also: tuple[Path, ...] = ()) -> Path:
    """``folder/<safe name>.safetensors``, numbered when taken (there or in ``also``): a new model never
    replaces another."""
    return unique_path(folder, name, also)


@dataclass
class TrainJob:
    """One training run: its settings, its live progress, and how it ended."""

    dataset: str | Splits  # a registered name, or splits already loaded
    arch: str
    config: TrainConfig
    device: str
    name: str
    folder: Path | None = None  # default: the local models folder
    also: tuple[Path, ...] = ()  # folders whose model names the saved file must not repeat
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
            path = unused_path(folder, self.name, self.also)
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


# --- jobs by owner, for the whole process ---------------------------------------------------------------

_JOBS: dict[str, TrainJob] = {}  # owner token -> that owner's latest job
_LOCK = threading.Lock()
MAX_OWNERS = 256  # finished jobs beyond this many owners are forgotten, oldest first


def register(owner: str, job: TrainJob) -> TrainJob:
    """Keep ``job`` as ``owner``'s current job (replacing a finished one); returns it."""
    if not is_owner(owner):
        raise ValueError("jobs are kept by a well-formed owner token")
    with _LOCK:
        _JOBS.pop(owner, None)
        _JOBS[owner] = job  # newest last
        finished = [k for k, j in _JOBS.items() if not j.running and k != owner]
        for k in finished[: max(0, len(_JOBS) - MAX_OWNERS)]:
            del _JOBS[k]
    return job


def job_of(owner: str | None) -> TrainJob | None:
    """``owner``'s current job, running or finished; None for no job (or no owner)."""
    if owner is None:
        return None
    with _LOCK:
        return _JOBS.get(owner)
