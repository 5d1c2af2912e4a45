"""Item-level (the headline) against ID-level accuracy, where a colliding twin counts."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.metrics import parse_metric, short_name

def id_level_table(systems: dict[str, list[dict]], order: list[str], names: list[str]) -> list[str]:
    """Item level (the headline) beside ID level, where a generated ID shared by colliding twins counts as a
    hit for each of them (how many papers' evaluators count), and the inflation that counting gives."""
    k = max(parse_metric(m)[1] for m in names)
    rows = []
    for system in order:
        recs = systems[system]
        if not all(r["metrics"].get("test_id_level") for r in recs):
            continue
        row = [system]
        for kind in ("recall", "ndcg"):
            item = float(np.mean([r["metrics"]["test"][f"{kind}@{k}"] for r in recs]))
            by_id = float(np.mean([r["metrics"]["test_id_level"][f"{kind}@{k}"] for r in recs]))
            row += [f"{item:.4f}", f"{by_id:.4f}", f"{by_id / item - 1:+.1%}" if item else "—"]
        rows.append(row)
    if not rows:
        return []
    r, n = short_name(f"recall@{k}"), short_name(f"ndcg@{k}")
    return ["Item level (headline: a hit is the target item) against ID level (a hit is any item whose semantic "
            "ID, the codes before disambiguation, is the target's, so a colliding twin counts, as evaluators "
            "that compare generated IDs count it):", "",
            tabulate(rows, headers=["system", f"{r} item", f"{r} ID", "inflation", f"{n} item", f"{n} ID",
                                    "inflation"], tablefmt="github", disable_numparse=True), ""]
