"""A small synthetic catalogue with learnable structure, written as real dataset files.

Items belong to categories; each user favours one category and mostly walks forward through it
(item i is often followed by item i+1 of the same category), so sequence models beat popularity;
the remaining picks follow a Zipf-like popularity, so popularity beats random.
The files go through the same loader and validation as any user's dataset.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

GENERATOR_VERSION = 2


def write_synthetic(folder: Path, n_users: int = 300, n_items: int = 120, n_categories: int = 6,
                    seed: int = 0) -> Path:
    """Write interactions.tsv.gz and items.jsonl.gz into `folder` (deterministic for the arguments)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    category_of = np.arange(n_items) % n_categories
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8  # Zipf-like: a few items are bought by many
    popularity = rng.permutation(popularity / popularity.sum())
    by_category = [np.flatnonzero(category_of == c) for c in range(n_categories)]
    rows = []
    for user in range(n_users):
        favourite = by_category[rng.integers(n_categories)]
        length = int(rng.integers(5, 16))
        position = int(rng.integers(len(favourite)))
        seen: list[int] = []
        time = 1_300_000_000 + int(rng.integers(0, 10_000_000))
        while len(seen) < length:
            if rng.random() < 0.75:
                item = int(favourite[position % len(favourite)])
                position += 1
            else:
                item = int(rng.choice(n_items, p=popularity))
            if item in seen:
                continue
            seen.append(item)
            time += int(rng.integers(0, 3)) * 86_400  # same-day ties happen, as in Amazon data
            rows.append(f"u{user:04d}\ti{item:04d}\t{time}\t{len(seen) - 1}")
    text = "user_id\titem_id\ttimestamp\tseq_idx\n" + "\n".join(rows) + "\n"
    (folder / "interactions.tsv.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    items = []
    for item in range(n_items):
        category = int(category_of[item])
        items.append(json.dumps({
            "item_id": f"i{item:04d}",
            "title": f"Synthetic product {item} of line {category} &amp; co",
            "brand": f"brand{item % 7}",
            "categories": [["Synthetic", f"Category {category}", f"Sub {item % 3}"]],
            "price": round(1.0 + (item * 37 % 100) / 3, 2),
        }))
    (folder / "items.jsonl.gz").write_bytes(gzip.compress(("\n".join(items) + "\n").encode(), mtime=0))
    return folder
