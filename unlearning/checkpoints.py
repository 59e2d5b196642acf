"""Checkpoints as safetensors: weights, mnemonic codes and JSON metadata. Nothing is ever unpickled.

Layout: tensors ``model.<state-dict key>`` and ``codes``; the safetensors header's metadata holds
one key, ``unlearning``, whose value is the JSON metadata. Loading validates the metadata field
by field, rebuilds the architecture it names, and loads the weights with ``strict=True``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import strict_json
from .codes import CODE_SPACE
from .models import ModelError, build_model
from .safe_io import atomic_write

FORMAT = "mnemonic-unlearning/1"
META_KEY = "unlearning"
MAX_CLASSES = 1000
MAX_SIDE = 1024
MAX_FILE_BYTES = 512 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint file is missing, not safetensors, or inconsistent; the message says what."""


@dataclass(frozen=True)
class Checkpoint:
    model: nn.Module
    codes: torch.Tensor
    meta: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def num_classes(self) -> int:
        return len(self.meta["class_names"])


REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "arch": str,
    "dataset": str,
    "class_names": list,
    "input_shape": list,
    "mean": list,
    "std": list,
    "code_space": str,
}
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "t_mix": (int, float),
    "seed": int,
    "code_seed": int,
    "training": dict,
    "test_accuracy": (int, float),
    "val_accuracy": (int, float),
    "code_accuracy": (int, float),  # share of its own codes the model recognised after training
    "package_version": str,
    "created": str,
    "card": dict,
    "parent": dict,
    "forgotten": dict,
    "data_root": str,  # the folder the training data came from (data.dataset_of looks there first)
}


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_meta(meta: Any) -> dict[str, Any]:
    """Field-by-field check of checkpoint metadata; returns it or raises CheckpointError."""
    if not isinstance(meta, dict):
        raise CheckpointError("metadata must be a JSON object")
    for key, kind in REQUIRED.items():
        if key not in meta:
            raise CheckpointError(f"metadata lacks the field {key!r}")
        if not isinstance(meta[key], kind):
            raise CheckpointError(f"metadata field {key!r} has the wrong type ({type(meta[key]).__name__})")
    for key, kind in OPTIONAL.items():
        if key in meta and meta[key] is not None and (isinstance(meta[key], bool) or not isinstance(meta[key], kind)):
            raise CheckpointError(f"metadata field {key!r} has the wrong type ({type(meta[key]).__name__})")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"unsupported checkpoint format {meta['format']!r} (this version reads {FORMAT!r})")
    names = meta["class_names"]
    if not 2 <= len(names) <= MAX_CLASSES or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in names):
        raise CheckpointError(f"class_names must be 2..{MAX_CLASSES} non-empty strings")
    if len(set(names)) != len(names):
        raise CheckpointError("class_names must be distinct")
    shape = meta["input_shape"]
    if (len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
            or shape[0] not in (1, 3) or not all(1 <= s <= MAX_SIDE for s in shape[1:])):
        raise CheckpointError(f"input_shape must be [1 or 3, height, width] with sides 1..{MAX_SIDE}, got {shape}")
    for key in ("mean", "std"):
        vals = meta[key]
        if len(vals) != shape[0] or not all(_number(v) for v in vals):
            raise CheckpointError(f"{key} must hold {shape[0]} finite numbers, got {vals}")
    if not all(v > 0 for v in meta["std"]):
        raise CheckpointError("std values must be positive")
    if meta["code_space"] != CODE_SPACE:
        raise CheckpointError(f"code_space must be {CODE_SPACE!r}, got {meta['code_space']!r}")
    if "t_mix" in meta and meta["t_mix"] is not None and not 0 <= meta["t_mix"] <= 1:
        raise CheckpointError(f"t_mix must be in [0, 1], got {meta['t_mix']}")
    done = meta.get("forgotten") or {}
    for key in ("forget_classes", "previously_forgotten", "all_forgotten"):  # read back by chained forgetting
        v = done.get(key)
        if v is not None and not (isinstance(v, list) and all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(names) for c in v)):
            raise CheckpointError(f"metadata field forgotten.{key} must list class indices 0..{len(names) - 1}")
    for key in ("test_accuracy", "val_accuracy", "code_accuracy"):
        if meta.get(key) is not None and not (_number(meta[key]) and 0 <= meta[key] <= 1):
            raise CheckpointError(f"{key} must be in [0, 1], got {meta[key]}")
    return meta


def _finite(name: str, t: torch.Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise CheckpointError(f"tensor {name!r} holds NaN or infinite values")


def complete_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Add the format, code space and package version to metadata, and validate it."""
    from . import __version__

    return validate_meta({"format": FORMAT, "code_space": CODE_SPACE, "package_version": __version__, **meta})


def save_checkpoint(path: str | os.PathLike, model: nn.Module, codes: torch.Tensor, meta: dict[str, Any]) -> Path:
    """Write weights, codes and metadata atomically (``safe_io.atomic_write``); returns the path.

    Refuses (WriteError) a target that is a link, a folder, a device or in a folder it cannot write.
    """
    from safetensors.torch import save_file

    meta = complete_meta(meta)
    expected = (len(meta["class_names"]), *meta["input_shape"])
    if tuple(codes.shape) != expected:
        raise CheckpointError(f"codes have shape {tuple(codes.shape)}, expected {expected}")
    if not codes.is_floating_point():
        raise CheckpointError(f"codes must be floating point, got {codes.dtype}")
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tensors["codes"] = codes.detach().to("cpu", torch.float32).contiguous()
    for k, v in tensors.items():
        _finite(k, v)
    header = {META_KEY: strict_json.dumps(meta, sort_keys=True)}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The validated metadata of a checkpoint, from its header alone (no tensor is read)."""
    return _open(path, with_tensors=False)[1]


def _open(path: str | os.PathLike, with_tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint at {str(p)!r}")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"{p.name} is {size / 2**20:.0f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
    with open(p, "rb") as f:
        head = f.read(9)
    # a safetensors file starts with an 8-byte little-endian header length and then '{'
    if len(head) < 9 or head[8:9] != b"{":
        raise CheckpointError(f"{p.name} is not a safetensors file (pickled .pt/.pth files are refused, never opened)")
    try:
        with safe_open(str(p), framework="pt") as f:
            header_meta = f.metadata() or {}
        tensors = load_file(str(p)) if with_tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{p.name} is not a readable safetensors file: {e}") from None
    if META_KEY not in header_meta:
        raise CheckpointError(f"{p.name} has no '{META_KEY}' metadata: it was not saved by this tool")
    try:
        meta = json.loads(header_meta[META_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p.name}: metadata is not valid JSON ({e})") from None
    return tensors, validate_meta(meta)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint; the model comes back in eval mode. Raises CheckpointError."""
    tensors, meta = _open(path)
    if "codes" not in tensors:
        raise CheckpointError("the checkpoint holds no mnemonic codes (tensor 'codes')")
    codes = tensors.pop("codes")
    expected = (len(meta["class_names"]), *meta["input_shape"])
    if tuple(codes.shape) != expected:
        raise CheckpointError(f"codes have shape {tuple(codes.shape)}, but the metadata implies {expected}")
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = [k for k in tensors if not k.startswith("model.")]
    if extra:
        raise CheckpointError(f"unexpected tensors in the checkpoint: {extra[:3]}")
    for k, v in [("codes", codes), *state.items()]:
        _finite(k, v)
    if not codes.is_floating_point():
        raise CheckpointError(f"the codes are stored as {codes.dtype}; mnemonic codes are floating-point images")
    try:
        model = build_model(meta["arch"], meta["input_shape"], len(meta["class_names"]), meta["mean"], meta["std"])
    except ModelError as e:
        raise CheckpointError(f"cannot rebuild the model: {e}") from None
    expected_dtypes = model.state_dict()
    for k, v in state.items():  # load_state_dict would cast integers into float weights without a word
        if k in expected_dtypes and expected_dtypes[k].is_floating_point() and not v.is_floating_point():
            raise CheckpointError(f"weight {k!r} is stored as {v.dtype}; this architecture needs floating-point weights")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"weights do not match architecture {meta['arch']!r} "
                              f"with {len(meta['class_names'])} classes: {' '.join(first[:3])[:400]}") from None
    # the codes follow the model's dtype (float32 here), never the other way round
    return Checkpoint(model.to(device).eval(), codes.to(device, next(model.parameters()).dtype), meta)


def weights_sha256(ckpt: Checkpoint) -> str:
    """SHA-256 over every state-dict tensor (sorted by name) and the codes: what the card vouches for."""
    h = hashlib.sha256()
    tensors = {f"model.{k}": v for k, v in ckpt.model.state_dict().items()}
    tensors["codes"] = ckpt.codes
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()
