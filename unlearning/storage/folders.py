"""Where models live on disk: shipped ones in assets/models, trained and uploaded ones in a local folder.

The local folder (``$UNLEARNING_MODELS`` or ./models) holds what the operator put there (``train
--out``, copied files), visible to everyone, and ``sessions/<owner>/``: the uploads and trainings of
one browser session, named by its owner token (16 to 32 lowercase hex digits, checked before it ever
becomes part of a path). Shipped models are everyone's; a session sees the operator's and its own.

Everything written here goes through ``safe_io.atomic_write`` (a checked target, a hidden temporary
file, then a rename), so a crash mid-write never leaves a half-written checkpoint in a listing, and
names from users are sanitised so they can never point outside the folder.
"""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoints import MAX_FILE_BYTES, CheckpointError, load_checkpoint, read_meta
from .safe_io import atomic_write

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIR = ROOT / "assets" / "models"
SUFFIX = ".safetensors"


def user_models_dir() -> Path:
    """The folder for trained and uploaded models (``$UNLEARNING_MODELS`` or ./models)."""
    return Path(os.environ.get("UNLEARNING_MODELS", ROOT / "models")).expanduser()


SESSIONS_DIR = "sessions"  # under the local folder: one subfolder per owner token
_OWNER = re.compile(r"[0-9a-f]{16,32}")


def new_owner() -> str:
    """A fresh owner token: 32 hex digits, unguessable, for one browser session and its refreshes."""
    return secrets.token_hex(16)


def is_owner(token: object) -> bool:
    """True for a well-formed owner token (16-32 lowercase hex digits, nothing else)."""
    return isinstance(token, str) and _OWNER.fullmatch(token) is not None


def owner_dir(owner: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of one owner's models (``<local folder>/sessions/<owner>``); ValueError for a bad token,
    so that nothing from an address can name another folder."""
    if not is_owner(owner):
        raise ValueError("an owner token is 16 to 32 lowercase hex digits")
    return (Path(root) if root is not None else user_models_dir()) / SESSIONS_DIR / owner


def model_folders(owner: str | None = None) -> dict[str, Path]:
    """The folders one session sees, by source, in listing order: shipped, its own ("yours", with an
    owner), then the operator's top-level local folder ("local")."""
    folders = {"shipped": SHIPPED_DIR}
    if owner is not None:
        folders["yours"] = owner_dir(owner)
    folders["local"] = user_models_dir()
    return folders


def safe_filename(name: str, suffix: str = SUFFIX) -> str:
    """A plain file name from anything a user typed: no folders, no dot-files, no odd characters."""
    base = re.split(r"[\\/]", str(name))[-1]
    if base.lower().endswith(suffix):
        base = base[: -len(suffix)]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-_")
    base = re.sub(r"\.{2,}", ".", base)[:80].strip(".-_")
    if not base:
        base = "model"
    return base + suffix


def unique_path(folder: str | os.PathLike, name: str, also: Sequence[str | os.PathLike] = ()) -> Path:
    """``folder/<safe name>.safetensors``, numbered when the name is taken there or in any of ``also``
    (the other folders a session lists, so that a name, as links use it, stays one model)."""
    folder = Path(folder)
    base = safe_filename(name)
    stem = base[: -len(SUFFIX)]
    path, n = folder / base, 1
    # a dangling link or a folder counts as taken too
    while any(os.path.lexists(Path(f) / path.name) for f in (folder, *also)):
        path = folder / f"{stem}-{n}{SUFFIX}"
        n += 1
    return path


def store_upload(data: bytes, name: str, folder: str | os.PathLike | None = None,
                 max_bytes: int = MAX_FILE_BYTES, also: Sequence[str | os.PathLike] = ()) -> Path:
    """Validate an uploaded checkpoint and keep it under a safe, unused name.

    Raises CheckpointError for a bad file, ``safe_io.WriteError`` when the folder cannot be written.

    The bytes are checked (size, safetensors only, metadata, weights, codes) before they appear
    under their final name; a bad upload leaves nothing behind. ``also``: folders whose names it must
    not repeat (see ``unique_path``).
    """
    if len(data) > max_bytes:
        raise CheckpointError(f"the file is {len(data) / 2**20:.1f} MiB; uploads are limited to {max_bytes / 2**20:.0f} MiB")
    if not data:
        raise CheckpointError("the file is empty")
    target_dir = Path(folder) if folder is not None else user_models_dir()
    shown = safe_filename(name)

    def fill(tmp: str) -> None:
        Path(tmp).write_bytes(data)
        try:
            load_checkpoint(tmp)  # full validation; raises CheckpointError
        except CheckpointError as e:  # speak of the user's file, not of our temporary name
            raise CheckpointError(str(e).replace(Path(tmp).name, shown)) from None
        except Exception as e:  # noqa: BLE001 - whatever a hostile file provokes, the uploader gets one sentence
            raise CheckpointError(f"{shown} cannot be read ({type(e).__name__})") from None

    return atomic_write(unique_path(target_dir, shown, also), fill, mode=0o644)


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint on disk, with its metadata or the reason it cannot be used."""

    path: Path
    source: str  # "shipped", "yours" (this session's) or "local" (the operator's)
    meta: dict[str, Any] | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.name[: -len(SUFFIX)]


def list_models(folders: dict[str, Path] | None = None, owner: str | None = None) -> list[ModelEntry]:
    """Checkpoints a session sees (``model_folders(owner)``) in folder order; unreadable ones carry their
    error. Never another owner's: the sessions/ folder itself is not listed."""
    folders = folders if folders is not None else model_folders(owner)
    entries = []
    for source, folder in folders.items():
        if not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
            if path.name.startswith("."):  # temporary files of writes in progress
                continue
            try:
                entries.append(ModelEntry(path, source, read_meta(path)))
            except CheckpointError as e:
                entries.append(ModelEntry(path, source, None, str(e)))
            except Exception as e:  # noqa: BLE001 - one bad file must never take down everyone's listing
                entries.append(ModelEntry(path, source, None, f"cannot be read ({type(e).__name__})"))
    return entries


def default_model_path() -> Path:
    """The shipped default, named by assets/models/DEFAULT."""
    marker = SHIPPED_DIR / "DEFAULT"
    name = marker.read_text().strip() if marker.is_file() else ""
    path = SHIPPED_DIR / name
    if not name or not path.is_file():
        raise CheckpointError(f"the default model named in {marker} is missing")
    return path
