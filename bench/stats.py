"""Significance for leaderboards: paired tests on per-user metrics, Holm's correction, bootstrap intervals.

Why these: with thousands of users, the paired t-test (and randomisation or bootstrap) is well calibrated,
while Wilcoxon and sign tests inflate false positives (Ihemelandu & Ekstrand, SIGIR'23). Each system is
compared with the suite's reference on the same users, per-user metrics first averaged over seeds. With
many users nearly every difference is "significant", so the effect size and its interval matter more.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Comparison:
    mean_difference: float   # system - reference, absolute
    relative: float | None   # mean_difference / reference mean
    ci_low: float            # bootstrap 95% percentile interval of mean_difference
    ci_high: float
    p_value: float           # two-sided paired t-test
    n_users: int


def paired_comparison(system: np.ndarray, reference: np.ndarray, seed: int = 0,
                      samples: int = BOOTSTRAP_SAMPLES) -> Comparison:
    """Compare two per-user metric vectors over the same users (same order)."""
    system = np.asarray(system, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if system.shape != reference.shape or system.ndim != 1 or len(system) < 2:
        raise ValueError(f"paired comparison needs two equal-length vectors, got {system.shape} and {reference.shape}")
    diff = system - reference
    mean = float(diff.mean())
    if np.all(diff == diff[0]):  # identical systems (or a constant shift): no variance to test
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(stats.ttest_rel(system, reference).pvalue)
    low, high = bootstrap_interval(diff, seed, samples)
    base = float(reference.mean())
    return Comparison(mean, mean / base if base else None, low, high, p, len(diff))


def bootstrap_interval(diff: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over users resampled with replacement (seeded).

    A board compares every system on the same users with the same seed, so the resamples are drawn once
    per (users, seed) and each interval is then one product of counts and values."""
    diff = np.asarray(diff, dtype=np.float64)
    n = len(diff)
    counts = _resample_counts(n, seed, samples)
    means = np.empty(samples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, samples, chunk):
        means[start:start + chunk] = counts[start:start + chunk] @ diff / n
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@functools.lru_cache(maxsize=2)
def _resample_counts(n: int, seed: int, samples: int) -> np.ndarray:
    """How often each of n users is drawn in each resample: the same draws as indexing with
    rng.integers(0, n, (samples, n)) chunk by chunk, kept as small integers (Beauty: 90 MB)."""
    rng = np.random.default_rng(seed)
    counts = np.empty((samples, n), dtype=np.min_scalar_type(n))
    chunk = max(1, 2_000_000 // n)
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        counts[start:start + size] = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n)
    counts.flags.writeable = False
    return counts


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()
