"""Text KNN (TIGER's Semantic-KNN baseline): the items nearest to the user's most recent items in the item
text-embedding space, exact inner-product search with faiss on unit vectors. It reads content only, so it
ranks a cold item (never in training) like any other: the content baseline of the cold-start comparison."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import ConfigError
from bench.recommender import FitInfo, Recommender, register_recommender


@register_recommender("text-knn")
class TextKNN(Recommender):
    needs = ("text_embeddings",)

    @dataclass(frozen=True)
    class Config:
        recent: int = 1      # the query: the mean of the last `recent` history items' vectors (TIGER: the last)
        exclude_history: bool = False  # True: never recommend an item of the history (ours: history not masked)

        def __post_init__(self):
            if self.recent < 1:
                raise ConfigError(f"text-knn: recent must be at least 1, got {self.recent}")

    def fit(self, split, sids, seed):
        vectors = np.asarray(self.context.inputs.text_embeddings, dtype=np.float32)
        self.vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return FitInfo(epochs=0)

    def recommend(self, examples, k):
        import faiss

        index = faiss.IndexFlatIP(self.vectors.shape[1])
        index.add(self.vectors)
        history, lengths = examples.history, examples.lengths
        slots = np.arange(history.shape[1])[None, :]
        recent = (slots < lengths[:, None]) & (slots >= lengths[:, None] - self.config.recent)
        weights = recent.astype(np.float32)
        queries = np.einsum("uh,uhd->ud", weights, self.vectors[np.maximum(history, 0)])
        queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        extra = history.shape[1] if self.config.exclude_history else 0
        _, found = index.search(queries.astype(np.float32), k + extra)
        if not extra:
            return found[:, :k].astype(np.int64)
        seen = (found[:, :, None] == history[:, None, :]).any(axis=2)
        order = np.argsort(seen, axis=1, kind="stable")  # unseen first, in similarity order
        return np.take_along_axis(found, order, axis=1)[:, :k].astype(np.int64)
