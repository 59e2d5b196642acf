"""Batched evaluation on real held-out data: per-class accuracy, A_F, A_R, E_F, confusion."""
from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import ImageTensors
from ..device import inference_batch, pick_device
from .trunk import Trunk, tail_logits

# What "forgotten" and "kept" mean everywhere (the CLI, the app, the audit, the benchmarks): the forgotten
# classes' real test accuracy at most FORGOTTEN_AT_MOST, and the remaining classes losing at most
# RETAIN_DROP_AT_MOST (a fraction: 0.03 is 3 points).
FORGOTTEN_AT_MOST = 0.02
RETAIN_DROP_AT_MOST = 0.03
# From this many images on, a CPU forward pass through a model with batch-normed convolutions runs as a
# frozen TorchScript copy (batch norm folded into the convolutions, oneDNN kernels): full-size
# Fashion-MNIST's 10,000 test images on ResNet-8 take 0.74 s instead of 1.18 s on 2 threads, tracing
# included. Below it, tracing costs more than it saves; the small CNN (no batch norm) gains nothing.
FROZEN_FROM = 2_000


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor | Dataset, device: str | torch.device | None = None,
            batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits (on the CPU) for a tensor of inputs or a labelled dataset; labels too for a dataset.

    The model is put in eval mode and left there. A model that lives on another device than the
    one asked for runs as a temporary copy there: a shared (cached) model is never moved. Inputs are
    cast to the model's floating dtype (a float16 model gets float16 images).
    ``batch_size`` defaults to the device's ``inference_batch``.
    """
    dev = pick_device(device)
    batch_size = batch_size or inference_batch(dev)
    model.eval()
    param = next(model.parameters(), None)
    if param is not None and param.device.type != dev.type:
        model = copy.deepcopy(model).to(dev)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    labels = None
    if isinstance(inputs, (torch.Tensor, ImageTensors)):
        x_all, labels = (inputs, None) if isinstance(inputs, torch.Tensor) else inputs.tensors()  # no per-item path
        runner = _frozen(model, x_all[:batch_size].to(dev, dtype)) if _worth_freezing(model, dev, dtype, len(x_all)) \
            else model
        outs = [runner(x_all[i:i + batch_size].to(dev, dtype)).float().cpu() for i in range(0, len(x_all), batch_size)]
        return (torch.cat(outs) if outs else torch.empty(0)), labels
    loader = DataLoader(inputs, batch_size=batch_size, shuffle=False)
    xs, ys = [], []
    for x, y in loader:
        xs.append(model(x.to(dev, dtype)).float().cpu())
        ys.append(torch.as_tensor(y))
    return (torch.cat(xs) if xs else torch.empty(0)), (torch.cat(ys) if ys else torch.empty(0, dtype=torch.long))


def _worth_freezing(model: nn.Module, dev: torch.device, dtype: torch.dtype, n: int) -> bool:
    return (dev.type == "cpu" and dtype == torch.float32 and n >= FROZEN_FROM
            and any(isinstance(m, nn.BatchNorm2d) for m in model.modules()))


def _frozen(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """An inference-only TorchScript copy of ``model`` (the model itself when it cannot be traced)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing's deprecation and tracer notes: the copy is checked below
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(copy.deepcopy(model).eval(),
                                                                                       example, check_trace=False)))
            if torch.allclose(frozen(example[:4]), model(example[:4]), rtol=1e-3, atol=1e-4):
                return frozen
    except Exception:  # noqa: BLE001 - an untraceable model runs as it is
        pass
    return model


def accuracy(model: nn.Module, dataset: Dataset, device: str | torch.device | None = None) -> float:
    """Plain top-1 accuracy on a labelled dataset."""
    logits, labels = predict(model, dataset, device)
    return float((logits.argmax(1) == labels).float().mean()) if len(logits) else float("nan")


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of one model on one labelled split; fractions in [0, 1]."""

    per_class_accuracy: tuple[float, ...]
    confusion: np.ndarray  # [true, predicted] counts
    accuracy: float

    @property
    def num_classes(self) -> int:
        return len(self.per_class_accuracy)

    def forget_accuracy(self, forget_classes: Sequence[int]) -> float:
        """A_F: accuracy over all test samples of the forgotten classes (sample-weighted)."""
        return _group_accuracy(self.confusion, forget_classes)

    def retain_accuracy(self, forget_classes: Sequence[int], exclude: Sequence[int] = ()) -> float:
        """A_R: accuracy over all test samples of the remaining classes (sample-weighted).

        ``exclude``: classes that are neither forgotten now nor remaining, such as the classes a
        model had already forgotten before (chained forgetting); they count on neither side.
        """
        gone = set(forget_classes) | set(exclude)
        keep = [c for c in range(self.num_classes) if c not in gone]
        return _group_accuracy(self.confusion, keep)

    def summary(self, forget_classes: Sequence[int], exclude: Sequence[int] = ()) -> dict:
        return {"per_class_accuracy": list(self.per_class_accuracy),
                "forget_accuracy": self.forget_accuracy(forget_classes),
                "retain_accuracy": self.retain_accuracy(forget_classes, exclude)}


def _group_accuracy(confusion: np.ndarray, classes: Sequence[int]) -> float:
    idx = list(classes)
    total = confusion[idx].sum()
    return float(confusion[idx, idx].sum() / total) if total else float("nan")


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    pred = logits.argmax(1).numpy()
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels.numpy(), pred), 1)
    return cm


def evaluation_from_logits(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Evaluation:
    cm = confusion_matrix(logits, labels, num_classes)
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    total = cm.sum()
    return Evaluation(tuple(float(a) for a in per_class), cm, float(np.trace(cm) / total) if total else float("nan"))


def evaluate(model: nn.Module, dataset: Dataset, num_classes: int,
             device: str | torch.device | None = None, batch_size: int | None = None,
             trunk: Trunk | None = None) -> Evaluation:
    """Per-class accuracy and confusion matrix of ``model`` on a labelled split, in batches.

    ``trunk``: the original's kept activations on this split (``unlearning.evaluation.trunk``); when ``model`` differs
    from the original only where the trunk allows, only the changed layers run (same predictions)."""
    if trunk is not None and trunk.covers(model, dataset) and (logits := tail_logits(trunk, model)) is not None:
        return evaluation_from_logits(logits, trunk.images.labels, num_classes)  # no float copy of the images
    logits, labels = predict(model, dataset, device, batch_size)
    return evaluation_from_logits(logits, labels, num_classes)


def forgetting_efficacy(before_forget_accuracy: float, after_forget_accuracy: float) -> float:
    """E_F in percent: the share of the forgotten classes' accuracy that was removed (100 = all)."""
    if not before_forget_accuracy > 0:
        return float("nan")
    return 100.0 * (before_forget_accuracy - after_forget_accuracy) / before_forget_accuracy


@torch.no_grad()
def code_accuracies(model: nn.Module, codes: torch.Tensor, forget_classes: Sequence[int],
                    device: str | torch.device | None = None) -> tuple[float, float]:
    """(accuracy of the forgotten classes' codes, accuracy of the remaining classes' codes)."""
    logits, _ = predict(model, codes, device)
    hit = (logits.argmax(1) == torch.arange(len(codes))).float()
    mask = torch.zeros(len(codes), dtype=torch.bool)
    mask[list(forget_classes)] = True
    return float(hit[mask].mean()), float(hit[~mask].mean())


@torch.no_grad()
def code_accuracy(model: nn.Module, codes: torch.Tensor, classes: Sequence[int] | None = None,
                  device: str | torch.device | None = None) -> float:
    """Share of the codes (of ``classes``, default all) that the model classifies as their own class.

    The method reads a class's parameters off its code: a model that does not recognise its codes
    gives a Fisher that describes nothing it does on real data.
    """
    idx = list(range(len(codes))) if classes is None else sorted(set(int(c) for c in classes))
    if not idx:
        return float("nan")
    logits, _ = predict(model, codes[idx], device)
    return int((logits.argmax(1) == torch.tensor(idx)).sum()) / len(idx)  # exact: 9 of 10 is 0.9, not 0.8999
