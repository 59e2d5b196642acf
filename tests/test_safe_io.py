"""unlearning/safe_io: a write is whole or absent, keeps a replaced file's mode, cleans a dead writer's
leftovers, and names the path when it fails."""
from __future__ import annotations

from pathlib import Path

import pytest

from unlearning.safe_io import WriteError, atomic_write, check_target


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
    import unlearning.safe_io as safe_io

    monkeypatch.setattr(safe_io.os, "access", lambda path, mode: False)  # what a non-root user sees in 0o555
    with pytest.raises(WriteError, match="no permission to write"):
        atomic_write(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_check_target_without_create_makes_no_folder(tmp_path):
    check_target(tmp_path / "a" / "b" / "x.safetensors", probe=True, create=False)
    assert list(tmp_path.iterdir()) == []
