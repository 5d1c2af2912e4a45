"""SID diagnostics, stored with every table: code usage and entropy per level, unique prefixes, collisions
before disambiguation, semantic coherence (do items that share a first code share a category?) and
collaborative alignment (are items that share a prefix consumed together in training?)."""

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


def collaborative_alignment(semantic: np.ndarray, pairs: np.ndarray, depths: tuple[int, ...] = (1, 2)) -> dict | None:
    """Per prefix depth: P(co-consumed | same prefix) against P(co-consumed) for a random pair, where
    co-consumed means next to each other in some user's training sequence (`pairs`, training part only).
    Exact counts over distinct unordered pairs, no sampling; a lift of 1 is what codes blind to behaviour give."""
    n = len(semantic)
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
    if len(pairs) == 0 or n < 2:
        return None
    baseline = len(pairs) / _pairs(np.array([n]))
    out = {"pairs": int(len(pairs)), "random_pair": round(baseline, 6)}
    for depth in depths:
        if depth > semantic.shape[1]:
            continue
        _, prefix = np.unique(semantic[:, :depth], axis=0, return_inverse=True)
        prefix = prefix.reshape(-1)
        same_prefix = _pairs(np.bincount(prefix))
        observed = float((prefix[pairs[:, 0]] == prefix[pairs[:, 1]]).sum()) / same_prefix if same_prefix else 0.0
        out[f"lift@{depth}"] = round(observed / baseline, 3)
    return out


def category_keys(categories, depth: int = 2) -> list[str | None]:
    """The first category path cut to `depth` levels ('Beauty > Makeup'), or None without categories."""
    return [" > ".join(paths[0][:depth]) if paths else None for paths in categories]


def diagnose(table: SIDTable, categories=None, category_depth: int = 2, cooccurring=None) -> dict:
    """Everything above for one table; `cooccurring` [n_pairs, 2] are training-part neighbour pairs."""
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
    if cooccurring is not None:
        out["collaborative"] = collaborative_alignment(semantic, cooccurring)
    return out


def level_cells(diagnostics: dict, levels: int = 4) -> tuple[str, str]:
    """('100% / 98% / ...', '0.98 / 0.97 / ...'): code usage and normalised entropy of the first levels."""
    shown = diagnostics["levels"][:levels]
    return (" / ".join(f"{level['usage']:.0%}" for level in shown),
            " / ".join(f"{abs(level['entropy']):.2f}" for level in shown))  # abs: never "-0.00"


def alignment_cell(diagnostics: dict) -> str:
    """'3.1 / 12.4': lift of co-consumed-in-training pairs among items sharing the first (two) code(s)."""
    alignment = diagnostics.get("collaborative")
    if not alignment:
        return "-"
    return " / ".join(f"{alignment[key]:.1f}" for key in ("lift@1", "lift@2") if key in alignment)
