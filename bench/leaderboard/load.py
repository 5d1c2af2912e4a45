"""Which records a leaderboard uses: those of the suite's current version, dataset files, plugin versions
and settings, read and verified once each; the rest are listed as excluded with the reason."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from bench import identity, records
from bench.suites import BUDGETS, Suite, resolve


def group_records(paths: list[Path], suite: Suite, data_files: dict | None):
    """{budget: {system: [record, ...]}} for records of the suite's current settings, plus (path, reason) for
    those left out: another suite version or dataset, a superseded plugin version, a system the suite no longer
    has, or settings other than the ones the suite now resolves to (seeds of different settings never mix)."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    excluded, resolved = [], {}
    for path in paths:
        record = records.read_record(path)
        records.check_layout(path, record)  # one record per (system, seed): a copy is never another seed
        budget = record["suite"]["budget"]
        if budget not in resolved:
            resolved[budget] = resolve(suite, budget) if budget in BUDGETS else None
        if record["suite"]["version"] != suite.version:
            excluded.append((path, f"suite version {record['suite']['version']} (current {suite.version})"))
        elif data_files is not None and record["dataset"]["files"] != data_files:
            excluded.append((path, "dataset files differ from the current ones"))
        elif superseded := identity.superseded(record):
            excluded.append((path, superseded))
        elif differs := identity.other_settings(record, resolved[budget]):
            excluded.append((path, differs))
        else:
            _, arrays = records.read_verified(path)  # a summary that its per-user values contradict stops the table
            record["_path"] = str(path)  # for messages; never written back
            record["_arrays"] = arrays  # per-user values (and lists, slices, what they give), read and hashed once
            groups[budget][record["system"]].append(record)
    return groups, excluded


def data_files(suite: Suite) -> dict | None:
    """The sha256 of a registered dataset's files (records of other data are left out); None for a folder."""
    from bench.data import DATASETS

    spec = DATASETS.get(suite.dataset)
    return dict(spec.sha256) if spec is not None and hasattr(spec, "sha256") else None


def source(suite: Suite, dataset_path: str | None) -> tuple[str, dict | None]:
    """(results key, dataset file hashes) of the records a table is built from: the suite's own dataset, or
    the user's folder that `run --dataset-path` was given (its records live under runs/SUITE@NAME-HASH)."""
    if dataset_path is None:
        return suite.name, data_files(suite)
    from bench.data.dataset import folder_files

    files = folder_files(Path(dataset_path))  # hashed, never parsed: the leaderboard reads records only
    return records.results_key(suite.name, Path(dataset_path).name, files), files
