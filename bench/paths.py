"""Where results and caches live: inside the checkout by default, anywhere by setting."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The source checkout holding `bench/` (plugins, suites, results), else the working directory."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "suites").is_dir():
        return root
    return Path.cwd()


def cache_dir() -> Path:
    """Content-addressed stage cache; SID_BENCH_CACHE moves it (default: .cache/ in the checkout, git-ignored)."""
    return Path(os.environ.get("SID_BENCH_CACHE") or project_root() / ".cache")


def results_dir() -> Path:
    return Path(os.environ.get("SID_BENCH_RESULTS") or project_root() / "results")


def tuned_dir() -> Path:
    """Frozen sweep results (suites/tuned/ in the checkout; SID_BENCH_TUNED moves it)."""
    return Path(os.environ.get("SID_BENCH_TUNED") or project_root() / "suites" / "tuned")
