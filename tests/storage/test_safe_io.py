"""unlearning/safe_io: a write is whole or absent, keeps a replaced file's mode, cleans a dead writer's
leftovers, and names the path when it fails."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from unlearning.storage.safe_io import WriteError, atomic_write, check_target


def test_a_failed_write_leaves_the_original_untouched(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"original")

    def half_then_fail(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match="No space left"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"original" and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_a_folder_without_write_access_is_refused_first(tmp_path, monkeypatch):
    import unlearning.storage.safe_io as safe_io

    monkeypatch.setattr(safe_io.os, "access", lambda path, mode: False)  # what a non-root user sees in 0o555
    with pytest.raises(WriteError, match="no permission to write"):
        atomic_write(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_check_target_without_create_makes_no_folder(tmp_path):
    check_target(tmp_path / "a" / "b" / "x.safetensors", probe=True, create=False)
    assert list(tmp_path.iterdir()) == []


def test_saving_over_a_private_file_keeps_it_private(tmp_path):
    target = tmp_path / "good.safetensors"
    target.write_bytes(b"old")
    target.chmod(0o600)
    atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_bytes() == b"new"


def test_the_temporary_files_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    left = tmp_path / f".out.safetensors.{pid}.abc123.tmp"
    left.write_bytes(b"half")
    mine = tmp_path / f".other.safetensors.{os.getpid()}.xyz.tmp"  # a live writer's: kept
    mine.write_bytes(b"busy")
    atomic_write(tmp_path / "out.safetensors", b"whole")
    assert not left.exists() and mine.exists()


def test_a_full_disk_names_the_path(tmp_path):
    from safetensors import SafetensorError

    def fill(tmp: str) -> None:
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    target = tmp_path / "full.safetensors"
    with pytest.raises(WriteError, match=re.escape(repr(str(target))) + ".*No space left"):
        atomic_write(target, fill)
    assert list(tmp_path.iterdir()) == []
