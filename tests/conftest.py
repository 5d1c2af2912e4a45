"""Shared fixtures: every test writes results and caches into its own temporary folders."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SID_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SID_BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SID_BENCH_TUNED", str(tmp_path / "tuned"))
    return tmp_path


def run_cli(*args: str, cwd: Path = REPO, env_extra: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a fresh interpreter, from the repo root as a user would run it. The timeout
    catches a hung command, not a slow host: a long command passes its own."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def write_dataset(folder: Path, interactions: str, items: list[dict] | str | None = None,
                  name: str = "interactions.tsv") -> Path:
    """A dataset folder from literal file contents (interactions as text, items as dicts or raw text)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = interactions.encode()
    (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    if items is not None:
        text = items if isinstance(items, str) else "".join(json.dumps(i) + "\n" for i in items)
        (folder / "items.jsonl").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited (a killed runner's, as its lock file names it). Fresh for each
    test: pids are reused (pid_max may be 32,768), so one taken at the start of a session may be alive later."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def tiny_split():
    """The `tiny` synthetic dataset (300 users, 120 items) split by our protocol."""
    from bench.data import load_dataset
    from bench.protocol import make_split

    return make_split(load_dataset("tiny"))


@pytest.fixture
def registered():
    """register(kind, name, cls): a throwaway plugin for one test, forgotten afterwards."""
    from bench import registry

    added = []

    def register(kind, name, cls):
        registry.register(kind, name, cls)
        added.append((kind, name))
    yield register
    for kind, name in added:
        registry.unregister(kind, name)
