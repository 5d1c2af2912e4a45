"""Leaderboard tables that read the evidence records keep (bench.evidence): beyond-accuracy metrics and
accuracy per slice. Records made before ranked lists were kept show "—" here, and only here."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.metric_registry import REGISTRY, Context
from bench.slices import SLICES

MAIN_TABLE = ("recall", "ndcg", "hit")  # the accuracy table's (hit equals recall under leave-one-out)


def beyond_metrics() -> list[str]:
    """Every registered metric the accuracy table does not show: a metric registered later gets a column."""
    return [name for name in REGISTRY if name not in MAIN_TABLE]
BOOTSTRAP_SAMPLES = 200


def _k(cutoffs) -> int:
    return 10 if 10 in cutoffs else max(cutoffs)


def _catalogue_interval(record: dict, metric: str, k: int) -> tuple[float, float] | None:
    """95% percentile bootstrap over users (seed 0) of a catalogue metric, from the record's test lists."""
    arrays = record.get("_arrays") or {}
    if "test.ranked" not in arrays:
        return None
    lists = arrays["test.ranked"].astype(np.int64)[:, :k]
    context = Context(arrays["test.targets"].astype(np.int64), arrays["items.category"], arrays["items.popularity"])
    rng = np.random.default_rng(0)
    values = [REGISTRY[metric].fn(lists[rng.integers(0, len(lists), len(lists))], context)
              for _ in range(BOOTSTRAP_SAMPLES)]
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def beyond_accuracy_table(systems: dict[str, list[dict]], order: list[str], cutoffs) -> list[str]:
    """Every registered metric beyond Recall and NDCG (coverage, Entropy, tail share, novelty, average
    popularity, Gini of exposure, MRR, and any registered later) at K = 10: the mean over seeds; a catalogue
    metric also gets seed 0's bootstrap interval over users."""
    k = _k(cutoffs)
    beyond = beyond_metrics()
    names = [f"{m}@{k}" for m in beyond]
    if not any(name in r["metrics"]["test"] for recs in systems.values() for r in recs for name in names):
        return []
    rows = []
    for system in order:
        recs = sorted(systems[system], key=lambda r: r["seeds"]["run"])
        row = [system]
        for metric, name in zip(beyond, names):
            values = [r["metrics"]["test"][name] for r in recs if name in r["metrics"]["test"]]
            if not values:
                row.append("—")
                continue
            cell = f"{np.mean(values):.4f}" if metric != "avg_popularity" else f"{np.mean(values):.1f}"
            interval = _catalogue_interval(recs[0], metric, k) if REGISTRY[metric].scope == "catalogue" else None
            row.append(cell + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""))
        rows.append(row)
    headers = ["system", *(f"{m.replace('_', ' ')}@{k}" + ("" if REGISTRY[m].higher_is_better else " ↓")
                           for m in beyond)]
    return ["Beyond accuracy (test, mean over seeds; ↓: lower is better, less concentrated on popular items; "
            "coverage and Gini are catalogue-level, with seed 0's 95% percentile bootstrap interval over users (a "
            "resample holds fewer distinct users, so coverage's interval sits low); Entropy is TIGER's: the "
            "entropy in nats of the categories, one level below the root, of a user's top K; tail: outside the "
            "20% most popular items by training interactions; novelty: mean -log2 of an item's share of "
            "training interactions; — : the record kept no ranked lists, `python -m bench rescore` cannot add it):",
            "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def slice_table(systems: dict[str, list[dict]], order: list[str], metric: str) -> list[str]:
    """`metric` per slice of the test users (target popularity, memorised or new transition, history length),
    each user's value averaged over the system's seeds first."""
    columns = [(name, index, label) for name, labels in SLICES.items() for index, label in enumerate(labels)]
    rows, sizes = [], {}
    for system in order:
        recs = [r for r in systems[system] if "test.slice.target_popularity" in (r.get("_arrays") or {})]
        if not recs:
            continue
        arrays = recs[0]["_arrays"]
        values = np.mean([r["_arrays"][f"test.{metric}"] for r in recs], axis=0)
        row = [system]
        for name, index, label in columns:
            mask = arrays[f"test.slice.{name}"] == index
            sizes[(name, label)] = int(mask.sum())
            row.append(f"{values[mask].mean():.4f}" if mask.any() else "—")
        rows.append(row)
    if not rows:
        return []
    headers = ["system", *(f"{label} ({sizes[(name, label)]:,})" for name, _, label in columns)]
    return [f"{metric} per slice of the test users (users in each slice in brackets): target popularity head / "
            "torso / tail (the target among the 20% / next 30% / other 50% of items by training interactions); "
            "transition new / memorised (some training example has the same last item and target); history length:",
            "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
