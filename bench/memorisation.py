"""Memorised against new transitions: does a system win by recalling what it saw in training?

A test user's transition (last history item -> target) is *memorised* when some training example has the
same last history item and target; the rest are *new*. On Beauty about 9% of test transitions are
memorised, and there SASRec recalls about 60% of targets at 10 where tiger recalls a third to two fifths,
while on new transitions they are level: the split says where a judge's quality comes from.
"""

from __future__ import annotations

import numpy as np

from bench.protocol import Examples, Split


def last_items(examples: Examples) -> np.ndarray:
    return examples.history[np.arange(len(examples)), np.maximum(examples.lengths, 1) - 1]


def memorised(split: Split, examples: Examples) -> np.ndarray:
    """bool per row of `examples`: its (last history item, target) pair is one of training's."""
    n = np.int64(split.n_items)
    seen = np.unique(last_items(split.train).astype(np.int64) * n + split.train.targets)
    return np.isin(last_items(examples).astype(np.int64) * n + examples.targets, seen)


def recall_by_transition(split: Split, users: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """(share of memorised test transitions, mean of `values` over them, over the new ones) for per-user
    `values` of the test users `users`."""
    rows = np.searchsorted(split.users, users)
    if not np.array_equal(split.users[np.minimum(rows, len(split.users) - 1)], users):
        raise ValueError("per-user values name users that the split does not evaluate")
    flags = memorised(split, split.test)[rows]
    mean = (lambda mask: float(values[mask].mean()) if mask.any() else float("nan"))
    return float(flags.mean()), mean(flags), mean(~flags)
