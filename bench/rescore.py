"""`python -m bench rescore`: every registered metric and slice, recomputed from the ranked lists that
records keep, without retraining; each record's summary is rewritten so that it stays verifiable.

Adding a metric is one function in bench/metric_registry.py and one `rescore`. Records made before lists were
kept (schema version 1) are left as they are: their accuracy stays valid, and the new columns show "—".
"""

from __future__ import annotations

import time
from pathlib import Path

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


def summary_text(result: dict[str, list[Path]], seconds: float) -> str:
    return (f"{len(result['rescored'])} record(s) rescored, {len(result['unchanged'])} already current, "
            f"{len(result['no lists'])} without ranked lists (made before lists were kept; left as they are) "
            f"in {seconds:.1f}s")


def run(results: Path, suite: str | None) -> str:
    start = time.perf_counter()
    result = rescore(results, suite)
    return summary_text(result, time.perf_counter() - start)
