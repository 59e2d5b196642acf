"""ui/__init__ says which modules need Streamlit; every other ui module must import without it."""
import subprocess
import sys

from conftest import ROOT
from ui import STREAMLIT_MODULES


def test_exactly_the_listed_ui_modules_import_streamlit():
    # every module of ui/ and its sub-packages, dotted below ui ("session.state"); packages' __init__ left out
    modules = sorted(".".join(p.relative_to(ROOT / "ui").with_suffix("").parts)
                     for p in (ROOT / "ui").rglob("*.py") if p.stem != "__init__")
    assert "session.state" in modules and "session.jobs" in modules  # the sub-package is searched
    script = ("import importlib, sys\n"
              "for m in sys.argv[1:]:  # each from a clean slate: Streamlit and ui dropped after each\n"
              "    importlib.import_module('ui.' + m)\n"
              "    print(m, 'streamlit' in sys.modules)\n"
              "    for k in [k for k in sys.modules if k == 'streamlit' or k.startswith(('streamlit.', 'ui.'))]:\n"
              "        del sys.modules[k]\n")
    out = subprocess.run([sys.executable, "-c", script, *modules], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    uses = {m for m, flag in zip(out[::2], out[1::2]) if flag == "True"}
    assert set(out[::2]) == set(modules)
    assert uses == set(STREAMLIT_MODULES), (uses, STREAMLIT_MODULES)
    backend = list((ROOT / "unlearning").glob("**/*.py"))
    assert backend and not [p.name for p in backend if "streamlit" in p.read_text()]  # the backend never does
