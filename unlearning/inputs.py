"""Strict checks of what callers hand the library: class lists, models, mnemonic codes.

Careless input must be refused with one clear sentence, never coerced into a different question:
``int(2.7)`` would forget class 2, ``True`` would forget class 1, the string ``"29"`` iterated would
forget classes 2 and 9. So classes are integers (``int``, numpy or 0-d integer torch scalars) or,
where class names are known, names; nothing else. Codes must be floating point, one per class of
the model, shaped like its input; they are cast to the model's dtype, never the model to theirs.
"""
from __future__ import annotations

import copy
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

HALF_DTYPES = (torch.float16, torch.bfloat16)
_DIGITS = re.compile(r"[0-9]+")


def _one_class(c: object, names: Sequence[str] | None) -> int:
    if isinstance(c, str):
        if names is not None and c in names:
            return list(names).index(c)
        known = f"; classes are {list(names)}" if names is not None else ""
        raise ValueError(f"classes must be integers (class indices){' or class names' if names is not None else ''}, "
                         f"got the string {c!r}{known}")
    if isinstance(c, (bool, np.bool_)) or (isinstance(c, torch.Tensor) and c.dtype == torch.bool):
        raise ValueError(f"classes must be integers (class indices), got the boolean {c!r}")
    try:
        return operator.index(c)  # int, numpy integers, 0-d integer tensors; never a float
    except TypeError:
        raise ValueError(f"classes must be integers (class indices), got {c!r} ({type(c).__name__})") from None


def check_classes(classes: Iterable[int | str], num_classes: int, names: Sequence[str] | None = None) -> list[int]:
    """Sorted unique class indices; refuses non-integers, an empty set, all classes, out-of-range indices.

    ``classes`` is a collection (a list, tuple, set, array) of integer indices, or of class names
    when ``names`` is given. A bare string or number is refused rather than guessed at.
    """
    if isinstance(classes, (str, bytes)):
        raise ValueError(f"classes must be a list of class indices, got the string {classes!r}")
    if isinstance(classes, torch.Tensor) and classes.dim() == 0 or not isinstance(classes, Iterable):
        raise ValueError(f"classes must be a list of class indices, got {classes!r}")
    chosen = sorted({_one_class(c, names) for c in classes})
    if not chosen:
        raise ValueError("choose at least one class to forget")
    bad = [c for c in chosen if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"unknown class index {bad[0]}: this model has classes 0..{num_classes - 1}")
    if len(chosen) == num_classes:
        raise ValueError("cannot forget every class: at least one class must remain")
    return chosen


def class_index(token: str, names: Sequence[str]) -> int:
    """A class typed on the command line: a class name (any case: ``trouser``, ``ANKLE BOOT``), else a plain
    decimal index (no sign, no point)."""
    if token in names:
        return list(names).index(token)
    folded = [i for i, n in enumerate(names) if n.casefold() == token.casefold()]
    if len(folded) == 1:
        return folded[0]
    if _DIGITS.fullmatch(token):
        return int(token)
    raise ValueError(f"unknown class {token!r}; classes are {list(names)} or their indices 0..{len(names) - 1}")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The one floating dtype of a model's parameters; refuses integer weights or a mix of dtypes."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    dtypes = {p.dtype for p in model.parameters()}
    if any(p.device.type == "meta" for p in model.parameters()):
        raise ValueError("the model's weights are on the 'meta' device (shapes without values); load real weights first")
    if not dtypes:
        raise ValueError("the model has no parameters: there is nothing to forget")
    odd = sorted(str(d) for d in dtypes if not d.is_floating_point)
    if odd:
        raise ValueError(f"the model has weights of dtype {', '.join(odd)}; forgetting needs floating-point weights")
    if len(dtypes) > 1:
        raise ValueError(f"the model mixes parameter dtypes {sorted(map(str, dtypes))}; cast it to one first")
    return dtypes.pop()


@torch.no_grad()
def check_codes(model: nn.Module, codes: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """``codes`` as the model's dtype, after checking they are one floating, finite input per output class.

    One code goes through the model (eval mode, restored after) to prove the shape fits and that
    the model has ``len(codes)`` outputs.
    """
    if not isinstance(codes, torch.Tensor):
        raise ValueError(f"codes must be a torch.Tensor, got {type(codes).__name__}")
    if not codes.is_floating_point():
        raise ValueError(f"codes must be floating point (images in [0, 1]), got {codes.dtype}")
    if codes.device.type == "meta":
        raise ValueError("codes are on the 'meta' device (shapes without values); load or compute real codes first")
    if codes.dim() < 2 or len(codes) < 2:
        raise ValueError(f"codes must be [classes, *input shape] with at least 2 classes, got {tuple(codes.shape)}")
    if num_classes is not None and len(codes) != num_classes:
        raise ValueError(f"there are {len(codes)} codes for {num_classes} classes; there must be one per class")
    if not bool(torch.isfinite(codes).all()):
        raise ValueError("codes hold NaN or infinite values")
    dtype = model_dtype(model)
    param = next(model.parameters())
    probe = codes[:1].to(param.device, dtype)
    was_training = model.training
    model.eval()
    try:
        out = model(probe)
    except (RuntimeError, ValueError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ValueError(f"codes of shape {tuple(codes.shape[1:])} do not fit this model's input ({first})") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ValueError(f"the model must return [batch, classes] logits, got {getattr(out, 'shape', type(out))}")
    if out.shape[1] != len(codes):
        raise ValueError(f"the model has {out.shape[1]} outputs but there are {len(codes)} codes; "
                         "there must be one code per class")
    return codes.to(dtype)


@dataclass(frozen=True)
class ForgetInputs:
    """What ``forgetting.forget`` works on once its inputs are checked."""

    model: nn.Module  # the caller's model, or a float32 copy of a half-precision one
    codes: torch.Tensor  # in the model's dtype
    classes: list[int]
    notes: tuple[str, ...] = ()


def check_forget_inputs(model: nn.Module, codes: torch.Tensor, classes: Iterable[int | str],
                        names: Sequence[str] | None = None) -> ForgetInputs:
    """Every check ``forget`` needs, in one call. A float16 / bfloat16 model is worked on as a float32 copy.

    Squared gradients of 1e-16 and ratios of 1e+8 do not survive half precision, so the Fisher and
    the perturbation are computed in float32; the forgotten model comes back in float32 (a note says so).
    The caller's model is never changed.
    """
    dtype = model_dtype(model)
    notes: tuple[str, ...] = ()
    if dtype in HALF_DTYPES:
        model = copy.deepcopy(model).float()
        notes = (f"the model is {str(dtype).removeprefix('torch.')}: forgetting ran in float32 and the forgotten "
                 "model is float32",)
    codes = check_codes(model, codes)
    chosen = check_classes(classes, len(codes), names)
    return ForgetInputs(model, codes, chosen, notes)
