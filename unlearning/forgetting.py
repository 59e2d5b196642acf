"""One-shot forgetting with mnemonic codes (Yamashita et al., 2023): every mode under one entry point.

``forget(model, codes, classes, mode=...)`` returns a ``ForgetResult`` (a new model; the input is
never modified) whatever the mode. Modes (``MODES``; docs/zoo.md and docs/depth.md have the
experiments behind them), each in a module of its own:

- ``paper`` (``paper_rule``): the published rule exactly. No data, no gradient steps.
- ``classifier`` / ``calibrated`` (``classifier_edit``): the centred-logit code Fisher ratio on the
  classifier layer only; the sign and strength from the codes, or checked on validation images.
  They change what the model predicts, not its features: the class is hidden, not gone.
- ``erase`` (``erasure``, the default): the forgotten classes erased from the last hidden layer in
  closed form (statistics from one forward pass over validation images), then the ``calibrated``
  edit of the classifier layer. No gradient step on any data.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import nn

from . import deep_erasure, erasure
from .classifier_edit import (  # noqa: F401  re-exported: the public names of the classifier-layer modes
    CODE_SAFETY, STRENGTHS, VAL_SAFETY, calibration_tensors as _calibration_tensors, classifier_fisher,
    code_accuracies_from_logits, forget_on as _forget_classifier_on,
)
from .data import ImageTensors
from .device import describe, pick_device
from .fisher import check_classes, free_cache, is_device_fault
from .inputs import check_forget_inputs
from .layers import classifier_layer  # noqa: F401  re-exported
from .paper_rule import (  # noqa: F401  re-exported: the published rule's steps
    PAPER_LAMBDAS, apply_delta, check_lambda as _check_lambda, fisher_ratio, forget_on as _forget_on,
    paper_perturbation, perturbations,
)
from .results import HIST_BINS, MOVED_FRACTION, ForgetResult, TensorReport, tensor_reports  # noqa: F401
from .results import tensor_reports as _reports  # noqa: F401  the name the guided tour shows

_forget_erase_on = erasure.forget_on
__all__ = ["DEFAULT_MODE", "MODES", "NEEDS_VALIDATION", "ForgetResult", "TensorReport", "forget"]

MODES: dict[str, str] = {
    "paper": "The published rule: code Fisher ratio over every parameter, per-tensor scale min(lambda1, lambda2 / max r), "
             "sign chosen on the codes.",
    "classifier": "Data-free: centred-logit Fisher ratio on the codes, classifier layer only, sign and strength chosen "
                  "on the codes (8x the strength that forgets them).",
    "calibrated": "Classifier-layer ratio as in 'classifier', sign and strength checked on one forward pass over "
                  "validation images (4x the strength that forgets them).",
    "erase": "Removes the classes from the features: closed-form erasure (LEACE) of the forgotten classes from the "
             "last hidden layer, from one forward pass over validation images, then the 'calibrated' edit of the "
             "classifier layer.",
    "deep-erase": "Removes the classes at every stage: a closed-form eraser (LEACE) at every stage of the network, ViT "
                  "included, fitted in forward order on one bounded sample of validation images, then the "
                  "'calibrated' edit of the classifier layer.",
}
DEFAULT_MODE = "erase"  # the app's, the CLI's and the library's default: the mode that best passes the depth audit
NEEDS_VALIDATION = frozenset({"calibrated", "erase", "deep-erase"})
Calibration = Union[ImageTensors, tuple[torch.Tensor, torch.Tensor]]  # labelled validation images


def forget(model: nn.Module, codes: torch.Tensor, classes: Sequence[int],
           lambda1: float = PAPER_LAMBDAS["mnist"][0], lambda2: float = PAPER_LAMBDAS["mnist"][1],
           device: str | torch.device | None = None, chunk_size: int = 16, mode: str = DEFAULT_MODE,
           calibration: Calibration | None = None) -> ForgetResult:
    """Forget ``classes`` from ``model`` in one shot; returns a new model.

    ``mode`` is one of ``MODES`` (default ``DEFAULT_MODE``; "paper" is the published rule, and
    ``lambda1`` / ``lambda2`` apply to it only). "calibrated" and "erase" need ``calibration``: labelled validation images (an
    ``ImageTensors`` or an ``(images, labels)`` pair of tensors), used for one batched forward
    pass, never for a gradient. ``model`` is never modified. Raises ValueError on an unknown mode,
    an empty or full class list, an unknown class, lambdas that are not positive finite numbers,
    a missing calibration set, or (classifier-layer modes) a model whose logits do not come out of
    a linear layer. If the accelerator fails the run moves to the CPU, and ``notes`` says so.
    """
    if mode not in MODES:
        raise ValueError(f"unknown forgetting mode {mode!r}; choose one of {sorted(MODES)}")
    checked = check_forget_inputs(model, codes, classes)  # strict types; a half-precision model becomes float32
    model, codes, chosen = checked.model, checked.codes, checked.classes
    dev = pick_device(device)
    notes: list[str] = list(checked.notes)
    lambda1, lambda2 = _check_lambda("lambda1", lambda1), _check_lambda("lambda2", lambda2)  # in every mode
    if mode == "paper":
        def run(dev: torch.device) -> ForgetResult:
            return _forget_on(dev, model, codes, chosen, lambda1, lambda2, chunk_size, notes)
    else:
        images = labels = None
        if mode in NEEDS_VALIDATION:
            images, labels = _calibration_tensors(calibration, codes)
        def run(dev: torch.device) -> ForgetResult:
            if mode == "erase":
                return _forget_erase_on(dev, model, codes, chosen, images, labels, notes)
            if mode == "deep-erase":
                return deep_erasure.forget_on(dev, model, codes, chosen, images, labels, notes)
            return _forget_classifier_on(dev, model, codes, chosen, mode, images, labels, notes)
    try:
        return run(dev)
    except RuntimeError as e:
        if dev.type == "cpu" or not is_device_fault(e):
            raise
        free_cache(dev)
        notes.append(f"{describe(dev)} failed ({str(e).splitlines()[0][:120]}); forgot on the CPU instead")
        return run(torch.device("cpu"))
