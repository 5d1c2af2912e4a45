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


def train_item_counts(split: Split) -> np.ndarray:
    """Training interactions per item: 0 marks an item no training sequence holds (a cold item, or one seen
    only as a validation or test target), whose collaborative vectors carry no signal of its own."""
    counts = np.bincount(split.train_items, minlength=split.n_items).astype(np.int32)
    counts.setflags(write=False)
    return counts


def impute_by_content(values: np.ndarray, known: np.ndarray, content: np.ndarray, neighbours: int = 10) -> np.ndarray:
    """`values` with each row where `known` is False replaced by the mean row of its `neighbours` nearest known
    items by content (cosine of `content`): how a collaborative vector is made for an item with no training
    interactions, from content alone and other items' collaborative vectors."""
    values = np.array(values, dtype=np.float32)
    unknown, known_rows = np.flatnonzero(~known), np.flatnonzero(known)
    if len(unknown) == 0 or len(known_rows) == 0:
        return values
    unit = content / np.maximum(np.linalg.norm(content, axis=1, keepdims=True), 1e-12)
    k = min(neighbours, len(known_rows))
    for start in range(0, len(unknown), 1024):
        rows = unknown[start:start + 1024]
        similarity = unit[rows] @ unit[known_rows].T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        values[rows] = values[known_rows[nearest]].mean(axis=1)
    return values


def build_train_item_counts(dataset, split, config, device, cache):
    counts = train_item_counts(split)
    return counts, {"items_without_training_interactions": int((counts == 0).sum())}


def build_user_histories(dataset, split, config, device, cache):
    return training_histories(split), {}


def build_cooccurrence(dataset, split, config, device, cache):
    pairs = cooccurrence_pairs(split, config.cooccurrence_window)
    return pairs, {"window": config.cooccurrence_window, "pairs": int(len(pairs))}
