"""One-shot forgetting with mnemonic codes (Yamashita et al., 2023): every mode under one entry point.

``forget(model, codes, classes, mode=...)`` returns a ``ForgetResult`` (a new model; the input is
never modified) whatever the mode, through the method registry (``methods``). Modes (``MODES``; docs/zoo.md and docs/depth.md have the
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

import torch
from torch import nn

from . import registry as methods
from .classifier_edit import (  # noqa: F401  re-exported: the public names of the classifier-layer modes
    CODE_SAFETY, STRENGTHS, VAL_SAFETY, classifier_fisher, code_accuracies_from_logits,
)
from ..layers import classifier_layer  # noqa: F401  re-exported
from .registry import DEFAULT_MODE, Calibration, ForgetRequest
from .paper_rule import (  # noqa: F401  re-exported: the published rule's steps (the guided tour shows them)
    PAPER_LAMBDAS, apply_delta, fisher_ratio, forget_on as _forget_on, paper_perturbation, perturbations,
)
from ..results import HIST_BINS, MOVED_FRACTION, ForgetResult, TensorReport, tensor_reports  # noqa: F401
from ..results import tensor_reports as _reports  # noqa: F401  the name the guided tour shows

__all__ = ["DEFAULT_MODE", "MODES", "NEEDS_VALIDATION", "ForgetResult", "TensorReport", "forget"]

# Views of the method registry (``methods.REGISTRY`` holds each fact): the one-shot modes and what they read.
MODES: dict[str, str] = {name: methods.REGISTRY[name].description for name in methods.names(one_shot=True)}
NEEDS_VALIDATION = frozenset(name for name in MODES if methods.reads_validation(name))


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
    return methods.run(ForgetRequest(mode, model, classes, codes=codes, lambda1=lambda1, lambda2=lambda2,
                                     validation=calibration, device=device, chunk_size=chunk_size))
