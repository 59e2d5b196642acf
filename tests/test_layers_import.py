"""The package's layers, read from the source with ``ast``: imports only go downwards, and there is no cycle.

Every import counts, the ones inside functions too: a lazy import still ties the modules together.
Storage and core at the bottom, then the methods, then the evaluation, then the pipeline and its front
ends; the app (``ui/``, ``app_pages/``) sits on top, and the backend never knows it exists.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "unlearning"

# Lowest first; a module may import from its own layer or any layer below it, never above.
LAYERS: list[set[str]] = [
    {"safe_io", "strict_json", "device", "data", "codes", "models", "inputs", "results", "sqgrad", "synthetic"},
    {"checkpoints", "storage", "layers", "stages", "fisher", "metrics", "trunk", "distributed", "privacy", "training"},  # storage, core
    {"paper_rule", "classifier_edit", "erasure", "deep_erasure", "baselines", "methods", "forgetting"},  # the methods
    {"audit", "references"},  # the evaluation
    {"pipeline", "comparison", "tour", "zoo", "cli", "__main__", "__init__"},  # the pipeline and its front ends
]
APP = {"streamlit", "ui", "app_pages", "app"}  # what the backend never imports


def _imports(path: Path) -> set[str]:
    """Top-level names of everything ``path`` imports; a package-relative import as ``unlearning.<module>``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # from . import x / from .x import y
                module = f"unlearning.{module}" if module else "unlearning"
            if module == "unlearning":
                names |= {f"unlearning.{a.name}" for a in node.names}
            else:
                names.add(module)
    return names


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        inner = {n.split(".")[1] for n in _imports(path) if n.startswith("unlearning.")}
        graph[path.stem] = inner & modules
    return graph


def test_every_module_has_a_layer():
    placed = set().union(*LAYERS)
    missing = sorted({p.stem for p in PACKAGE.glob("*.py")} - placed)
    assert not missing, f"add {missing} to a layer in LAYERS (tests/test_layers_import.py)"


def test_the_backend_never_imports_the_app():
    offenders = {p.name: sorted(n for n in _imports(p) if n.split(".")[0] in APP) for p in PACKAGE.glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_imports_only_go_downwards():
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    upward = sorted((m, dep) for m, deps in _graph().items() for dep in deps
                    if m in layer_of and dep in layer_of and layer_of[dep] > layer_of[m])
    assert upward == []


def test_the_storage_and_core_never_import_the_methods_or_the_pipeline():
    """The rule in plain names, so that a change to LAYERS cannot quietly loosen it."""
    low = {"checkpoints", "safe_io", "strict_json", "storage", "data", "codes", "models", "device"}
    high = {"forgetting", "methods", "pipeline", "zoo", "cli", "audit", "comparison"}
    graph = _graph()
    assert {m: graph[m] & high for m in low if graph[m] & high} == {}


def test_no_import_cycle():
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        for dep in sorted(graph[module]):
            cycle = visit(dep, path + [module])
            if cycle:
                return cycle
        done.add(module)
        return None

    cycles = [c for m in sorted(graph) if (c := visit(m, []))]
    assert cycles == []


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The test above would pass on a checker that saw nothing: make sure it sees what it must."""
    path = tmp_path / "x.py"
    path.write_text("from . import data\nfrom .models import build_model\n"
                    "def f():\n    import streamlit as st\n    from unlearning.zoo import DEFAULT\n")
    assert _imports(path) >= {"unlearning.data", "unlearning.models", "streamlit", "unlearning.zoo"}
