"""Where models live on disk: shipped ones in assets/models, trained and uploaded ones in a local folder.

Everything written here goes through ``safe_io.atomic_write`` (a checked target, a hidden temporary
file, then a rename), so a crash mid-write never leaves a half-written checkpoint in a listing, and
names from users are sanitised so they can never point outside the folder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoints import MAX_FILE_BYTES, CheckpointError, load_checkpoint, read_meta
from .safe_io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DIR = ROOT / "assets" / "models"
SUFFIX = ".safetensors"


def user_models_dir() -> Path:
    """The folder for trained and uploaded models (``$UNLEARNING_MODELS`` or ./models)."""
    return Path(os.environ.get("UNLEARNING_MODELS", ROOT / "models")).expanduser()


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


def _unique(folder: Path, filename: str) -> Path:
    path = folder / filename
    stem, suffix = path.name[: -len(SUFFIX)], SUFFIX
    n = 1
    while os.path.lexists(path):  # a dangling link or a folder counts as taken too
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


def store_upload(data: bytes, name: str, folder: str | os.PathLike | None = None,
                 max_bytes: int = MAX_FILE_BYTES) -> Path:
    """Validate an uploaded checkpoint and keep it under a safe, unused name.

    Raises CheckpointError for a bad file, ``safe_io.WriteError`` when the folder cannot be written.

    The bytes are checked (size, safetensors only, metadata, weights, codes) before they appear
    under their final name; a bad upload leaves nothing behind.
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

    return atomic_write(_unique(target_dir, shown), fill, mode=0o644)


@dataclass(frozen=True)
class ModelEntry:
    """One checkpoint on disk, with its metadata or the reason it cannot be used."""

    path: Path
    source: str  # "shipped" or "local"
    meta: dict[str, Any] | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.name[: -len(SUFFIX)]


def list_models(folders: dict[str, Path] | None = None) -> list[ModelEntry]:
    """Checkpoints in the shipped and local folders, shipped first; unreadable ones carry their error."""
    folders = folders if folders is not None else {"shipped": SHIPPED_DIR, "local": user_models_dir()}
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
    return entries


def default_model_path() -> Path:
    """The shipped default, named by assets/models/DEFAULT."""
    marker = SHIPPED_DIR / "DEFAULT"
    name = marker.read_text().strip() if marker.is_file() else ""
    path = SHIPPED_DIR / name
    if not name or not path.is_file():
        raise CheckpointError(f"the default model named in {marker} is missing")
    return path
