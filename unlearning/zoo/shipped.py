"""The shipped checkpoints in assets/models: listed in recipe order, found by name or path, and the default."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..storage.checkpoints import Checkpoint, load_checkpoint, read_meta
from ..storage.folders import SHIPPED_DIR, SUFFIX
from .cards import card_markdown
from .recipes import FULL_SIZE_DEFAULT, RECIPES, recipe


@dataclass(frozen=True)
class ZooModel:
    """One shipped checkpoint with its card (metadata only; load the weights with ``load()``)."""

    name: str
    path: Path
    meta: dict[str, Any]
    is_default: bool
    card_path: Path

    @property
    def card(self) -> dict[str, Any]:
        return dict(self.meta.get("card", {}))

    def load(self, device: str | torch.device = "cpu") -> Checkpoint:
        return load_checkpoint(self.path, device=device)

    def card_markdown(self) -> str:
        return self.card_path.read_text() if self.card_path.is_file() else card_markdown(self.name, self.meta)


def default_name(folder: Path = SHIPPED_DIR) -> str:
    marker = folder / "DEFAULT"
    text = marker.read_text().strip() if marker.is_file() else ""
    return text[: -len(SUFFIX)] if text.endswith(SUFFIX) else text


def dataset_default(dataset: str, folder: Path = SHIPPED_DIR) -> str:
    """The model offered first for a dataset: the full-size default on Fashion-MNIST, else ``DEFAULT``'s."""
    return FULL_SIZE_DEFAULT if dataset == recipe(FULL_SIZE_DEFAULT).dataset else default_name(folder)


def list_zoo(folder: Path = SHIPPED_DIR) -> list[ZooModel]:
    """The shipped models in recipe order (the default first, then the full-size default), with their metadata."""
    default = default_name(folder)
    order = {r.name: i for i, r in enumerate(RECIPES)}
    found = []
    for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
        if path.name.startswith("."):
            continue
        name = path.name[: -len(SUFFIX)]
        found.append(ZooModel(name, path, read_meta(path), name == default, path.with_suffix(".md")))
    return sorted(found, key=lambda m: (not m.is_default, m.name != FULL_SIZE_DEFAULT, order.get(m.name, len(order)),
                                        m.name))


def find_model(name_or_path: str, folder: Path = SHIPPED_DIR) -> ZooModel:
    """A shipped model by name (``resnet8-fashion``) or any checkpoint by path; ValueError naming the choices."""
    for m in list_zoo(folder):
        if m.name == name_or_path:
            return m
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return ZooModel(path.name.removesuffix(SUFFIX), path, read_meta(path), False, path.with_suffix(".md"))
    raise ValueError(f"{name_or_path!r} is neither a shipped model ({', '.join(m.name for m in list_zoo(folder))}) "
                     f"nor a checkpoint file")
