"""`python -m bench rescore`: every registered metric and slice, recomputed from the ranked lists that
records keep, without retraining; each record's summary is rewritten so that it stays verifiable.

Adding a metric is one function in bench/metric_registry.py and one `rescore`. Records made before lists were
kept (schema version 1) keep their summaries: their accuracy stays valid, and the new columns show "—".
`--add-slices` gives them the slice labels (from the dataset, once), so their per-user accuracy can be read
per slice too; the leaderboard itself never opens a dataset. `--add-sid-prefixes` gives generative records
made before it was kept each item's retrieval prefix (from the cached SID table), for TIGER's retrieval of
unseen items.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench import evidence, records


def rescore(results: Path, suite: str | None = None) -> dict[str, list[Path]]:
    """{'rescored': [...], 'unchanged': [...], 'no lists': [...]} over the records under results/runs/SUITE."""
    out: dict[str, list[Path]] = {"rescored": [], "unchanged": [], "no lists": []}
    for path in records.find_records(results, suite):
        record = records.read_record(path)
        arrays = records.read_per_user(path, record)  # sha-checked: a tampered list is refused here
        if not evidence.has_lists(arrays):
            out["no lists"].append(path)
            continue
        _, summary = evidence.metrics_from_lists(arrays, record["protocol"]["cutoffs"])
        metrics = {**record["metrics"], **evidence.nest(summary)}  # test_id_level (from the SID groups) stays
        if metrics == record["metrics"]:
            out["unchanged"].append(path)
            continue
        records.rewrite_summary(path, record, metrics)
        out["rescored"].append(path)
    return out


def _stored_arrays(path: Path, record: dict) -> dict:
    """The record's side file as stored (sha-checked first), without the metrics reading it recomputes."""
    from bench.io import load_npz

    records.read_per_user(path, record)  # sha-checked: a tampered side file is refused here
    return load_npz(records.per_user_path(path).with_name(record["per_user"]["file"]))


def _extend_side_file(path: Path, record: dict, arrays: dict, new: dict) -> None:
    """The record written again with its side file plus the `new` arrays (those it lacks); nothing else
    changes but the side file's sha256."""
    added = {k: v for k, v in new.items() if k not in arrays}
    records.write_run(path, {k: v for k, v in record.items() if not k.startswith("_")}, {**arrays, **added})


def add_slices(results: Path, suite: str | None = None) -> dict[str, list[Path]]:
    """Slice labels and item context (bench.slices) for records made before they were kept, from the split of
    the dataset they name, read once per (dataset, protocol): each record's data hashes, protocol hash and
    evaluated users must match the split, or it is left as it is. The side file gains arrays and nothing
    else changes; the record is written again with the new side file's sha256. Records of a user's folder
    (not a registered dataset) are skipped: the folder is not known here."""
    from bench.config import build
    from bench.data import DATASETS, load_dataset
    from bench.identity import protocol_hash
    from bench.protocol import ProtocolConfig, make_split, recorded_split

    out: dict[str, list[Path]] = {"added": [], "had them": [], "skipped": []}
    splits: dict[tuple, tuple] = {}
    fields = ProtocolConfig.__dataclass_fields__
    for path in records.find_records(results, suite):
        record = records.read_record(path)
        arrays = _stored_arrays(path, record)
        if "test.slice.transition" in arrays:
            out["had them"].append(path)
            continue
        name, protocol = record["dataset"]["name"], record["protocol"]
        settings = {k: v for k, v in protocol.items() if k in fields and k != "split"}  # "split": its description
        if split := recorded_split(protocol):
            settings["split"] = split
        config = build(ProtocolConfig, settings, "protocol")
        if name not in DATASETS or protocol_hash(config) != protocol["hash"]:
            out["skipped"].append(path)
            continue
        if (name, protocol["hash"]) not in splits:
            dataset = load_dataset(name)
            splits[(name, protocol["hash"])] = dataset, make_split(dataset, config)
        dataset, split = splits[(name, protocol["hash"])]
        if dict(dataset.files) != record["dataset"]["files"] or not np.array_equal(split.test.users, arrays["users"]):
            out["skipped"].append(path)
            continue
        context = evidence.evidence_arrays(split, dataset, {})  # no lists: item context and test slices only
        _extend_side_file(path, record, arrays, context)
        out["added"].append(path)
    return out


def add_sid_prefixes(results: Path, suite: str | None = None, cache=None) -> dict[str, list[Path]]:
    """Each item's retrieval prefix (`items.sid_prefix`, for TIGER's retrieval of unseen items) for generative
    records made before it was kept, from the SID table in this machine's cache whose hash is the record's
    `sid_table_hash` (never refitted: a table not cached is reported). The side file gains one array and
    nothing else changes."""
    from bench.cache import Cache
    from bench.tokenizer import SIDTable

    out: dict[str, list[Path]] = {"added": [], "had them": [], "not cached": []}
    tables: dict[str, SIDTable] | None = None
    for path in records.find_records(results, suite):
        record = records.read_record(path)
        if not record.get("tokenizer"):
            continue
        arrays = _stored_arrays(path, record)
        if "items.sid_prefix" in arrays:
            out["had them"].append(path)
            continue
        if not evidence.has_lists(arrays):
            continue
        if tables is None:  # read once, only when some record needs it
            tables = {}
            for stored, _ in (cache or Cache()).entries("sid_table"):
                table = SIDTable.load(stored["table"].tobytes())
                tables[table.hash()] = table
        table = tables.get(record["tokenizer"]["sid_table_hash"])
        if table is None or table.n_items != len(arrays["items.popularity"]):
            out["not cached"].append(path)
            continue
        _extend_side_file(path, record, arrays, {"items.sid_prefix": table.prefix_groups()})
        out["added"].append(path)
    return out


def summary_text(result: dict[str, list[Path]], seconds: float) -> str:
    return (f"{len(result['rescored'])} record(s) rescored, {len(result['unchanged'])} already current, "
            f"{len(result['no lists'])} without ranked lists (made before lists were kept; left as they are) "
            f"in {seconds:.1f}s")


def run(results: Path, suite: str | None, slices: bool = False, sid_prefixes: bool = False) -> str:
    start = time.perf_counter()
    lines = []
    if slices:
        added = add_slices(results, suite)
        lines.append(f"slices added to {len(added['added'])} record(s) made before they were kept; "
                     f"{len(added['had them'])} had them; {len(added['skipped'])} skipped (not a registered "
                     "dataset, or its data, protocol or users differ from the record's)")
    if sid_prefixes:
        added = add_sid_prefixes(results, suite)
        lines.append(f"SID prefixes added to {len(added['added'])} generative record(s); "
                     f"{len(added['had them'])} had them; {len(added['not cached'])} whose SID table is not in "
                     "this machine's cache (run `python -m bench tokenize` for it first): "
                     + (", ".join(str(p) for p in added["not cached"]) or "none"))
    result = rescore(results, suite)
    return "\n".join(lines + [summary_text(result, time.perf_counter() - start)])
