"""Frozen sweep results: suites/tuned/<suite>/<system>.<budget>.yaml, read by `suites.resolve`.

`python -m bench sweep --freeze` writes them; a file holds `overrides: {tokenizer: {...}, recommender: {...}}`
for one system of a suite at one budget. Kept apart from the sweep itself so that resolving a suite needs
no Optuna and the runner never imports the sweep.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import ConfigError
from bench.paths import project_root, tuned_dir
from bench.yamlio import read_yaml


def tuned_path(suite_name: str, system: str, budget: str) -> Path:
    return tuned_dir() / suite_name / f"{system}.{budget}.yaml"


def load_tuned(suite_name: str, system: str, budget: str) -> tuple[dict, str] | None:
    """({'tokenizer': {...}, 'recommender': {...}}, path as shown in records) when a frozen file exists."""
    path = tuned_path(suite_name, system, budget)
    if not path.is_file():
        return None
    data = read_yaml(path) or {}
    overrides = data.get("overrides") if isinstance(data, dict) else None
    if not isinstance(overrides, dict) or set(overrides) - {"tokenizer", "recommender"}:
        raise ConfigError(f"{path}: 'overrides' must map tokenizer/recommender to their settings")
    root = project_root().resolve()
    shown = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path
    return overrides, Path(shown).as_posix()
