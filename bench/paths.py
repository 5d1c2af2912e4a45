"""Where results and caches live: inside the checkout by default, anywhere by setting."""

from __future__ import annotations

import os
import re
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


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
SAFE_NAME_PLUS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,159}")


def safe_name(name: str, what: str, plus: bool = False) -> str:
    """`name` when it can be one folder name under results/: letters, digits, '_', '.', '-', starting with a
    letter or digit (so no '/', '..', absolute path or hidden file), at most 80 characters. '+' is kept for
    the systems the runner composes (`rqvae+tiger`), so that no suite entry can be named like one; names made
    from systems (a sweep's study) pass `plus=True`."""
    if not isinstance(name, str) or not (SAFE_NAME_PLUS if plus else SAFE_NAME).fullmatch(name):
        from bench.errors import ConfigError, quote

        allowed = "'_', '.', '+' and '-'" if plus else "'_', '.' and '-'"
        raise ConfigError(f"{what} {quote(name)} is not a safe name: use letters, digits, {allowed}, "
                          f"starting with a letter or digit, at most {160 if plus else 80} characters")
    return name
