"""RecBole's atomic files as a dataset folder: `NAME.inter` (and optionally `NAME.item`), read with the same
file:line errors as our own format, so a user's RecBole data needs no conversion step.

A header names each field with its type (`user_id:token`, `timestamp:float`, `movie_title:token_seq`); the
values are tab-separated. Interactions need `user_id` and `item_id`; each user's order is `timestamp`, or the
file's row order when there is none (said in the dataset's notes). Item fields are mapped to ours by name:
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data.files import (InteractionsFile, ItemMeta, _decode, _parse_timestamps, _Problems, _read_rows,
                              interaction_rows, read_text)
from bench.errors import DatasetError, did_you_mean, quote

# our item field <- the first RecBole field of these names that the .item file has (types ignored)
ITEM_FIELDS = {
    "title": ("title", "movie_title", "item_name", "name"),
    "brand": ("brand",),
    "categories": ("categories", "category", "class", "genre", "genres"),
    "price": ("price",),
    "description": ("description",),
}
__doc__ += "".join(f"\n- {ours}: {', '.join(theirs)}" for ours, theirs in ITEM_FIELDS.items())
TYPES = ("token", "token_seq", "float", "float_seq")


def find_atomic(folder: Path) -> tuple[Path, Path | None] | None:
    """(NAME.inter, NAME.item or None) when the folder holds one RecBole interaction file; else None."""
    inter = sorted(p for p in folder.glob("*.inter") if p.is_file())
    if not inter:
        return None
    if len(inter) > 1:
        raise DatasetError(f"{folder}: several RecBole interaction files ({', '.join(p.name for p in inter)}); "
                           "keep one")
    item = inter[0].with_suffix(".item")
    return inter[0], item if item.is_file() else None


def _header(path: Path, text: str, problems: _Problems) -> list[str]:
    """Field names without their types, checking that every field has a known type."""
    first = text.split("\n", 1)[0].rstrip("\r")
    names = []
    for column, field in enumerate(first.split("\t"), start=1):
        name, _, kind = field.strip().partition(":")
        if kind not in TYPES:
            problems.add(f"{path}:1: field {column} {quote(field.strip())} is not NAME:TYPE with TYPE one of "
                         f"{', '.join(TYPES)} (RecBole's atomic-file header)")
        names.append(name.strip().lower())
    if len(set(names)) != len(names):
        problems.add(f"{path}:1: repeated field names in the header {quote(first.strip())}")
    return names


def read_atomic_interactions(path: Path) -> tuple[InteractionsFile, str]:
    """A `.inter` file as our interaction rows, and how each user's order was taken."""
    text = read_text(path)
    problems = _Problems()
    header = _header(path, text, problems)
    for column in ("user_id", "item_id"):
        if column not in header:
            problems.add(f"{path}:1: missing field '{column}:token'{did_you_mean(column, header[:50])}")
    problems.raise_if_any()
    frame, lines, users, items = interaction_rows(path, text, "\t", header, problems)
    timestamps = seq_idx = None
    if "timestamp" in header:
        timestamps = _parse_timestamps(path, frame["timestamp"].str.strip(), lines, problems)
        order = "timestamp"
    else:  # the row order within each user, as written
        _, user_index = np.unique(users.astype(str), return_inverse=True)
        rows = np.argsort(user_index, kind="stable")
        seq_idx = np.empty(len(users), dtype=np.int64)
        starts = np.searchsorted(user_index[rows], user_index[rows])
        seq_idx[rows] = np.arange(len(rows)) - starts
        order = "file order (no timestamp field)"
    problems.raise_if_any()
    return InteractionsFile(path, users, items, seq_idx, timestamps, lines), order


def read_atomic_items(path: Path) -> dict[str, tuple[ItemMeta, int]]:
    """A `.item` file as our item metadata (fields mapped by ITEM_FIELDS; the others are ignored)."""
    text = read_text(path)
    problems = _Problems()
    header = _header(path, text, problems)
    if "item_id" not in header:
        problems.add(f"{path}:1: missing field 'item_id:token'{did_you_mean('item_id', header[:50])}")
    problems.raise_if_any()
    frame, lines = _read_rows(path, text, "\t", header, problems)
    source = {ours: next((f for f in theirs if f in header), None) for ours, theirs in ITEM_FIELDS.items()}
    items: dict[str, tuple[ItemMeta, int]] = {}
    for row, line in zip(frame.to_dict("records"), lines):
        item_id = row["item_id"].strip()
        if not item_id:
            problems.add(f"{path}:{line}: empty item_id")
            continue
        if item_id in items:
            problems.add(f"{path}:{line}: duplicate item_id {quote(item_id)}, first on line {items[item_id][1]}")
            continue

        def text_of(ours):
            return (_decode(row[source[ours]]) or None) if source[ours] else None

        price = None
        if source["price"] and row[source["price"]].strip():
            try:
                price = float(row[source["price"]])
            except ValueError:
                price = float("nan")
            if not np.isfinite(price):
                problems.add(f"{path}:{line}: {source['price']} {quote(row[source['price']])} is not a finite number")
                price = None
        categories = tuple((c,) for c in _decode(row[source["categories"]]).split()) if source["categories"] else ()
        items[item_id] = (ItemMeta(title=text_of("title"), brand=text_of("brand"), categories=categories,
                                   price=price, description=text_of("description")), int(line))
    problems.raise_if_any()
    if not items:
        raise DatasetError(f"{path}: no items in the file")
    return items

