"""Dataset statistics (`python -m bench data stats`): sizes, sequence lengths, time range, metadata coverage."""

from __future__ import annotations

import numpy as np

from bench.data.dataset import Dataset
from bench.protocol import ProtocolConfig


def validation_summary(target: str) -> str:
    """One line for a dataset that loads (any problem raises a DatasetError naming file and line), then
    its notes: what `data validate` and `check dataset` print."""
    from bench.data import load_dataset

    dataset = load_dataset(target)
    lines = [f"{target}: valid ({dataset.n_users:,} users, {dataset.n_items:,} items, "
             f"{dataset.n_interactions:,} interactions)"]
    notes = list(dataset.notes)
    short = int((dataset.sequence_lengths < ProtocolConfig.min_interactions).sum())
    if short:  # never dropped without a word
        notes.append(f"{short:,} user(s) have fewer than {ProtocolConfig.min_interactions} interactions: the "
                     "leave-one-out split (one item each for training, validation and test) leaves them out")
    return "\n".join(lines + [f"note: {note}" for note in notes])


def dataset_stats(dataset: Dataset) -> dict:
    lengths = dataset.sequence_lengths
    stats = {
        "dataset": dataset.name,
        "users": dataset.n_users, "items": dataset.n_items, "interactions": dataset.n_interactions,
        "density": dataset.n_interactions / (dataset.n_users * dataset.n_items),
        "order_source": dataset.order_source,
        "sequence_length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                            "mean": float(lengths.mean()), "p90": float(np.percentile(lengths, 90)),
                            "max": int(lengths.max())},
        "item_interactions": {"min": int(np.bincount(dataset.items).min()),
                              "max": int(np.bincount(dataset.items).max())},
        "files": dict(dataset.files),
    }
    if dataset.timestamps is not None:
        import datetime as dt

        def date(seconds: int) -> str:
            try:
                return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).date().isoformat()
            except (OverflowError, OSError, ValueError):  # past year 9999: milliseconds, or not unix time
                return f"{int(seconds)} s (beyond the calendar: not unix seconds?)"

        stats["time_range"] = [date(dataset.timestamps.min()), date(dataset.timestamps.max())]
    if dataset.item_meta is not None:
        n = dataset.n_items
        meta = dataset.item_meta
        stats["metadata_coverage"] = {
            "title": sum(m.title is not None for m in meta) / n,
            "brand": sum(m.brand is not None for m in meta) / n,
            "categories": sum(bool(m.categories) for m in meta) / n,
            "price": sum(m.price is not None for m in meta) / n,
            "description": sum(m.description is not None for m in meta) / n,
        }
    else:
        stats["metadata_coverage"] = None
    return stats


def format_stats(stats: dict) -> str:
    from tabulate import tabulate

    seq = stats["sequence_length"]
    rows = [("users", f"{stats['users']:,}"), ("items", f"{stats['items']:,}"),
            ("interactions", f"{stats['interactions']:,}"), ("density", f"{stats['density']:.5f}"),
            ("order", stats["order_source"]),
            ("sequence length", f"min {seq['min']}, median {seq['median']:g}, mean {seq['mean']:.2f}, "
                                f"p90 {seq['p90']:g}, max {seq['max']}"),
            ("interactions per item", f"min {stats['item_interactions']['min']}, "
                                      f"max {stats['item_interactions']['max']}")]
    if "time_range" in stats:
        rows.append(("time range", " .. ".join(stats["time_range"])))
    coverage = stats["metadata_coverage"]
    if coverage is None:
        rows.append(("metadata", "no items file"))
    else:
        rows.append(("metadata coverage", ", ".join(f"{k} {v:.1%}" for k, v in coverage.items())))
    return f"dataset {stats['dataset']}\n" + tabulate(rows, tablefmt="plain")
