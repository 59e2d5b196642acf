"""Shared fixtures and helpers: small data, a tiny trained model, the devices present on this machine,
hand-made hostile checkpoint files, and the app driven through streamlit.testing (tests/README.md maps
which test file covers which module)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from unlearning.device import available_devices  # noqa: E402
from unlearning.storage.folders import SHIPPED_DIR, SUFFIX, default_model_path  # noqa: E402


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


# --- Hand-made checkpoint files, written byte by byte as an attacker would (test_checkpoints, test_cli,
# test_model_page) ----------------------------------------------------------------------------------------

def tiny_meta(**over) -> dict:
    from unlearning.storage import checkpoints
    from unlearning.codes import CODE_SPACE

    meta = {"format": checkpoints.FORMAT, "code_space": CODE_SPACE, "arch": "mlp", "dataset": "digits",
            "class_names": [str(i) for i in range(10)], "input_shape": [1, 8, 8], "mean": [0.0], "std": [1.0]}
    return {**meta, **over}


def raw_checkpoint(path: Path, meta_text: str | None, tensors: dict[str, tuple[str, list[int]]],
                   extra_meta: str = "") -> Path:
    """A safetensors file built byte by byte: ``tensors`` name -> (dtype, shape), filled with zeros;
    ``extra_meta`` is spliced into the header's metadata object as is (duplicate keys, odd values)."""
    size = {"F32": 4, "F16": 2, "I32": 4, "I64": 8}
    entries, offset = [], 0
    for name, (dtype, shape) in tensors.items():
        n = size[dtype]
        for s in shape:
            n *= s
        entries.append(f'{json.dumps(name)}: {{"dtype": "{dtype}", "shape": {json.dumps(shape)}, '
                       f'"data_offsets": [{offset}, {offset + n}]}}')
        offset += n
    meta_items = [] if meta_text is None else [f'"unlearning": {json.dumps(meta_text)}']
    if extra_meta:
        meta_items.append(extra_meta)
    header = "{" + ", ".join([f'"__metadata__": {{{", ".join(meta_items)}}}', *entries]) + "}"
    raw = header.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return path


def mlp_tensors(classes: int = 10, shape=(1, 8, 8)) -> dict[str, tuple[str, list[int]]]:
    inputs = 1
    for s in shape:
        inputs *= s
    return {"codes": ("F32", [classes, *shape]), "model.net.fc1.weight": ("F32", [1000, inputs]),
            "model.net.fc1.bias": ("F32", [1000]), "model.net.fc2.weight": ("F32", [classes, 1000]),
            "model.net.fc2.bias": ("F32", [classes])}


# --- Write targets that must be refused (test_checkpoints, test_cli) --------------------------------------

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder``: kind, mode, device number, link target, bytes of regular files."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        out[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_rdev,
                                           os.readlink(p) if p.is_symlink() else None,
                                           p.read_bytes() if stat.S_ISREG(st.st_mode) else None)
    return out


def make_target(folder: Path, kind: str) -> Path:
    target = folder / "target.safetensors"
    if kind == "character device":
        if not IS_ROOT:
            pytest.skip("making a character device needs root")
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    elif kind == "symbolic link":
        (folder / "precious.txt").write_text("keep me")
        target.symlink_to(folder / "precious.txt")
    elif kind == "dangling link":
        target.symlink_to(folder / "nowhere.safetensors")
    elif kind == "directory":
        target.mkdir()
        (target / "inside.txt").write_text("keep me too")
    return target


# --- Reading what the project writes (test_cli, test_strict_json; test_links, test_plain) -----------------

def _strict(text: str):
    """JSON that must be strict: NaN or Infinity in it fails the test."""
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _unescaped(shown: str) -> str:
    """The markdown left live in ``shown``: a special character without its backslash, or (in the text as
    parsed, backslashes gone) an autolink or a Streamlit directive, or a list mark at the start."""
    from ui.plain import DIRECTIVE_COLON, SPECIAL

    found = "".join(c for c in re.sub(r"\\.", "", shown) if c in SPECIAL)
    parsed = re.sub(r"\\(.)", r"\1", shown)
    if DIRECTIVE_COLON.search(parsed) or re.search(r"(?i)\bwww\.|@[\w.+-]", parsed):
        found += "(autolink or directive)"
    if re.match(r"[-+=]|\d+[.)]", shown):
        found += "(list)"
    return found


def _ev(per_class):
    """An Evaluation with these per-class accuracies, 100 images a class (test_pipeline, test_metrics)."""
    import numpy as np

    from unlearning.evaluation.metrics import Evaluation

    cm = np.diag([int(round(100 * a)) for a in per_class]).astype(np.int64)
    for i, a in enumerate(per_class):  # put the misses in the next class so each row sums to 100
        cm[i, (i + 1) % len(per_class)] += 100 - int(round(100 * a))
    return Evaluation(tuple(per_class), cm, float(np.trace(cm) / cm.sum()))


# --- The app through streamlit.testing's AppTest (no browser): the page tests, test_app, test_state,
# test_links, test_style. Several AppTest objects are several browser sessions of one server, in this
# process, sharing its st.cache_resource caches exactly as real sessions do. ---------------------------------

APP = str(ROOT / "app.py")
TIMEOUT = 120  # seconds per script run: generous, for a loaded 2-core CI machine
MODEL_ID = default_model_path().name.removesuffix(".safetensors")  # the shipped default, preselected
CLASSES = f"classes::{MODEL_ID}"
MLP = ROOT / "assets" / "models" / "mlp-mnist5k.safetensors"  # the paper's model, for its known behaviour
FORGET_PAGE = "app_pages/forget.py"


def quick_model() -> Path:
    """The model that is quickest in the app with its depth check: the shipped ResNet-8 (its 64 features
    make each 10-shot probe ~0.2 s, against ~8 s on the paper MLP's 1,000), else the smallest shipped one."""
    quick = SHIPPED_DIR / f"resnet8-mnist5k{SUFFIX}"
    return quick if quick.is_file() else min(SHIPPED_DIR.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_size)


MODEL = quick_model()  # the sessions of session() below choose it
STEM = MODEL.name[: -len(SUFFIX)]
CLASSES_KEY = f"classes::{STEM}"


@pytest.fixture(scope="session")
def mnist_test():
    from unlearning.data import load_dataset

    return load_dataset("mnist5k").test


@pytest.fixture(scope="session")
def default_ckpt():
    from unlearning.storage.checkpoints import load_checkpoint

    return load_checkpoint(default_model_path())


@pytest.fixture(scope="session")
def ckpt():
    """The quick model (``MODEL``) that session() chooses, loaded once per worker."""
    from unlearning.storage.checkpoints import load_checkpoint

    return load_checkpoint(MODEL)


def backend(ckpt, test, classes, mode: str | None = None):
    """The backend's own result for what the app runs: its default method unless told otherwise."""
    from ui import method_text
    from unlearning.methods import registry as methods
    from unlearning.data import load_dataset
    from unlearning.pipeline import forget_and_evaluate

    mode = method_text.default_mode() if mode is None else mode
    calibration = load_dataset(ckpt.meta["dataset"]).val if methods.reads_validation(mode) else None
    return forget_and_evaluate(ckpt, test, classes, device="cpu", mode=mode, calibration=calibration)


def _app(query: dict | None = None, page: str | None = None):
    """A new browser session with ``query`` in its address, moved to ``page``; no exception on the way."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params = query
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def app(page: str | None = None):
    """A new browser session on the shipped default model, moved to ``page``."""
    return _app(page=page)


def _shown_text(at) -> list[str]:
    return [m.value for kind in (at.warning, at.error, at.info, at.markdown, at.caption) for m in kind]


def paper_rule(at):
    """Choose the paper's rule on the Forget page when the backend offers several methods."""
    if any(w.key == "mode" for w in at.selectbox):
        at.selectbox(key="mode").set_value("paper").run()
    return at


def charts(at) -> dict[str, object]:
    """The page's Plotly figures by title."""
    import plotly.io as pio

    out = {}
    for el in at.get("plotly_chart"):
        fig = pio.from_json(el.proto.spec)
        out[fig.layout.title.text] = fig
    return out


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def session(page: str = FORGET_PAGE):
    """A new browser session on ``page`` with the quick model (``MODEL``) chosen in the sidebar."""
    from streamlit.testing.v1 import AppTest

    from ui.session import state

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key=state.MODEL_KEY).set_value(str(MODEL)).run()
    if page:
        at.switch_page(page).run()
    no_exception(at)
    return at


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def forget(at, names: list[str]):
    """Choose ``names`` and press Forget (one script run, as a browser sends both)."""
    at.multiselect(key=CLASSES_KEY).set_value(names).run()
    at.button(key="forget_button").click().run()
    no_exception(at)
    return at


def shown(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected(outcome) -> dict[str, str]:
    c = list(outcome.result.forget_classes)
    return {"A_F · forgotten classes": f"{100 * outcome.after.forget_accuracy(c):.1f}%",
            "A_R · remaining classes": f"{100 * outcome.after.retain_accuracy(c):.1f}%",
            "E_F · accuracy removed": f"{outcome.efficacy:.1f}%"}


def result_headers(at) -> list[str]:
    return [h.value for h in at.header if h.value.startswith("Forgetting ")]


def banner(at) -> tuple[str, str]:
    """The verdict box of the Forget page: its tone ("ok" green, "warn" amber, "bad" red) and its text."""
    for tone, alerts in (("ok", at.success), ("warn", at.warning), ("bad", at.error)):
        for a in alerts:
            if "Outputs:" in a.value:
                return tone, a.value.replace("**", "")  # the title is in bold
    raise AssertionError("no verdict banner on the page")


def _quick_settings():
    from hypothesis import HealthCheck, settings

    return settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


QUICK = _quick_settings()  # Hypothesis, for the property tests of test_checkpoints and test_links
