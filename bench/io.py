"""Atomic writes: a reader (or a killed run) never sees half a file."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _file_mode() -> int:
    """The mode `open()` would give a new file (0o644 under the usual umask). mkstemp makes 0o600 files, so
    records written through it would be unreadable to the other users of a shared results folder."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            from bench.errors import BenchError

            raise BenchError(f"no space left on the disk of {path.parent} while writing {path.name}; nothing "
                             "was replaced: free space and run again (finished jobs are kept, a killed one "
                             "resumes)") from None
        raise


ORPHAN_AGE_S = 600  # an atomic write takes seconds: a temp file this old was left by a killed process


def remove_orphan_temps(folder: Path, older_than_s: float = ORPHAN_AGE_S) -> int:
    """Delete the temp files (`.NAME.*.tmp`) that killed processes left under `folder`; returns how many.
    Young ones may belong to a live writer and are kept."""
    folder, removed = Path(folder), 0
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    for tmp in folder.rglob(".*.tmp"):
        try:
            if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except OSError:
            continue  # gone meanwhile, or not ours to delete
    return removed


def check_writable(folder: Path, what: str) -> None:
    """Fail before any work when `folder` cannot take files (read-only, not a folder, full disk), naming it."""
    from bench.errors import BenchError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"x" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
        os.unlink(probe)
    except OSError as err:
        raise BenchError(f"the {what} folder {folder} cannot be written ({err.strerror or err}); free space or "
                         f"choose another folder") from None


def atomic_write_json(path: Path, data) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed .npz (no pickled objects), written atomically."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
