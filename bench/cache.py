"""Content-addressed cache for stage artifacts (embeddings, SID tables, CF vectors, ...).

The key is a hash of the stage name, its version and its inputs (data hashes, resolved config), so a
rerun, a second tokenizer or a second seed reuses what it can and a changed input never reads stale data.
Artifacts are dicts of numpy arrays plus JSON metadata, stored without pickle. Two processes that miss the
same entry at once (two workers, each fitting a tokenizer that reads the same CF embeddings) build it once:
the second waits on the first's lock and reads what it stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.config import config_hash
from bench.io import atomic_save_npz, atomic_write_json, load_npz
from bench.paths import cache_dir
from bench.progress import log


class Cache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else cache_dir()

    @staticmethod
    def key(stage: str, version: int, inputs: Any) -> str:
        return f"{stage}-v{version}-{config_hash(inputs)}"

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / "artifacts" / key.split("-", 1)[0]
        return folder / f"{key}.npz", folder / f"{key}.json"

    def load(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """The entry, or None when it is missing or damaged (a damaged one is reported, then recomputed)."""
        arrays_path, meta_path = self._paths(key)
        if not (arrays_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            expected = meta.get("sha256")  # entries written before the checksum have none
            if expected is not None and hashlib.sha256(arrays_path.read_bytes()).hexdigest() != expected:
                raise ValueError("sha256 differs from the one stored with it")
            return load_npz(arrays_path), meta
        except Exception as err:  # truncated zip, bad JSON, a changed file: never fatal, never believed
            log(f"cache: damaged entry {arrays_path.name} ({type(err).__name__}: {err}); computing it again")
            return None

    def has(self, key: str) -> bool:
        """Whether the entry is stored (its checksum unread: for estimating, not for reading)."""
        return all(path.is_file() for path in self._paths(key))

    def store(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> dict:
        """Writes the entry; returns its metadata as `load` will read it."""
        arrays_path, meta_path = self._paths(key)
        atomic_save_npz(arrays_path, arrays)
        stored = {"key": key, **meta, "sha256": hashlib.sha256(arrays_path.read_bytes()).hexdigest()}
        # written last: its presence marks a complete entry, its checksum the arrays it was written with
        atomic_write_json(meta_path, stored)
        return stored

    def get_or_compute(self, stage: str, version: int, inputs: Any,
                       compute: Callable[[], tuple[dict[str, np.ndarray], dict]]):
        """(arrays, meta, hit): from the cache when present, else computed and stored."""
        key = self.key(stage, version, inputs)
        found = self.load(key)
        if found is None:
            with self._building(key):
                found = self.load(key)  # stored by the process we waited for
                if found is None:
                    arrays, meta = compute()
                    return arrays, self.store(key, arrays, meta), False
        return found[0], found[1], True

    @contextlib.contextmanager
    def _building(self, key: str):
        """Hold the entry's build lock: one process computes it, the others wait. flock is released when its
        holder ends, however it ends, so a killed build leaves no lock behind."""
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"cache: another process is computing {key}; waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def entries(self, stage: str):
        """Every intact entry of one stage, as (arrays, meta): for finding an artifact by what it holds."""
        folder = self.root / "artifacts" / stage
        for meta_path in sorted(folder.glob(f"{stage}-*.json")) if folder.is_dir() else ():
            found = self.load(meta_path.stem)
            if found is not None:
                yield found

    def clear(self) -> None:
        shutil.rmtree(self.root / "artifacts", ignore_errors=True)
