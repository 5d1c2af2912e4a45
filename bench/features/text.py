"""Item text, titles and categories from the dataset's metadata (HTML entities already decoded)."""

from __future__ import annotations

from bench.data import Dataset
from bench.errors import DatasetError
from bench.protocol import item_text


def _metadata(dataset: Dataset, what: str):
    if dataset.item_meta is None:
        raise DatasetError(f"{dataset.name}: a tokenizer needs item {what}, but the dataset has no items file "
                           "(items.jsonl[.gz]; see the README's dataset format)")
    return dataset.item_meta


def item_texts(dataset: Dataset, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The protocol's text template per item; an item without any of the fields gets its id."""
    return tuple(item_text(meta, fields) or f"Item {item_id}"
                 for meta, item_id in zip(_metadata(dataset, "text"), dataset.item_ids))


def item_titles(dataset: Dataset) -> tuple[str, ...]:
    """Titles; an item without one falls back to its brand and category, then to its id."""
    titles = []
    for meta, item_id in zip(_metadata(dataset, "titles"), dataset.item_ids):
        if meta.title:
            titles.append(meta.title)
        else:
            fallback = " ".join(p for p in (meta.brand, meta.categories[0][-1] if meta.categories else None) if p)
            titles.append(fallback or f"Item {item_id}")
    return tuple(titles)


def item_categories(dataset: Dataset) -> tuple[tuple[tuple[str, ...], ...], ...]:
    return tuple(meta.categories for meta in _metadata(dataset, "categories"))


def build_text(dataset, split, config, device, cache):
    return item_texts(dataset, split.config.text_fields), {}


def build_titles(dataset, split, config, device, cache):
    return item_titles(dataset), {}


def build_categories(dataset, split, config, device, cache):
    return item_categories(dataset), {}
