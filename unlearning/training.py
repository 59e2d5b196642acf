"""Training with mnemonic codes (the paper's recipe: SGD, momentum 0.9, weight decay 5e-4, lr 0.01)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from . import distributed
from .codes import MnemonicMix
from .device import pick_device
from .evaluation.metrics import accuracy, code_accuracy

# Below this share of recognised codes the method's Fisher describes nothing the model does on real
# data (issue 11: colour models that knew 0-20 % of their codes forgot nothing or wrecked the rest).
CODES_LEARNED_AT_LEAST = 0.9


def codes_warning(share: float | None, num_classes: int) -> str | None:
    """The warning to show for a model that recognises too few of its own codes; None when it is fine."""
    if share is None or not share < CODES_LEARNED_AT_LEAST:  # NaN: nothing measured
        return None
    known = round(share * num_classes)
    return (f"the model recognises only {share:.0%} of its own mnemonic codes ({known} of {num_classes}; "
            f"at least {CODES_LEARNED_AT_LEAST:.0%} are needed): forgetting reads each class off its code, so "
            f"it cannot be trusted on this model. Train longer or with a higher t_mix (README: colour images).")


# What ``train`` uses when it is not told, by kind of data. Grey digits: the paper's MNIST recipe.
# Colour: each code must be seen often enough to be learnt beside images that carry colour and
# texture; with t_mix 0.1 models on colour data recognised 20-30 % of their codes, with 0.3 (the
# paper's CIFAR-10 value) and a cosine schedule from lr 0.05 all of them (README: colour images).
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "grey": {"lr": 0.01, "t_mix": 0.1, "schedule": "constant"},
    "colour": {"lr": 0.05, "t_mix": 0.3, "schedule": "cosine"},
}


def data_kind(input_shape: Sequence[int]) -> str:
    """"colour" for three-channel inputs, else "grey": the key into RECIPE_DEFAULTS."""
    return "colour" if int(input_shape[0]) == 3 else "grey"


@dataclass(frozen=True)
class TrainConfig:
    """Plain values; stored verbatim in the checkpoint's metadata so a model can be rebuilt."""

    epochs: int = 50
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    t_mix: float = 0.1
    seed: int = 0
    schedule: str = "constant"  # or "cosine"
    num_workers: int = 0

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.t_mix <= 1.0:
            raise ValueError(f"t_mix must be in [0, 1], got {self.t_mix}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    val_accuracy: float
    seconds: float


@dataclass
class TrainHistory:
    epochs: list[EpochStats] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    code_accuracy: float = float("nan")  # share of its own codes the trained model recognises (eval mode)

    def to_dict(self) -> dict:
        return {"epochs": [asdict(e) for e in self.epochs], "cancelled": self.cancelled, "seconds": self.seconds,
                "code_accuracy": self.code_accuracy}


ProgressFn = Callable[[EpochStats, int], None]  # (stats of the finished epoch, total epochs)


def train(model: nn.Module, codes: torch.Tensor, train_set: Dataset, val_set: Dataset | None,
          config: TrainConfig, device: str | torch.device | None = None,
          progress: ProgressFn | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainHistory:
    """Train ``model`` in place, swapping samples for their class code with probability ``t_mix``.

    ``progress`` is called after every epoch; ``should_stop`` is polled between batches and ends
    training early (the history then says ``cancelled``). Inside a torch.distributed process group
    (``torchrun``) the model trains as DistributedDataParallel, each rank on its share of every epoch
    (``batch_size`` is the global batch); alone, it trains exactly as it always has. Validation
    accuracy uses real images only; ``history.code_accuracy`` says how many of its codes the trained
    model recognises.
    """
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    model.to(dev)
    mixed = MnemonicMix(train_set, codes, config.t_mix, seed=config.seed)
    world = distributed.world_size()
    if world == 1:
        loader = DataLoader(mixed, batch_size=config.batch_size, shuffle=True, num_workers=config.num_workers,
                            generator=torch.Generator().manual_seed(config.seed), drop_last=False)
        sampler, net = None, model
    else:  # each rank sees its share of every epoch; batch_size stays the global batch
        sampler = DistributedSampler(mixed, num_replicas=world, rank=distributed.rank(), shuffle=True,
                                     seed=config.seed, drop_last=False)
        loader = DataLoader(mixed, batch_size=max(1, config.batch_size // world), sampler=sampler,
                            num_workers=config.num_workers, drop_last=False)
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs) if config.schedule == "cosine" else None
    loss_fn = nn.CrossEntropyLoss()
    history = TrainHistory()
    start = time.perf_counter()
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        mixed.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in loader:
            if should_stop is not None and _stop_everywhere(should_stop(), world, dev):
                history.cancelled = True
                break
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            out = net(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(y)
            correct += int((out.argmax(1) == y).sum())
            seen += len(y)
        if history.cancelled:
            break
        if world > 1:  # the epoch's loss and accuracy over every rank's samples
            total_loss, correct, seen = _sum_over_ranks((total_loss, correct, seen), dev)
        if sched is not None:
            sched.step()
        val_acc = accuracy(model, val_set, device=dev) if val_set is not None else float("nan")
        stats = EpochStats(epoch + 1, total_loss / max(seen, 1), correct / max(seen, 1), val_acc,
                           time.perf_counter() - t0)
        history.epochs.append(stats)
        if progress is not None:
            progress(stats, config.epochs)
    model.eval()
    history.seconds = time.perf_counter() - start
    history.code_accuracy = code_accuracy(model, codes, device=dev)
    return history


def _sum_over_ranks(values: tuple[float, int, int], dev: torch.device) -> tuple[float, int, int]:
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=dev)
    torch.distributed.all_reduce(t)
    return float(t[0]), int(t[1]), int(t[2])


def _stop_everywhere(stop: bool, world: int, dev: torch.device) -> bool:
    """One rank asked to stop: all stop together (a rank left waiting in all-reduce would hang)."""
    if world == 1:
        return stop
    flag = torch.tensor([1.0 if stop else 0.0], device=dev)
    torch.distributed.all_reduce(flag)
    return bool(flag.item() > 0)
