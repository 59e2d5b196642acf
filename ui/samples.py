"""Which images a page shows, and in what form: the codes and test images of a gallery, as uint8 pixels.

Deterministic (the first images in split order), so before and after always show the same images. No Streamlit.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

MAX_GALLERY = 12  # images per gallery row: readable on a projector


def pick_samples(labels: np.ndarray | torch.Tensor, forget: Sequence[int], per_forgotten: int = 4,
                 kept_classes: int = 6) -> np.ndarray:
    """Indices of test images to show: the first few of each forgotten class, then one per kept class.

    Deterministic (the first in split order), so before and after always show the same images.
    """
    labels = np.asarray(labels)
    forget = sorted(set(int(c) for c in forget))
    per_forgotten = max(1, min(per_forgotten, MAX_GALLERY // max(1, len(forget))))
    chosen: list[int] = []
    for c in forget:
        chosen.extend(np.flatnonzero(labels == c)[:per_forgotten].tolist())
    kept = [c for c in np.unique(labels).tolist() if c not in forget][:kept_classes]
    for c in kept:
        chosen.extend(np.flatnonzero(labels == c)[:1].tolist())
    return np.asarray(chosen, dtype=np.int64)


def gallery_classes(num_classes: int, forget: Sequence[int], limit: int = MAX_GALLERY) -> list[int]:
    """Which classes' codes to show: all when they fit, else the forgotten ones then the first kept ones."""
    if num_classes <= limit:
        return list(range(num_classes))
    forget = sorted(set(int(c) for c in forget))[:limit]
    kept = [c for c in range(num_classes) if c not in forget][: max(0, limit - len(forget))]
    return forget + kept


def to_display(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """[N, C, H, W] images (uint8, or float in [0, 1]) as uint8 [N, H, W, 3] for drawing."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.round(x.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
