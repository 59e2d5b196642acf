"""The package's layers, read from the source with ``ast``: imports only go downwards, and there is no cycle.

Every import counts, the ones inside functions too: a lazy import still ties the modules together.
Modules are named by their dotted path inside ``unlearning`` (``evaluation.audit``, ``cli``), found by
walking the package and its sub-packages. A sub-package groups one family (storage, methods, evaluation,
zoo); the layers below order the modules by what they need, so a family may span two layers (the methods'
Fisher sits below the methods that read it). Storage and core at the bottom, then the methods, then the
evaluation, then the pipeline and its front ends; the app (``ui/``, ``app_pages/``) sits on top, and the
backend never knows it exists.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "unlearning"

# Lowest first; a module may import from its own layer or any layer below it, never above.
LAYERS: list[set[str]] = [
    {"storage.safe_io", "storage.strict_json", "device", "data", "codes", "models", "inputs", "results",
     "methods.sqgrad", "synthetic"},
    {"storage.checkpoints", "storage.folders", "layers", "stages", "methods.fisher", "evaluation.metrics",
     "evaluation.trunk", "distributed", "evaluation.privacy", "training"},  # storage, core
    {"methods.paper_rule", "methods.classifier_edit", "methods.erasure", "methods.deep_erasure", "methods.baselines",
     "methods.registry", "methods.forgetting"},  # the methods
    {"evaluation.audit", "evaluation.references", "evaluation.run_audit"},  # the evaluation
    {"pipeline", "comparison", "tour", "zoo.recipes", "zoo.cards", "zoo.targets", "zoo.shipped", "zoo.table",
     "zoo.remake", "cli", "__main__", "__init__"},  # the pipeline and its front ends
]
APP = {"streamlit", "ui", "app_pages", "app"}  # what the backend never imports
# Sub-packages: each __init__ holds a docstring and nothing else, so importing one module costs that module.
SUBPACKAGES = {"storage", "methods", "evaluation", "zoo"}


def _name(path: Path) -> str:
    """``unlearning/evaluation/audit.py`` -> ``evaluation.audit``; a sub-package's ``__init__`` -> its name."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, text: str | None = None) -> set[str]:
    """Dotted names of everything ``path`` imports; a package-relative import as ``unlearning.<module>``,
    and ``from package import name`` as both ``package`` and ``package.name`` (a name may be a module)."""
    here = ["unlearning", *path.relative_to(PACKAGE).with_suffix("").parts] if path.is_relative_to(PACKAGE) \
        else [path.stem]
    package = here[:-1]  # an __init__'s package is its own folder: the same list
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8") if text is None else text)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # from . import x / from .x import y / from ..x import y
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``unlearning.x.y`` counts as module ``x.y`` where that exists)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        inner = {n.removeprefix("unlearning.") for n in _imports(path) if n.startswith("unlearning.")}
        graph[name] = (inner & set(modules)) - {name} - SUBPACKAGES
    return graph


def test_every_module_has_a_layer():
    placed = set().union(*LAYERS)
    missing = sorted(set(_modules()) - placed - SUBPACKAGES)
    assert not missing, f"add {missing} to a layer in LAYERS (tests/test_layers_import.py)"
    gone = sorted(placed - set(_modules()))
    assert not gone, f"LAYERS names modules that do not exist: {gone}"


def test_sub_packages_are_bare():
    """A sub-package's ``__init__`` imports nothing, so importing ``storage.safe_io`` does not load the storage
    family (or, worse, something above it) behind the layers' back."""
    inits = {n: _imports(p) for n, p in _modules().items() if p.name == "__init__.py" and n in SUBPACKAGES}
    assert set(inits) == SUBPACKAGES
    assert {n: sorted(i) for n, i in inits.items() if i - {"__future__", "__future__.annotations"}} == {}


def test_the_backend_never_imports_the_app():
    offenders = {n: sorted(i for i in _imports(p) if i.split(".")[0] in APP) for n, p in _modules().items()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_imports_only_go_downwards():
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    upward = sorted((m, dep) for m, deps in _graph().items() for dep in deps
                    if m in layer_of and dep in layer_of and layer_of[dep] > layer_of[m])
    assert upward == []


def test_the_storage_and_core_never_import_the_methods_or_the_pipeline():
    """The rule in plain names, so that a change to LAYERS cannot quietly loosen it."""
    low = {"storage.checkpoints", "storage.safe_io", "storage.strict_json", "storage.folders", "data", "codes",
           "models", "device"}
    high = {"methods.forgetting", "methods.registry", "pipeline", "zoo.shipped", "zoo.remake", "cli",
            "evaluation.audit", "comparison"}
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


def test_the_checker_sees_lazy_relative_and_nested_imports():
    """The tests above would pass on a checker that saw nothing: make sure it sees what it must."""
    text = ("from . import safe_io\nfrom ..models import build_model\nfrom .. import data\n"
            "def f():\n    import streamlit as st\n    from unlearning.zoo import DEFAULT\n")
    seen = _imports(PACKAGE / "storage" / "x.py", text)  # as if the file sat in unlearning/storage/
    assert seen >= {"unlearning.storage.safe_io", "unlearning.models", "unlearning.data", "streamlit",
                    "unlearning.zoo"}
    assert _name(PACKAGE / "storage" / "__init__.py") == "storage" and _name(PACKAGE / "__init__.py") == "__init__"
