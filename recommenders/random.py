"""Uniformly random distinct items per user: the chance level of full ranking (about k / n_items)."""

from __future__ import annotations

import numpy as np

from bench.progress import bar
from bench.recommender import FitInfo, Recommender, register_recommender


@register_recommender("random")
class RandomRanking(Recommender):
    def fit(self, split, sids, seed):
        self.n_items = split.n_items
        self.rng = np.random.default_rng(seed)
        return FitInfo(epochs=0)

    def recommend(self, examples, k):
        out = np.full((len(examples), k), -1, dtype=np.int64)  # -1 pads a catalogue smaller than k
        k = min(k, self.n_items)
        # bounded memory: 1024 x n_items floats at a time
        for start in bar(range(0, len(examples), 1024), desc="random ranking", unit="batch"):
            scores = self.rng.random((min(1024, len(examples) - start), self.n_items), dtype=np.float32)
            top = np.argpartition(scores, kth=k - 1, axis=1)[:, :k]
            order = np.argsort(np.take_along_axis(scores, top, axis=1), axis=1)
            out[start:start + len(top), :k] = np.take_along_axis(top, order, axis=1)
        return out
