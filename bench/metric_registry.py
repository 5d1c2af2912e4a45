"""The metric registry: every metric the benchmark reports, computed from ranked lists alone.

A metric is a function of a user's top-K list and what the registry calls its context (the targets, each
item's category and training popularity), registered with its direction and scope:

- scope "user": one value per user (accuracy, a list's entropy or novelty); the summary is the mean, and
  paired tests compare systems user by user;
- scope "catalogue": one value for the whole set of lists (coverage, Gini of exposure); the leaderboard gives
  its range over seeds (a bootstrap over users would not do: a resample covers fewer distinct items).

Adding a metric is one decorated function; `python -m bench rescore` then computes it for every record that
kept its ranked lists, without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from bench.errors import BenchError

TAIL_HEAD_SHARE = 0.2  # tail share: items outside the most popular 20% of the catalogue (by training interactions)


@dataclass(frozen=True)
class Context:
    """What metrics may read besides the lists: one target per user (-1 where none), and per item its
    category index (-1: none) and its number of training interactions."""

    targets: np.ndarray
    item_category: np.ndarray
    item_popularity: np.ndarray
    item_cold: np.ndarray | None = None  # bool per item under the cold_items split; None: no cold items

    @property
    def n_items(self) -> int:
        return len(self.item_popularity)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, Context], np.ndarray | float]
    higher_is_better: bool
    scope: Literal["user", "catalogue"]
    about: str
    needs: tuple[str, ...] = ()  # optional Context fields it reads: skipped where the context lacks them


REGISTRY: dict[str, Metric] = {}


def register_metric(name: str, higher_is_better: bool, scope: Literal["user", "catalogue"] = "user",
                    needs: tuple[str, ...] = ()):
    """Register `fn(top_k, context)`: `top_k` is [n_users, K] item indices (-1: padding); it returns one
    float32 per user (scope "user") or one float (scope "catalogue"). `needs`: optional context fields
    (e.g. item_cold) without which the metric does not apply and is not computed."""
    def decorate(fn):
        if name in REGISTRY:
            raise BenchError(f"metric '{name}' is registered twice")
        REGISTRY[name] = Metric(name, fn, higher_is_better, scope, (fn.__doc__ or "").strip().split("\n")[0],
                                tuple(needs))
        return fn
    return decorate


def _ranks(top_k: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each user's target in its list, -1 when absent."""
    hits = top_k == np.asarray(targets)[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


@register_metric("recall", True)
def recall(top_k, context):
    """Recall@K: the target is in the top K (with one target per user, HR@K)."""
    return (_ranks(top_k, context.targets) >= 0).astype(np.float32)


@register_metric("hit", True)
def hit(top_k, context):
    """Hit@K: at least one target in the top K (equal to Recall@K under leave-one-out)."""
    return (_ranks(top_k, context.targets) >= 0).astype(np.float32)


@register_metric("ndcg", True)
def ndcg(top_k, context):
    """NDCG@K: 1 / log2(rank + 2) for the target at 0-based rank < K."""
    ranks = _ranks(top_k, context.targets)
    return np.where(ranks >= 0, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0).astype(np.float32)


@register_metric("mrr", True)
def mrr(top_k, context):
    """MRR@K: 1 / (rank + 1) for the target at 0-based rank < K (Cornac reports it)."""
    ranks = _ranks(top_k, context.targets)
    return np.where(ranks >= 0, 1.0 / (np.maximum(ranks, 0) + 1.0), 0.0).astype(np.float32)


@register_metric("entropy", True)
def entropy(top_k, context):
    """Entropy@K (TIGER): the entropy, in nats, of the categories of a user's top K."""
    categories = np.where(top_k >= 0, context.item_category[np.maximum(top_k, 0)], -1)
    known = categories >= 0
    counts = np.zeros((len(top_k), max(int(categories.max(initial=-1)) + 1, 1)))
    np.add.at(counts, (np.nonzero(known)[0], categories[known]), 1)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return -(share * np.log(np.where(share > 0, share, 1))).sum(axis=1).astype(np.float32)


@register_metric("avg_popularity", False)
def avg_popularity(top_k, context):
    """Average recommended popularity@K: mean training interactions of a user's top K (lower: less popular)."""
    popularity = np.where(top_k >= 0, context.item_popularity[np.maximum(top_k, 0)], np.nan)
    return np.nan_to_num(np.nanmean(popularity, axis=1)).astype(np.float32)


def head_items(popularity: np.ndarray, share: float = TAIL_HEAD_SHARE) -> np.ndarray:
    """bool per item: among the `share` most popular by training interactions (ties broken by index)."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    head = np.zeros(len(popularity), dtype=bool)
    head[order[:int(np.ceil(share * len(popularity)))]] = True
    return head


@register_metric("tail_share", True)
def tail_share(top_k, context):
    """Tail share@K: share of a user's top K outside the most popular 20% of items."""
    head = head_items(context.item_popularity)
    valid = top_k >= 0
    tail = valid & ~head[np.maximum(top_k, 0)]
    return (tail.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)).astype(np.float32)


@register_metric("cold_share", True, needs=("item_cold",))
def cold_share(top_k, context):
    """Cold share@K: share of a user's top K that are cold items (the cold_items split's, never trained on)."""
    valid = top_k >= 0
    cold = valid & context.item_cold[np.maximum(top_k, 0)]
    return (cold.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)).astype(np.float32)


@register_metric("novelty", True)
def novelty(top_k, context):
    """Novelty@K: mean self-information -log2 p(i) of a user's top K, p(i) = item i's share of training
    interactions (an item never seen in training counts as seen once)."""
    counts = np.maximum(context.item_popularity, 1).astype(np.float64)
    information = -np.log2(counts / counts.sum())
    values = np.where(top_k >= 0, information[np.maximum(top_k, 0)], np.nan)
    return np.nan_to_num(np.nanmean(values, axis=1)).astype(np.float32)


def exposure(top_k: np.ndarray, n_items: int) -> np.ndarray:
    return np.bincount(top_k[top_k >= 0].ravel(), minlength=n_items)


@register_metric("coverage", True, "catalogue")
def coverage(top_k, context):
    """Coverage@K: share of the catalogue that appears in at least one user's top K."""
    return float((exposure(top_k, context.n_items) > 0).mean())


@register_metric("gini", False, "catalogue")
def gini(top_k, context):
    """Gini@K of exposure: 0 when every item is recommended equally often, near 1 when a few take all."""
    counts = np.sort(exposure(top_k, context.n_items)).astype(np.float64)
    if counts.sum() == 0:
        return 0.0
    n = len(counts)
    return float((2 * np.arange(1, n + 1) - n - 1) @ counts / (n * counts.sum()))


def parse(name: str) -> tuple[Metric, int]:
    """'ndcg@10' -> (the ndcg Metric, 10); a clear error naming the registered metrics otherwise."""
    kind, _, k = str(name).partition("@")
    if kind not in REGISTRY or not k.isdigit() or int(k) < 1:
        raise BenchError(f"unknown metric '{name}': use NAME@K with NAME one of {', '.join(REGISTRY)}")
    return REGISTRY[kind], int(k)


def compute(ranked: np.ndarray, context: Context, cutoffs, names=None) -> tuple[dict, dict]:
    """({'ndcg@10': per-user float32, ...}, {'coverage@10': float, ...}) for every registered metric (or
    `names`) at every cutoff, from lists of at least max(cutoffs) items."""
    per_user, catalogue = {}, {}
    for k in sorted(cutoffs):
        top_k = np.asarray(ranked)[:, :k]
        for metric in REGISTRY.values():
            name = f"{metric.name}@{k}"
            if names is not None and name not in names:
                continue
            if any(getattr(context, field) is None for field in metric.needs):
                continue
            value = metric.fn(top_k, context)
            (per_user if metric.scope == "user" else catalogue)[name] = value
    return per_user, catalogue
