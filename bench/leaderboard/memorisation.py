"""Recall on memorised against new test transitions, from the records' transition slices."""

from __future__ import annotations

from tabulate import tabulate

from bench.leaderboard.significance import per_user_mean
from bench.metrics import short_name
from bench.slices import TRANSITION_SLICES

def memorisation_table(systems: dict[str, list[dict]], order: list[str], names: list[str]) -> list[str]:
    """Recall at the largest cutoff on memorised and on new test transitions (bench.memorisation), from the
    transition labels that records with ranked lists keep; systems whose records predate them are left out."""
    metric = next(m for m in reversed(names) if m.startswith("recall@"))
    rows, share = [], 0.0
    for system in order:
        recs = [r for r in systems[system] if "test.slice.transition" in (r.get("_arrays") or {})]
        if not recs:
            continue
        flags = recs[0]["_arrays"]["test.slice.transition"] == TRANSITION_SLICES.index("memorised")
        _, values = per_user_mean(recs, metric)
        share = float(flags.mean())
        mean = (lambda mask: f"{values[mask].mean():.4f}" if mask.any() else "—")
        rows.append([system, mean(flags), mean(~flags)])
    if not rows:
        return []
    label = short_name(metric)
    return [f"{label} on memorised and on new test transitions: a transition (last history item -> target) is "
            f"memorised when a training example has the same pair ({share:.1%} of test users; systems whose "
            "records kept no slices are left out):", "",
            tabulate(rows, headers=["system", f"{label} memorised", f"{label} new"], tablefmt="github",
                     disable_numparse=True), ""]
