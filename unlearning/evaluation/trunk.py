"""The original model's activations below an edit, kept so that an edited copy's evaluation runs only the
layers the edit changed.

Why: the one-shot modes edit a model's last layers (``erase``: the last block and the classifier), yet
measuring the result on 10,000 test images ran every layer again: on full-size Fashion-MNIST's ResNet-8,
about 1 s of a 2 s click. A ``Trunk`` holds, for one model and one split, the values that flow from the
unchanged layers into the changed ones (the graph's frontier, found with ``torch.fx``); an edited copy
whose differences lie inside the trunk's changed set is then evaluated from those values on. Anything
else (another edit, a model ``torch.fx`` cannot trace, values that are not one row per image) falls
back to the full forward pass, so the numbers never depend on whether a trunk was at hand.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import fx, nn

from ..data import ImageTensors
from ..device import inference_batch

MAX_BYTES = 512 * 2**20  # a trunk larger than this is not kept: the memory costs more than the full pass


def changed_names(original: nn.Module, edited: nn.Module) -> frozenset[str] | None:
    """Names of the parameters and buffers whose values differ; None when the two are not the same network."""
    a = {**dict(original.named_parameters()), **dict(original.named_buffers())}
    b = {**dict(edited.named_parameters()), **dict(edited.named_buffers())}
    if a.keys() != b.keys() or any(a[n].shape != b[n].shape for n in a):
        return None
    return frozenset(n for n in a if not torch.equal(a[n].detach().cpu(), b[n].detach().cpu()))


@dataclass(frozen=True, eq=False)
class Trunk:
    """What ``original`` computes on ``images`` up to the layers in ``changed`` (read-only once built)."""

    original: nn.Module
    images: ImageTensors
    changed: frozenset[str]
    frontier: tuple[str, ...]  # the graph nodes whose values are kept
    values: tuple[torch.Tensor, ...]  # one [N, ...] tensor per frontier node, on the CPU
    batch_size: int

    def covers(self, model: nn.Module, images: ImageTensors) -> bool:
        """Whether ``model`` differs from the original only inside ``changed``, on these very images."""
        if images is not self.images or next(model.parameters()).device.type != "cpu":
            return False
        diff = changed_names(self.original, model)
        return diff is not None and diff <= self.changed


def _touches(node: fx.Node, changed: frozenset[str]) -> bool:
    if node.op not in ("call_module", "get_attr"):
        return False
    t = str(node.target)
    return any(c == t or c.startswith(t + ".") for c in changed)


def _partition(gm: fx.GraphModule, changed: frozenset[str]) -> tuple[set[fx.Node], set[fx.Node]]:
    """(the nodes an edit of ``changed`` reaches, the nodes that depend on the input images)."""
    dirty: set[fx.Node] = set()
    batch: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            batch.add(node)
        elif any(i in batch for i in node.all_input_nodes):
            batch.add(node)
        if node.op != "output" and (_touches(node, changed) or any(i in dirty for i in node.all_input_nodes)):
            dirty.add(node)
    return dirty, batch


def _frontier(gm: fx.GraphModule, dirty: set[fx.Node], batch: set[fx.Node]) -> list[fx.Node]:
    """The unchanged, image-dependent nodes whose values a changed node reads (or the output's, if none changed)."""
    out = next(n for n in gm.graph.nodes if n.op == "output")
    return [n for n in gm.graph.nodes if n not in dirty and n in batch and n.op != "output"
            and (any(u in dirty for u in n.users) or (out in n.users and not dirty))]


def _sub_graph(gm: fx.GraphModule, inputs: list[fx.Node], keep: Iterable[fx.Node], outputs) -> fx.Graph:
    """A graph with ``inputs`` as placeholders that recomputes ``keep`` (in order) and returns ``outputs``."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {n: graph.placeholder(f"in_{i}") for i, n in enumerate(inputs)}
    keep = set(keep)
    for node in gm.graph.nodes:
        if node in keep and node not in env:
            env[node] = graph.node_copy(node, lambda n: env[n])
    graph.output(fx.node.map_arg(outputs, lambda n: env[n]))
    return graph


def _ancestors(nodes: Iterable[fx.Node], stop: set[fx.Node]) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    todo = list(nodes)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n not in stop:
            todo.extend(n.all_input_nodes)
    return seen


def _traced(model: nn.Module) -> fx.GraphModule | None:
    try:
        return fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - data-dependent control flow and the like: no trunk for this model
        return None


@torch.no_grad()
def build(original: nn.Module, images: ImageTensors, changed: frozenset[str],
          batch_size: int | None = None, max_bytes: int = MAX_BYTES) -> Trunk | None:
    """Run ``original`` once over ``images`` (on the CPU) and keep the values where an edit of ``changed``
    begins; None when the model cannot be split there or the values would exceed ``max_bytes``."""
    if next(original.parameters()).device.type != "cpu":
        return None
    gm = _traced(original)
    if gm is None:
        return None
    dirty, batch = _partition(gm, changed)
    frontier = _frontier(gm, dirty, batch)
    modules = [n for n in gm.graph.nodes if n.op == "call_module"]
    if not frontier or sum(n in dirty for n in modules) > len(modules) // 2:
        return None  # the edit reaches most layers (the published rule's, say): the full pass costs no more
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    keep = _ancestors(frontier, set(placeholders)) - set(placeholders)
    front = fx.GraphModule(gm, _sub_graph(gm, placeholders, keep, tuple(frontier)))
    bs = batch_size or inference_batch(torch.device("cpu"))
    x, _ = images.tensors()
    dtype = next(original.parameters()).dtype
    original.eval()
    parts: list[list[torch.Tensor]] = [[] for _ in frontier]
    size = 0
    for i in range(0, len(x), bs):
        xb = x[i:i + bs].to(dtype)
        for j, v in enumerate(front(xb)):
            if not isinstance(v, torch.Tensor) or v.dim() == 0 or len(v) != len(xb):
                return None  # a shape or a constant, not one row per image: cannot be cut into batches
            parts[j].append(v)
            size += v.numel() * v.element_size()
        if size > max_bytes:
            return None
    values = tuple(torch.cat(p) for p in parts)
    return Trunk(original, images, changed, tuple(n.name for n in frontier), values, bs)


@torch.no_grad()
def tail_logits(trunk: Trunk, model: nn.Module) -> torch.Tensor | None:
    """``model``'s logits on the trunk's images, running only its changed layers from the kept values;
    None when ``model`` cannot be read that way (then run it in full)."""
    gm = _traced(model)
    if gm is None:
        return None
    inputs = _frontier(gm, *_partition(gm, trunk.changed))
    if tuple(n.name for n in inputs) != trunk.frontier:
        return None
    out = next(n for n in gm.graph.nodes if n.op == "output")
    result = out.args[0]
    keep = _ancestors(out.all_input_nodes, set(inputs)) - set(inputs)
    if any(n.op == "placeholder" for n in keep):
        return None
    tail = fx.GraphModule(gm, _sub_graph(gm, inputs, keep, result))
    model.eval()
    n, bs = len(trunk.values[0]), trunk.batch_size
    outs = [tail(*(v[i:i + bs] for v in trunk.values)) for i in range(0, n, bs)]
    if not all(isinstance(o, torch.Tensor) for o in outs):
        return None
    return torch.cat(outs).float()
