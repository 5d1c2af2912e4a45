"""The in-memory dataset: integer-indexed interactions in per-user chronological order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from bench.data.atomic import find_atomic, read_atomic_interactions, read_atomic_items
from bench.data.files import (INTERACTION_NAMES, ITEM_NAMES, MAX_PROBLEMS, ItemMeta, find_file, read_interactions,
                              read_items, sha256_file)
from bench.errors import DatasetError


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Dataset:
    """Interactions grouped by user (CSR: `user_offsets`), each user's items in chronological order.

    Users and items are indexed by the sorted order of their raw ids, so indices are stable across runs.
    """

    name: str
    user_ids: np.ndarray  # raw user id per user index
    item_ids: np.ndarray  # raw item id per item index
    user_offsets: np.ndarray  # int64 [n_users + 1]
    items: np.ndarray  # int32 [n_interactions], item index, chronological within each user
    timestamps: np.ndarray | None  # int64 [n_interactions], unix seconds
    order_source: str  # "seq_idx" or "timestamp"
    item_meta: tuple[ItemMeta, ...] | None  # per item index, when an items file exists
    files: Mapping[str, str] = field(default_factory=dict)  # file name -> sha256
    notes: tuple[str, ...] = ()  # non-fatal observations made while loading

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.items)

    def sequence(self, user: int) -> np.ndarray:
        return self.items[self.user_offsets[user]:self.user_offsets[user + 1]]

    @property
    def sequence_lengths(self) -> np.ndarray:
        return np.diff(self.user_offsets)


def dataset_files(folder: Path) -> tuple[Path, Path | None, bool]:
    """(interactions file, items file or None, whether they are RecBole atomic files) of a dataset folder:
    ours (`interactions.tsv[.gz]`, `items.jsonl[.gz]`), or RecBole's (`NAME.inter`, `NAME.item`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (a dataset is a folder holding interactions.tsv[.gz] and "
                           "optionally items.jsonl[.gz], or RecBole's NAME.inter and optionally NAME.item)")
    ours = find_file(folder, INTERACTION_NAMES, "interactions", required=False)
    atomic = find_atomic(folder)
    if ours and atomic:
        raise DatasetError(f"{folder}: both {ours.name} and RecBole's {atomic[0].name}; keep one")
    if atomic:
        return atomic[0], atomic[1], True
    return (find_file(folder, INTERACTION_NAMES, "interactions", required=True),
            find_file(folder, ITEM_NAMES, "items", required=False), False)


def folder_files(folder: Path) -> dict[str, str]:
    """{file name: sha256} of a dataset folder's interactions and items files, as a loaded Dataset's `files`,
    without reading them as data: what names the records of a run on the folder."""
    inter_path, items_path, _ = dataset_files(folder)
    return {path.name: sha256_file(path) for path in (inter_path, items_path) if path}


def load_folder(folder: Path, name: str | None = None) -> Dataset:
    """Load `interactions.{tsv,csv}[.gz]` and the optional `items.jsonl[.gz]` from a folder, or RecBole's
    atomic files `NAME.inter` and the optional `NAME.item` (bench.data.atomic)."""
    folder = Path(folder)
    inter_path, items_path, atomic = dataset_files(folder)
    problems, more = [], 0
    rows = meta = None
    notes: list[str] = []
    try:
        if atomic:
            rows, order = read_atomic_interactions(inter_path)
            notes.append(f"RecBole atomic files; each user's order: {order}")
        else:
            rows = read_interactions(inter_path)
    except DatasetError as err:
        problems, more = problems + err.problems, more + err.more
    try:
        meta = (read_atomic_items if atomic else read_items)(items_path) if items_path else None
    except DatasetError as err:  # reported together with the interaction file's problems
        problems, more = problems + err.problems, more + err.more
    if problems:
        raise DatasetError(problems, more)

    item_ids, item_index = np.unique(rows.items.astype(str), return_inverse=True)
    user_ids, user_index = np.unique(rows.users.astype(str), return_inverse=True)
    item_meta = None
    if meta is not None:
        missing = [str(i) for i in item_ids if str(i) not in meta]
        if missing:
            first_line = {}
            for raw, line in zip(rows.items, rows.lines):
                first_line.setdefault(raw, line)
            problems = [f"{inter_path}:{first_line[i]}: item {i!r} has no line in {items_path.name} "
                        "(every item needs metadata; add a line with at least its item_id)"
                        for i in missing[:MAX_PROBLEMS]]
            raise DatasetError(problems, max(0, len(missing) - MAX_PROBLEMS))
        unused = len(meta) - len(item_ids)
        if unused:
            notes.append(f"{items_path.name}: {unused} item(s) without interactions were ignored")
        item_meta = tuple(meta[i][0] for i in item_ids)

    # Chronological order per user: seq_idx when given, else a stable sort by timestamp (file order breaks ties).
    if rows.seq_idx is not None:
        order = np.lexsort((rows.seq_idx, user_index))
        order_source = "file order" if atomic else "seq_idx"
    else:
        order = np.lexsort((np.arange(len(user_index)), rows.timestamps, user_index))
        order_source = "timestamp"
    counts = np.bincount(user_index, minlength=len(user_ids))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    timestamps = None if rows.timestamps is None else _frozen(rows.timestamps[order])
    files = {path.name: sha256_file(path) for path in (inter_path, items_path) if path}
    return Dataset(
        name=name or folder.name,
        user_ids=_frozen(user_ids.astype(object)),
        item_ids=_frozen(item_ids.astype(object)),
        user_offsets=_frozen(offsets),
        items=_frozen(item_index[order].astype(np.int32)),
        timestamps=timestamps,
        order_source=order_source,
        item_meta=item_meta,
        files=files,
        notes=tuple(notes),
    )
