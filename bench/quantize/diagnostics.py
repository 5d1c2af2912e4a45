"""SID diagnostics, stored with every table: code usage and entropy per level, unique prefixes, collisions
before disambiguation, and semantic coherence (do items that share a first code share a category?)."""

from __future__ import annotations

import numpy as np

from bench.tokenizer import SIDTable


def _pairs(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def coherence(first_codes: np.ndarray, category_keys: list[str | None]) -> dict | None:
    """P(same category | same first code) against P(same category) for a random pair, which is what random
    codes with the same bucket sizes give in expectation. Exact pair counts, no sampling."""
    known = np.array([key is not None for key in category_keys])
    if known.sum() < 2:
        return None
    _, category = np.unique(np.array([k for k in category_keys if k is not None]), return_inverse=True)
    codes = first_codes[known]
    _, code = np.unique(codes, return_inverse=True)
    same_code = _pairs(np.bincount(code))
    joint = code.astype(np.int64) * (category.max() + 1) + category
    same_both = _pairs(np.unique(joint, return_counts=True)[1])
    baseline = _pairs(np.bincount(category)) / _pairs(np.array([len(category)]))
    observed = same_both / same_code if same_code else 0.0
    return {"same_first_code": round(observed, 4), "random_codes": round(baseline, 4),
            "lift": round(observed / baseline, 3) if baseline else None}


def category_keys(categories, depth: int = 2) -> list[str | None]:
    """The first category path cut to `depth` levels ('Beauty > Makeup'), or None without categories."""
    return [" > ".join(paths[0][:depth]) if paths else None for paths in categories]


def diagnose(table: SIDTable, categories=None, category_depth: int = 2) -> dict:
    semantic = table.semantic_codes()
    n = table.n_items
    levels = []
    for level in range(semantic.shape[1]):
        counts = np.bincount(semantic[:, level], minlength=table.vocab_sizes[level])
        probs = counts[counts > 0] / n
        entropy = float(-(probs * np.log(probs)).sum())
        size = table.vocab_sizes[level]
        levels.append({"vocab": size, "used": int((counts > 0).sum()), "usage": round(float((counts > 0).mean()), 4),
                       "entropy": round(entropy / np.log(size), 4) if size > 1 else 0.0})
    _, bucket_sizes = np.unique(semantic, axis=0, return_counts=True)
    out = {
        "n_items": n,
        "n_levels": table.n_levels,
        "variable_length": table.variable_length,
        "mean_length": round(float(table.lengths.mean()), 3),
        "levels": levels,
        "unique_prefixes": [int(len(np.unique(semantic[:, :d], axis=0))) for d in range(1, semantic.shape[1] + 1)],
        "unique_before_dedup": round(float((bucket_sizes == 1).sum() / n), 4),
        "collided_items": int(bucket_sizes[bucket_sizes > 1].sum()),
        "collided_share": round(float(bucket_sizes[bucket_sizes > 1].sum() / n), 4),
        "largest_bucket": int(bucket_sizes.max()),
        "dedup_level": table.dedup,
    }
    if categories is not None:
        out["coherence"] = coherence(semantic[:, 0], category_keys(categories, category_depth))
        if out["coherence"] is not None:
            out["coherence"]["category_depth"] = category_depth
    return out
