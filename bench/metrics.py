"""Per-user Recall@K and NDCG@K from ranked item lists, item level: a hit is the target item itself.

With one held-out target per user (leave-one-out), Recall@K equals HR@K and NDCG@K is 1/log2(rank + 2)
for a hit at 0-based rank < K, else 0.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError


def check_ranked(ranked: np.ndarray, n_users: int, n_items: int, k: int) -> np.ndarray:
    """Validate a recommender's output: [n_users, >= k] distinct item indices (-1 allowed as padding)."""
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] != n_users:
        raise BenchError(f"recommend() must return an array [n_users={n_users}, k], got shape {ranked.shape}")
    if ranked.shape[1] < k:
        raise BenchError(f"recommend() returned {ranked.shape[1]} items per user, the protocol needs {k}")
    if not np.issubdtype(ranked.dtype, np.integer):
        raise BenchError(f"recommend() must return integer item indices, got {ranked.dtype}")
    ranked = ranked[:, :k]
    if ranked.size and (ranked.min() < -1 or ranked.max() >= n_items):
        raise BenchError(f"recommend() returned item indices outside [0, {n_items})")
    ordered = np.sort(ranked, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if repeated.any():
        row = int(np.flatnonzero(repeated.any(axis=1))[0])
        raise BenchError(f"recommend() returned the same item twice for user row {row}: items must be distinct")
    return ranked


def target_ranks(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its row, or -1 when the target is not in the list."""
    hits = ranked == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def per_user_metrics(ranked: np.ndarray, targets: np.ndarray, cutoffs=(5, 10)) -> dict[str, np.ndarray]:
    """{'recall@5': float32 [n_users], 'ndcg@5': ..., ...} for every cutoff."""
    ranks = target_ranks(ranked, targets)
    gains = 1.0 / np.log2(np.maximum(ranks, 0) + 2.0)  # used only where ranks >= 0
    out = {}
    for k in sorted(cutoffs):
        hit = (ranks >= 0) & (ranks < k)
        out[f"recall@{k}"] = hit.astype(np.float32)
        out[f"ndcg@{k}"] = np.where(hit, gains, 0.0).astype(np.float32)
    return out


def id_level_metrics(ranked: np.ndarray, targets: np.ndarray, groups: np.ndarray, cutoffs=(5, 10)) -> dict[str, np.ndarray]:
    """Recall@K and NDCG@K at ID level, as evaluators that compare generated IDs count them: a hit is any
    item whose semantic ID (the codes before disambiguation) is the target's, so a colliding twin counts.
    `groups[i]` numbers item i's semantic ID. Reported beside the item-level headline, never instead of it."""
    ranked = np.asarray(ranked)
    ranked_groups = np.where(ranked >= 0, groups[np.maximum(ranked, 0)], -1)
    return per_user_metrics(ranked_groups, groups[np.asarray(targets)], cutoffs)


KINDS = ("recall", "ndcg")
HIGHER_IS_BETTER = {"recall": True, "ndcg": True}  # a metric where lower wins (a loss, a rank) says False


def higher_is_better(name: str) -> bool:
    """Whether a larger value of this metric is better: early stopping, sweeps and the leaderboard's order
    all ask here rather than assuming it."""
    return HIGHER_IS_BETTER[parse_metric(name)[0]]


def better(name: str, value: float, best: float | None) -> bool:
    """True when `value` of metric `name` beats `best` (None: nothing yet)."""
    if best is None:
        return True
    return value > best if higher_is_better(name) else value < best


def metric_names(cutoffs) -> list[str]:
    """The metrics a protocol reports, in table order: recall@k, ndcg@k for each cutoff."""
    return [f"{kind}@{k}" for k in sorted(cutoffs) for kind in KINDS]


def parse_metric(name: str, cutoffs=None) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10); a clear error for anything else, or for a cutoff the protocol lacks."""
    kind, _, k = str(name).partition("@")
    if kind not in KINDS or not k.isdigit() or int(k) < 1:
        raise BenchError(f"unknown metric '{name}': use recall@K or ndcg@K")
    if cutoffs is not None and int(k) not in cutoffs:
        raise BenchError(f"metric '{name}' needs cutoff {k} in protocol.cutoffs (now {list(cutoffs)})")
    return kind, int(k)


def display_name(name: str) -> str:
    """'ndcg@10' -> 'NDCG@10', 'recall@20' -> 'Recall@20': figure labels, and RecBole's own spelling."""
    kind, k = parse_metric(name)
    return f"{'NDCG' if kind == 'ndcg' else 'Recall'}@{k}"


def short_name(name: str) -> str:
    """'ndcg@10' -> 'N@10', as the tables print it."""
    kind, k = parse_metric(name)
    return f"{kind[0].upper()}@{k}"


def mean_metrics(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.mean(values, dtype=np.float64)) if len(values) else 0.0
            for name, values in per_user.items()}
