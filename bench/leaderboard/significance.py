"""Paired comparisons on per-user test metrics (bench.stats): each system against the reference, Holm
across a table; per-user values are each user's mean over a system's seeds."""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError
from bench.metrics import parse_metric, short_name
from bench.stats import BOOTSTRAP_SAMPLES, holm, paired_comparison

def tested_metrics(selection: str) -> tuple[str, str]:
    """The metrics compared with the reference, Holm-corrected together: the selection metric first, then
    its partner at the same cutoff (ndcg@10 -> recall@10)."""
    kind, k = parse_metric(selection)
    return selection, f"{'recall' if kind == 'ndcg' else 'ndcg'}@{k}"


def method_text(tested: tuple[str, str]) -> str:
    return (f"Δ: relative difference of the mean to the reference. Significance: two-sided paired t-test on "
            f"per-user test metrics (each user's metric averaged over the system's seeds first), Holm-corrected "
            f"across all {' and '.join(short_name(m) for m in tested)} comparisons of the table; 95% CI: percentile "
            f"bootstrap over users ({BOOTSTRAP_SAMPLES} resamples, seed 0) of the absolute difference in "
            f"{short_name(tested[0])}. Paired t rather than Wilcoxon: with thousands of users it is well "
            f"calibrated, Wilcoxon and sign tests are not (Ihemelandu & Ekstrand, SIGIR'23).")


def per_user_mean(recs: list[dict], metric: str, part: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(users, the metric per user averaged over the records' seeds) of one evaluated part ('test', or
    another list of the test users); every seed must rank the same users."""
    users, values = None, []
    for record in recs:
        side = record["_arrays"]
        if users is not None and not np.array_equal(users, side["users"]):
            raise BenchError(f"{record['_path']}: evaluated users differ between seeds of {record['system']}; "
                             "records of one system must rank the same users")
        users = side["users"]
        values.append(side[f"{part}.{metric}"].astype(np.float64))
    return users, np.mean(values, axis=0)


def same_users(users: np.ndarray, other_users: np.ndarray, system: str, other: str) -> None:
    """A paired test needs both systems' per-user values on the same users, in the same order."""
    if not np.array_equal(users, other_users):
        raise BenchError(f"{system} and {other} were evaluated on different users, so they cannot be paired; "
                         "were they run with different protocol settings?")


def against_reference(systems: dict[str, list[dict]], reference: str, tested: tuple[str, str]) -> dict[str, dict]:
    """{system: {metric: Comparison with Holm-adjusted p}} against the reference."""
    found, raw = {}, []
    baseline = {metric: per_user_mean(systems[reference], metric) for metric in tested}  # read once
    for system in sorted(systems):
        if system == reference:
            continue
        for metric in tested:
            ref_users, ref_values = baseline[metric]
            users, values = per_user_mean(systems[system], metric)
            same_users(users, ref_users, system, reference)
            found.setdefault(system, {})[metric] = paired_comparison(values, ref_values)
            raw.append((system, metric))
    adjusted = holm([found[s][m].p_value for s, m in raw])
    for (system, metric), p in zip(raw, adjusted):
        found[system][metric] = (found[system][metric], p)
    return found


def p_text(p: float) -> str:
    return "<1e-4" if p < 1e-4 else f"{p:.4f}"
