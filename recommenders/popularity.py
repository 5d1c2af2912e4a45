"""Most popular items in the training part, the same list for everyone: the floor every model must beat."""

from __future__ import annotations

import numpy as np

from bench.recommender import FitInfo, Recommender, register_recommender


@register_recommender("popularity")
class Popularity(Recommender):
    def fit(self, split, sids, seed):
        counts = np.bincount(split.train_items, minlength=split.n_items)
        self.ranking = np.argsort(-counts, kind="stable")  # ties: lower item index first
        return FitInfo(epochs=0)

    def recommend(self, examples, k):
        return np.broadcast_to(self.ranking[:k], (len(examples), k)).copy()
