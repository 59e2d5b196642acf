"""The one way this project writes a file: checked target, temporary file beside it, atomic rename.

A path a user names may be a typo for something precious: ``/dev/null``, a folder, a symbolic link
to a file elsewhere. ``os.replace`` would put a regular file in place of any of them (as root even
``/dev/null``), so the target is checked first and refused unless it is absent or a plain file:

- never a symbolic link (the link itself would be replaced), a directory, a device, a FIFO, a socket;
- the parent folder must be a folder this process may write into (checked before anything is made);
- the bytes go to a hidden temporary file in the same folder, which is renamed over the target only
  once complete, so a failure at any point leaves the original untouched and no stray file behind;
- a file replaced keeps its permission bits and, where this process may set it, its owner and group
  (saving over a private ``chmod 600`` file must not make it world-readable);
- the temporary name carries the writer's process id, so that the leftovers of a writer killed before
  it could clean up are removed by the next write into that folder.

Every refusal or failure is a ``WriteError`` whose message is one line naming the path.
"""
from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


class WriteError(ValueError):
    """A file could not be written where asked; the message says where and why, in one line."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def check_target(path: str | os.PathLike, probe: bool = False, create: bool = True) -> Path:
    """The path, if a plain file may be written there; else WriteError.

    ``create``: make missing parent folders (else only check that the nearest existing one is writable).
    ``probe``: also create and remove a hidden file in that folder, the only sure test of write access
    (permission bits do not bind root; a read-only mount or /sys refuses only the real attempt).
    Worth it before long work whose result would otherwise be lost at the end.
    """
    p = Path(path).expanduser()
    if not p.name or p.name in (".", ".."):
        raise WriteError(f"cannot write {str(path)!r}: it names a folder, not a file")
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise WriteError(f"cannot write {str(p)!r}: {_reason(e)}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise WriteError(f"refusing to write {str(p)!r}: it is a symbolic link (name the real file instead)")
        if not stat.S_ISREG(st.st_mode):
            raise WriteError(f"refusing to write {str(p)!r}: it is {_kind(st.st_mode)}, not a regular file")
        if not os.access(p, os.W_OK):
            raise WriteError(f"cannot write {str(p)!r}: the file is read-only")
    parent = p.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:  # the nearest folder that exists
        existing = existing.parent
    if not existing.is_dir():
        raise WriteError(f"cannot write {str(p)!r}: {str(existing)!r} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WriteError(f"cannot write {str(p)!r}: no permission to write in {str(existing)!r}")
    if probe:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:100]}.", suffix=".probe", dir=existing)
        except OSError as e:
            raise WriteError(f"cannot write {str(p)!r}: {_reason(e)}") from None
        os.close(fd)
        os.unlink(tmp)
    if create:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WriteError(f"cannot write {str(p)!r}: cannot make the folder {str(parent)!r} ({_reason(e)})") from None
    return p


def _recheck(p: Path) -> None:
    """Just before the rename: the target must still be absent or a plain file (no swap since the check)."""
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise WriteError(f"refusing to write {str(p)!r}: it became {_kind(st.st_mode) if not stat.S_ISLNK(st.st_mode) else 'a symbolic link'} while writing")


TMP_SUFFIX = ".tmp"


def _temp_prefix(p: Path) -> str:
    return f".{p.name[:100]}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the hidden temporary files of writers that died mid-write (their process is gone); returns them."""
    removed = []
    try:
        candidates = [c for c in Path(folder).iterdir() if c.name.startswith(".") and c.name.endswith(TMP_SUFFIX)]
    except OSError:
        return removed
    for c in candidates:
        parts = c.name[: -len(TMP_SUFFIX)].rsplit(".", 2)  # .<name>.<pid>.<random>
        if len(parts) == 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            try:
                if stat.S_ISREG(os.lstat(c).st_mode):
                    c.unlink()
                    removed.append(c)
            except OSError:
                pass
    return removed


def atomic_write(path: str | os.PathLike, fill: Callable[[str], None] | bytes | str, mode: int | None = None) -> Path:
    """Write ``path`` atomically: ``fill`` is the content (bytes or text) or a function that writes a given path.

    The file appears complete under its name or not at all; on any failure the original (if any) is
    untouched and the temporary file is removed. ``mode`` defaults to 0o666 less the umask, like
    ``open``; a file replaced keeps its own mode and owner instead. Raises WriteError (a ValueError) for a refused target or a failed write.
    """
    p = check_target(path)
    clean_stale_temps(p.parent)
    try:
        old = os.stat(p)
    except OSError:
        old = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(p), suffix=TMP_SUFFIX, dir=p.parent)
    except OSError as e:
        raise WriteError(f"cannot write {str(p)!r}: {_reason(e)}") from None
    try:
        if callable(fill):
            os.close(fd)
            fill(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(fill.encode() if isinstance(fill, str) else bytes(fill))
                f.flush()
                os.fsync(f.fileno())
        if old is not None:  # a replaced file keeps its mode (and owner, where allowed): never more open
            mode = stat.S_IMODE(old.st_mode)
            try:
                os.chown(tmp, old.st_uid, old.st_gid)
            except OSError:  # only root may give a file away; the mode is kept all the same
                pass
        elif mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)  # mkstemp makes the file private; what we write is an ordinary file
        _recheck(p)
        os.replace(tmp, p)
    except OSError as e:
        raise WriteError(f"cannot write {str(p)!r}: {_reason(e)}") from None
    except Exception as e:  # noqa: BLE001 - e.g. safetensors' own error for a full disk: name the path
        if isinstance(e, ValueError):
            raise  # our own refusals (a bad upload) say what they mean already
        raise WriteError(f"cannot write {str(p)!r}: {str(e).strip()[:200] or type(e).__name__}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write`` for a text file (UTF-8)."""
    return atomic_write(path, text.encode("utf-8"))
