"""Checkpoints as safetensors: weights, mnemonic codes and JSON metadata. Nothing is ever unpickled.

Layout: tensors ``model.<state-dict key>`` and ``codes``; the safetensors header's metadata holds
one key, ``unlearning``, whose value is the JSON metadata. Loading validates the metadata field
by field, rebuilds the architecture it names, and loads the weights with ``strict=True``.

A file may be hostile, so nothing it declares is trusted before it is checked, and nothing is
allocated before the declared sizes are checked against the limits below and against the tensors
the file really holds: the header is read and parsed here (bounded, duplicate keys refused), the
architecture is first built on the ``meta`` device (shapes only, no memory), and only a model whose
every weight is in the file and whose size is within ``MAX_PARAMS`` is built for real.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import strict_json
from ..codes import CODE_SPACE
from ..models import ModelError, build_model, check_arch
from .safe_io import atomic_write

FORMAT = "mnemonic-unlearning/1"
META_KEY = "unlearning"
MAX_CLASSES = 1000
MAX_SIDE = 1024
MAX_FILE_BYTES = 512 * 1024 * 1024
# Resource limits on loading (README "Limits"): what a file may ask of this process before it is refused.
MAX_PARAMS = 100_000_000  # weights and buffers of the model (400 MB as float32); ViT-B/16 is 86 M
MAX_HEADER_BYTES = 1024 * 1024  # the safetensors header: tensor table and metadata
MAX_META_BYTES = 64 * 1024  # the JSON metadata (the shipped models' is under 2 KiB)
MAX_META_DEPTH = 16  # nesting of lists and objects in the metadata
MAX_META_INT = 2**63 - 1  # no integer in the metadata beyond a signed 64-bit one
MAX_TENSORS = 10_000
# safetensors dtype names -> bytes per element; the floating ones may hold weights and codes
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
_TORCH_NAMES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16", "F16": "float16",
                "BF16": "bfloat16", "I32": "int32", "U32": "uint32", "F32": "float32", "I64": "int64",
                "U64": "uint64", "F64": "float64"}


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
    _check_tree(meta)
    for key, kind in REQUIRED.items():
        if key not in meta:
            raise CheckpointError(f"metadata lacks the field {key!r}")
        if not isinstance(meta[key], kind):
            raise CheckpointError(f"metadata field {key!r} has the wrong type ({type(meta[key]).__name__})")
    for key, kind in OPTIONAL.items():
        if key in meta and meta[key] is not None and (isinstance(meta[key], bool) or not isinstance(meta[key], kind)):
            raise CheckpointError(f"metadata field {key!r} has the wrong type ({type(meta[key]).__name__})")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"unsupported checkpoint format {meta['format'][:80]!r} (this version reads {FORMAT!r})")
    try:
        check_arch(meta["arch"])
    except ModelError as e:
        raise CheckpointError(f"cannot rebuild the model: {e}") from None
    names = meta["class_names"]
    if not 2 <= len(names) <= MAX_CLASSES or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in names):
        raise CheckpointError(f"class_names must be 2..{MAX_CLASSES} non-empty strings")
    if len(set(names)) != len(names):
        raise CheckpointError("class_names must be distinct")
    if not all(n.isprintable() and "<" not in n and ">" not in n for n in names):
        # class names reach chart labels, where Plotly reads <a href=...> as a live link
        raise CheckpointError("class_names may not hold control characters or the markup characters < and >")
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
    from .. import __version__

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
    """The validated metadata of a checkpoint, from its header alone (no tensor is read).

    The header's tensor table is checked too, against the architecture built on the meta device: the
    codes are there, floating point, one per class, and every weight is there with its shape, within
    ``MAX_PARAMS``; so ``info`` and the model listing reject what loading would.
    """
    tensors, meta = _header(path)
    _skeleton(meta, tensors)
    return meta


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CheckpointError(f"the key {k[:80]!r} appears twice")
        out[k] = v
    return out


def _strict_loads(text: str, what: str) -> Any:
    """JSON with duplicate keys refused; any parser failure (syntax, nesting, huge numbers) is a CheckpointError."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except CheckpointError as e:
        raise CheckpointError(f"{what}: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{what} is nested too deeply") from None
    except (ValueError, TypeError) as e:  # JSONDecodeError, and ints beyond Python's digit limit
        raise CheckpointError(f"{what} is not valid JSON ({str(e)[:200]})") from None


def _check_tree(meta: Any) -> None:
    """Bounded nesting and integers, walked without recursion (so no depth of nesting can crash it)."""
    stack = [(meta, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_META_DEPTH:
                raise CheckpointError(f"metadata is nested more than {MAX_META_DEPTH} levels deep")
            items = node.values() if isinstance(node, dict) else node
            stack.extend((v, depth + 1) for v in items)
            if isinstance(node, dict) and not all(isinstance(k, str) for k in node):
                raise CheckpointError("metadata keys must be strings")
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_META_INT:
            raise CheckpointError("metadata holds an integer beyond 64 bits")
        elif node is not None and not isinstance(node, (str, int, float, bool)):
            raise CheckpointError(f"metadata holds a {type(node).__name__}, which is not JSON")


@dataclass(frozen=True)
class TensorInfo:
    """One entry of a safetensors header: what the file says a tensor is, before it is read."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, Any]]:
    """The tensor table and validated metadata from a file's header, read and checked here (bounded,
    duplicate keys refused) before safetensors or torch see the file."""
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
        n = struct.unpack("<Q", head[:8])[0]
        if n > MAX_HEADER_BYTES:
            raise CheckpointError(f"{p.name} has a {n / 2**20:.1f} MiB header; the limit is "
                                  f"{MAX_HEADER_BYTES // 2**20} MiB")
        if 8 + n > size:
            raise CheckpointError(f"{p.name} is not a readable safetensors file: the header runs past the end")
        f.seek(8)
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{p.name} is not a readable safetensors file: the header is not UTF-8") from None
    header = _strict_loads(text, f"{p.name}: the safetensors header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{p.name} is not a readable safetensors file: the header is not a JSON object")
    header_meta = header.pop("__metadata__", None) or {}
    if not isinstance(header_meta, dict) or not all(isinstance(v, str) for v in header_meta.values()):
        raise CheckpointError(f"{p.name} is not a readable safetensors file: its metadata is not text")
    if len(header) > MAX_TENSORS:
        raise CheckpointError(f"{p.name} holds {len(header)} tensors; the limit is {MAX_TENSORS}")
    data_bytes = size - 8 - n
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        shown = name[:80]
        ok = (isinstance(entry, dict) and entry.get("dtype") in DTYPE_BYTES
              and isinstance(entry.get("shape"), list) and isinstance(entry.get("data_offsets"), list)
              and len(entry["data_offsets"]) == 2
              and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d for d in entry["shape"])
              and all(isinstance(o, int) and not isinstance(o, bool) for o in entry["data_offsets"]))
        if not ok:
            raise CheckpointError(f"{p.name} is not a readable safetensors file: tensor {shown!r} is malformed")
        info = TensorInfo(entry["dtype"], tuple(entry["shape"]))
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= data_bytes or end - begin != info.numel * DTYPE_BYTES[info.dtype]:
            raise CheckpointError(f"{p.name} is not a readable safetensors file: tensor {shown!r} does not fit "
                                  "in the file (truncated or forged)")
        tensors[name] = info
    if META_KEY not in header_meta:
        raise CheckpointError(f"{p.name} has no '{META_KEY}' metadata: it was not saved by this tool")
    blob = header_meta[META_KEY]
    if len(blob.encode("utf-8")) > MAX_META_BYTES:
        raise CheckpointError(f"{p.name}: metadata is over the limit of {MAX_META_BYTES // 1024} KiB")
    meta = validate_meta(_strict_loads(blob, f"{p.name}: metadata"))
    _check_declared(tensors, meta)
    return tensors, meta


def _check_declared(tensors: dict[str, TensorInfo], meta: dict[str, Any]) -> None:
    """What the metadata declares against the tensor table: codes one per class, float; weights in bounds."""
    if "codes" not in tensors:
        raise CheckpointError("the checkpoint holds no mnemonic codes (tensor 'codes')")
    codes = tensors["codes"]
    expected = (len(meta["class_names"]), *meta["input_shape"])
    if codes.shape != expected:
        raise CheckpointError(f"codes have shape {codes.shape}, but the metadata implies {expected}")
    if codes.dtype not in FLOAT_DTYPES:
        raise CheckpointError(f"the codes are stored as {_TORCH_NAMES.get(codes.dtype, codes.dtype)}; mnemonic codes are floating-point images")
    extra = [k[:80] for k in tensors if k != "codes" and not k.startswith("model.")]
    if extra:
        raise CheckpointError(f"unexpected tensors in the checkpoint: {extra[:3]}")
    params = sum(t.numel for k, t in tensors.items() if k != "codes")
    if params > MAX_PARAMS:
        raise CheckpointError(f"the file holds {params:,} weights; the limit is {MAX_PARAMS:,}")


def _skeleton(meta: dict[str, Any], tensors: dict[str, TensorInfo]) -> None:
    """Build the architecture on the meta device (shapes only, nothing allocated) and check it against
    the limit and against the weights really in the file, before anything is built for real."""
    arch, n = meta["arch"], len(meta["class_names"])
    try:
        with torch.device("meta"):
            skeleton = build_model(arch, meta["input_shape"], n, meta["mean"], meta["std"])
    except ModelError as e:
        raise CheckpointError(f"cannot rebuild the model: {e}") from None
    except Exception as e:  # noqa: BLE001 - a network torch cannot even describe is refused, not raised
        raise CheckpointError(f"cannot rebuild the model {arch!r}: {type(e).__name__}") from None
    params = sum(v.numel() for v in skeleton.state_dict().values())
    if params > MAX_PARAMS:
        raise CheckpointError(f"architecture {arch!r} for input {meta['input_shape']} and {n} classes has "
                              f"{params:,} weights; the limit is {MAX_PARAMS:,}")
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    have = {k[len("model."):]: t for k, t in tensors.items() if k.startswith("model.")}
    missing = [k for k in want if k not in have]
    unexpected = [k[:80] for k in have if k not in want]
    wrong = [k for k in want if k in have and have[k].shape != want[k]]
    if missing or unexpected or wrong:
        parts = ([f"missing {missing[:3]}"] if missing else []) + ([f"unexpected {unexpected[:3]}"] if unexpected else []) \
            + ([f"wrong shape for {wrong[:3]}"] if wrong else [])
        raise CheckpointError(f"weights do not match architecture {arch!r} with {n} classes: {'; '.join(parts)}")
    floats = {k for k, v in skeleton.state_dict().items() if v.is_floating_point()}
    for k in floats:  # load_state_dict would cast integers into float weights without a word
        if have[k].dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"weight {k!r} is stored as {_TORCH_NAMES.get(have[k].dtype, have[k].dtype)}; this architecture needs floating-point weights")


def _open(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    infos, meta = _header(p)
    _skeleton(meta, infos)
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{p.name} is not a readable safetensors file: {e}") from None
    return tensors, meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint; the model comes back in eval mode. Raises CheckpointError.

    Sizes are checked (``_header``, ``_skeleton``) before any tensor is read or any model built."""
    tensors, meta = _open(path)
    codes = tensors.pop("codes")
    state = {k[len("model."):]: v for k, v in tensors.items()}
    for k, v in [("codes", codes), *state.items()]:
        _finite(k, v)
    try:
        model = build_model(meta["arch"], meta["input_shape"], len(meta["class_names"]), meta["mean"], meta["std"])
    except ModelError as e:
        raise CheckpointError(f"cannot rebuild the model: {e}") from None
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
