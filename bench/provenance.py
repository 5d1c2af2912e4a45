"""Where a result came from: package versions, git commit and dirty flag, python, platform, device."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata

from bench import __version__
from bench.paths import project_root


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


GIT_STATE_ENV = "SID_BENCH_GIT_STATE"  # "sha dirty", set when a run starts; worker processes inherit it


def pin_git_state() -> None:
    """Take the checkout's state now, at the start of a run, for every record it and its workers write: a
    record describes the code that started (a README edited during a 20-minute job changes nothing that ran)."""
    sha, dirty = git_state()
    if sha is not None:
        os.environ[GIT_STATE_ENV] = f"{sha} {int(bool(dirty))}"


@lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(commit sha, dirty flag) of the checkout, or (None, None) outside git; pinned by `pin_git_state`."""
    pinned = os.environ.get(GIT_STATE_ENV, "").split()
    if len(pinned) == 2:
        return pinned[0], pinned[1] == "1"
    try:
        root = str(project_root())
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return sha, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # what decides fp32/bf16 speed


@lru_cache(maxsize=1)
def host_cpu() -> dict:
    """The CPU model and the instruction-set flags that decide how fast (and in which precision) it trains."""
    model, flags = platform.processor() or None, set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return {"model": model, "flags": [f for f in CPU_FLAGS if f in flags]}


def provenance(device: str) -> dict:
    sha, dirty = git_state()
    return {
        "bench_version": __version__,
        "git_sha": sha,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in ("numpy", "pandas", "scipy", "torch", "recbole",
                                                       "sentence-transformers")},
        "device": device,
        "cpu_count": os.cpu_count(),
        "cpu": host_cpu(),
        "argv": sys.argv[1:],
    }
