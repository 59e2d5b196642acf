"""Shared fixtures: small data, a tiny trained model, and the devices present on this machine."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from unlearning.device import available_devices  # noqa: E402


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """``python -m unlearning *args`` in this process (no interpreter and torch start per call): exit status,
    stdout and stderr as a subprocess would give them. One test in test_cli.py keeps a real process."""
    from unlearning.cli import main

    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse: --help, --version, a malformed command line
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        finally:
            torch.set_num_threads(threads)  # --threads sets the whole process's
    return subprocess.CompletedProcess(["python", "-m", "unlearning", *map(str, args)], code, out.getvalue(),
                                       err.getvalue())

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, children too
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"

# Every device test runs on the CPU, and on CUDA / MPS wherever they exist (skipped otherwise).
DEVICES = [
    pytest.param(d, marks=pytest.mark.skipif(d not in available_devices(), reason=f"no {d} device here"))
    for d in ("cpu", "cuda", "mps")
]


@pytest.fixture(scope="session")
def digits():
    from unlearning.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_mlp(digits):
    """The paper's MLP trained briefly on 8x8 digits (a few seconds): a real, if small, model."""
    from unlearning.pipeline import train_new_model
    from unlearning.training import TrainConfig

    torch.manual_seed(0)
    ckpt, history, _ = train_new_model(digits, "mlp", TrainConfig(epochs=40, t_mix=0.1, seed=0, lr=0.05))
    return ckpt


@pytest.fixture(scope="session")
def digits_cnn(digits):
    from unlearning.pipeline import train_new_model
    from unlearning.training import TrainConfig

    ckpt, _, _ = train_new_model(digits, "cnn", TrainConfig(epochs=3, t_mix=0.1, seed=0))
    return ckpt


@pytest.fixture
def local_models(tmp_path, monkeypatch):
    """Trained and uploaded models go to a fresh folder, never the repository's models/."""
    folder = tmp_path / "models"
    monkeypatch.setenv("UNLEARNING_MODELS", str(folder))
    return folder


def state_hash(model: torch.nn.Module) -> str:
    """A fingerprint of every tensor in a state dict, to prove a model was not touched."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def owned(at) -> Path:
    """The folder of an AppTest session's own models (``models/sessions/<its owner token>``)."""
    from unlearning.storage.folders import owner_dir

    return owner_dir(at.session_state["_owner"])
