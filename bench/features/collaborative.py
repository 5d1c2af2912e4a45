"""Collaborative signals from the TRAINING part of the split only: validation and test items never appear."""

from __future__ import annotations

import numpy as np

from bench.protocol import Split
from bench.tokenizer import Histories


def training_histories(split: Split) -> Histories:
    offsets, items, users = split.train_offsets.copy(), split.train_items.copy(), split.users.copy()
    for array in (offsets, items, users):
        array.setflags(write=False)
    return Histories(offsets, items, users, split.n_users)


def cooccurrence_pairs(split: Split, window: int = 1) -> np.ndarray:
    """int32 [n_pairs, 2]: (earlier, later) items at most `window` positions apart in a training sequence."""
    items = split.train_items
    owner = np.repeat(np.arange(len(split.train_offsets) - 1), np.diff(split.train_offsets))
    pairs = []
    for gap in range(1, window + 1):
        same_user = owner[:-gap] == owner[gap:]
        pairs.append(np.stack([items[:-gap][same_user], items[gap:][same_user]], axis=1))
    out = np.concatenate(pairs).astype(np.int32) if pairs else np.zeros((0, 2), np.int32)
    out.setflags(write=False)
    return out


def build_user_histories(dataset, split, config, device, cache):
    return training_histories(split), {}


def build_cooccurrence(dataset, split, config, device, cache):
    pairs = cooccurrence_pairs(split, config.cooccurrence_window)
    return pairs, {"window": config.cooccurrence_window, "pairs": int(len(pairs))}
