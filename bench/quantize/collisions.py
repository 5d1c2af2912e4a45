"""The shared collision step: items with identical codes get told apart, the same way for every tokenizer.

Fixed length: a disambiguation level is appended (TIGER's 4th code): 0, 1, 2, ... within each group of
items sharing their codes, in item order. Variable length: colliding items get one disambiguation token
before the end marker; every row ends with the end marker, so no ID is a prefix of another.
"""

from __future__ import annotations

import numpy as np

from bench.tokenizer import SIDTable


def _group_ranks(inverse: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each group (groups given by `inverse`), in item order."""
    order = np.lexsort((np.arange(len(inverse)), inverse))
    grouped = inverse[order]
    rank_sorted = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def disambiguate(codes: np.ndarray, vocab_sizes: tuple[int, ...], always: bool = False) -> SIDTable:
    """A SIDTable from fixed-length codes; appends a disambiguation level when items collide (or `always`)."""
    codes = np.asarray(codes, dtype=np.int64)
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    collided = int((counts[inverse] > 1).sum())
    if collided == 0 and not always:
        return SIDTable(codes, tuple(vocab_sizes))
    rank = _group_ranks(inverse)
    return SIDTable(np.column_stack([codes, rank]), (*vocab_sizes, int(counts.max())), dedup=True,
                    collided_items=collided)


def terminate(token_lists: list[list[int]], vocab_size: int) -> SIDTable:
    """A variable-length SIDTable from token sequences over [0, vocab_size).

    Codes: tokens as given, `end = vocab_size` as the end marker, `end + 1 + r` for the r-th item of a
    group of identical sequences. All levels share one vocabulary.
    """
    key_of: dict[tuple, int] = {}
    inverse = np.array([key_of.setdefault(tuple(tokens), len(key_of)) for tokens in token_lists])
    counts = np.bincount(inverse)
    rank = _group_ranks(inverse)
    collided = counts[inverse] > 1
    end = vocab_size
    width = max(len(t) + int(c) for t, c in zip(token_lists, collided)) + 1
    codes = np.full((len(token_lists), width), end, dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        codes[row, :len(tokens)] = tokens
        if collided[row]:
            codes[row, len(tokens)] = end + 1 + rank[row]
    dedup = bool(collided.any())
    vocab = end + 1 + (int(counts.max()) if dedup else 0)
    return SIDTable(codes, (vocab,) * width, end_code=end, dedup=dedup, collided_items=int(collided.sum()))
