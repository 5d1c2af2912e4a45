"""Slices of the evaluated users, and the catalogue context that beyond-accuracy metrics read.

Both are computed from the split alone (training interactions only, never a test target's popularity from
test data) and stored in each record's side file, so any metric can later be read per slice, and paired
within it, from the records alone:

- target popularity: head (the target is among the 20% most popular items by training interactions), torso
  (the next 30%) or tail (the other half);
- transition: memorised (some training example has the same last history item and target) or new;
- history length: the user's whole history before the target, in buckets;
- item (cold_items split only): warm, or cold (the target is an item never seen in training).
"""

from __future__ import annotations

import numpy as np

from bench.memorisation import memorised
from bench.protocol import Split

POPULARITY_SLICES = ("head", "torso", "tail")
HEAD_SHARE, TORSO_SHARE = 0.2, 0.3  # of the catalogue, most popular first; the rest is the tail
TRANSITION_SLICES = ("new", "memorised")
HISTORY_EDGES = (5, 10, 20)  # history lengths 1-4, 5-9, 10-19, 20+
HISTORY_SLICES = ("1-4", "5-9", "10-19", "20+")
COLD_SLICES = ("warm", "cold")  # the cold_items split only: is the test target a cold item
SLICES = {"target_popularity": POPULARITY_SLICES, "transition": TRANSITION_SLICES, "history": HISTORY_SLICES,
          "item": COLD_SLICES}
CATEGORY_LEVEL = 1  # Beauty's paths start at the dataset's root ("Beauty"): level 1 is the first that tells apart


def item_popularity(split: Split) -> np.ndarray:
    """Training interactions per item (the evaluated users' training sequences)."""
    return np.bincount(split.train_items, minlength=split.n_items).astype(np.int32)


def popularity_levels(popularity: np.ndarray) -> np.ndarray:
    """0 head, 1 torso, 2 tail per item, most popular first (ties broken by item index)."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    level = np.full(len(popularity), 2, dtype=np.int8)
    head, torso = int(np.ceil(HEAD_SHARE * len(popularity))), int(np.ceil((HEAD_SHARE + TORSO_SHARE) * len(popularity)))
    level[order[:head]], level[order[head:torso]] = 0, 1
    return level


def item_categories(categories, n_items: int) -> np.ndarray:
    """Each item's category at CATEGORY_LEVEL of its first path, as an index into the sorted names (-1: none;
    an item whose path is shorter takes its deepest category)."""
    if categories is None:
        return np.full(n_items, -1, dtype=np.int32)
    names = [paths[0][min(CATEGORY_LEVEL, len(paths[0]) - 1)] if paths and paths[0] else None for paths in categories]
    known = sorted({n for n in names if n is not None})
    index = {name: i for i, name in enumerate(known)}
    return np.array([index[n] if n is not None else -1 for n in names], dtype=np.int32)


def user_slices(split: Split, part: str, popularity: np.ndarray) -> dict[str, np.ndarray]:
    """{'target_popularity': int8 [n_users], 'transition': ..., 'history': ...} for `part` (valid or test),
    each an index into SLICES. Test's history is the training sequence and the validation item."""
    examples = getattr(split, part)
    full_history = np.diff(split.train_offsets) + (1 if part == "test" else 0)
    out = {"target_popularity": popularity_levels(popularity)[examples.targets],
           "transition": memorised(split, examples).astype(np.int8),
           "history": np.searchsorted(HISTORY_EDGES, full_history, side="right").astype(np.int8)}
    if split.cold_items is not None:
        out["item"] = np.isin(examples.targets, split.cold_items).astype(np.int8)
    return out
