"""Which records a leaderboard uses: those of the suite's current version, dataset files, plugin versions
and settings, read and verified once each; the rest are listed as excluded with the reason."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from bench import records, registry
from bench.config import config_hash, identity, to_dict
from bench.errors import BenchError
from bench.suites import BUDGETS, ResolvedSuite, Suite, resolve

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
        elif superseded := _superseded(record):
            excluded.append((path, superseded))
        elif differs := _other_settings(record, resolved[budget]):
            excluded.append((path, differs))
        else:
            _, arrays = records.read_verified(path)  # a summary that its per-user values contradict stops the table
            record["_path"] = str(path)  # for messages; never written back
            record["_arrays"] = arrays  # per-user values (and lists, slices, what they give), read and hashed once
            groups[budget][record["system"]].append(record)
    return groups, excluded


def _other_settings(record: dict, resolved: ResolvedSuite | None) -> str | None:
    """Why a record's settings are not the suite's current ones for its system (None when they are)."""
    if resolved is None or record["system"] not in resolved.systems:
        return f"'{record['system']}' is not a system of the suite at budget {record['suite']['budget']}"
    wanted = {**to_dict(resolved.suite.protocol), "selection_metric": resolved.suite.selection_metric}
    recorded = {key: record["protocol"].get(key, "ndcg@10" if key == "selection_metric" else None) for key in wanted}
    if recorded != wanted:
        return f"protocol differs from the suite's ({', '.join(k for k in wanted if recorded[k] != wanted[k])})"
    system = resolved.systems[record["system"]]
    for part, plugin in (("recommender", system.recommender), ("tokenizer", system.tokenizer)):
        info = record.get(part)
        if plugin is not None and info and info["config_hash"] != config_hash(identity(plugin.config)):
            now = identity(plugin.config)
            changed = sorted(_changed_keys(info["config"], now))
            return f"{part} settings differ from the suite's current ones ({', '.join(changed[:4]) or 'config'})"
    return None


def _changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in set(old) | set(new):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def _superseded(record: dict) -> str | None:
    """Why a record's plugin version is not the installed one (None when it is, or the plugin is unknown)."""
    for kind, part in (("recommenders", "recommender"), ("tokenizers", "tokenizer")):
        info = record.get(part)
        if not info:
            continue
        plugin = info.get("plugin", info["name"])  # records before the suites' `plugin:` key name it alone
        try:
            current = registry.get(kind, plugin).version
        except BenchError:
            continue
        if info["version"] != current:
            return f"superseded: {part} '{plugin}' version {info['version']} (current {current})"
    return None


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
