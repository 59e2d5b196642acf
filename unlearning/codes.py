"""Mnemonic codes: one fixed random input-shaped signal per class, and the mixing that teaches them.

Codes live in the raw pixel space [0, 1), exactly like the images the datasets yield; the model
normalises both the same way. This is recorded in checkpoints as ``code_space = "raw"``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

CODE_SPACE = "raw"


def make_codes(num_classes: int, input_shape: Sequence[int], seed: int) -> torch.Tensor:
    """``[num_classes, *input_shape]`` codes drawn from U[0, 1) by a private, seeded generator."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    g = torch.Generator().manual_seed(int(seed))
    return torch.rand((num_classes, *input_shape), generator=g)


class MnemonicMix(Dataset):
    """Wraps any labelled dataset; item i is replaced by its class's code with probability ``t_mix``.

    Which items are swapped is a fixed function of (seed, epoch): call ``set_epoch`` before each
    epoch. The swap mask is computed in the main process, so DataLoader workers see the same
    swaps and runs are reproducible whatever the number of workers.
    """

    def __init__(self, dataset: Dataset, codes: torch.Tensor, t_mix: float, seed: int = 0):
        if not 0.0 <= t_mix <= 1.0:
            raise ValueError(f"t_mix must be in [0, 1], got {t_mix}")
        self.dataset = dataset
        self.codes = codes
        self.t_mix = float(t_mix)
        self.seed = int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(epoch))
        self.epoch = int(epoch)
        self.swap = torch.rand(len(self.dataset), generator=g) < self.t_mix  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        x, y = self.dataset[index]
        if self.swap[index]:
            return self.codes[int(y)].clone(), y
        return x, y
