"""What a run keeps so that any later question needs no retraining: each evaluated user's ranked list for
validation and test, the targets, slice labels, and the item context (training popularity, category), all in
the record's side file. Every registered metric is computed from them (bench.metric_registry), when the
run ends and again whenever a record is read, so a summary that its lists contradict is refused and a metric
added later reaches old runs through `python -m bench rescore`.

A suite's sampled decoding variants (bench.decoding) keep test lists of their own, `decoding.NAME.ranked`,
scored against the test targets; their summaries sit in the record under `metrics.decoding.NAME`.

Lists hold LIST_LENGTH items where the recommender can rank that many (a beam narrower than that gives its
own width), and at least the protocol's largest cutoff; the metrics read the first K of them.
"""

from __future__ import annotations

import numpy as np

from bench.metric_registry import Context, compute
from bench.slices import item_categories, item_popularity, user_slices

LIST_LENGTH = 20
PARTS = ("valid", "test")
VARIANT_PREFIX = "decoding."


def variant_part(name: str) -> str:
    """The evaluation part of a sampled decoding variant: its lists are `decoding.NAME.ranked`."""
    return VARIANT_PREFIX + name


def _parts(arrays) -> list[str]:
    """The evaluated parts whose lists the arrays hold: validation, test, then each decoding variant."""
    variants = sorted(key[:-len(".ranked")] for key in arrays
                      if key.startswith(VARIANT_PREFIX) and key.endswith(".ranked"))
    return [part for part in PARTS if f"{part}.ranked" in arrays] + variants


def _targets_part(part: str) -> str:
    return "test" if part.startswith(VARIANT_PREFIX) else part  # a variant re-decodes the test users


def nest(summary: dict[str, dict]) -> dict:
    """Summaries keyed by part ('decoding.t1') as the record holds them (`metrics.decoding.t1`)."""
    out = {part: values for part, values in summary.items() if not part.startswith(VARIANT_PREFIX)}
    variants = {part[len(VARIANT_PREFIX):]: values for part, values in summary.items()
                if part.startswith(VARIANT_PREFIX)}
    return {**out, "decoding": variants} if variants else out


def flatten(metrics: dict) -> dict[str, dict[str, float]]:
    """A record's `metrics` keyed by part, each variant as 'decoding.NAME' (the inverse of `nest`)."""
    out = {part: values for part, values in metrics.items() if part != "decoding"}
    out.update({variant_part(name): values for name, values in (metrics.get("decoding") or {}).items()})
    return out


def list_length(recommender_cls, config, cutoffs) -> int:
    """How many items to ask the recommender for: LIST_LENGTH, or what it can give (its beam), but never
    fewer than the largest cutoff."""
    capacity = recommender_cls.list_capacity(config)
    return max(max(cutoffs), min(LIST_LENGTH, capacity if capacity is not None else LIST_LENGTH))


def item_dtype(n_items: int):
    """The smallest signed integer type that holds every item index and the padding -1."""
    return np.int16 if n_items < 2 ** 15 else np.int32


def evidence_arrays(split, dataset, ranked: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The side file's evidence: `{part}.ranked`, `{part}.targets`, `test.slice.<name>`, `items.*`."""
    popularity = item_popularity(split)
    categories = dataset.item_meta and tuple(m.categories for m in dataset.item_meta)
    dtype = item_dtype(split.n_items)
    out = {"items.popularity": popularity, "items.category": item_categories(categories, split.n_items)}
    if split.cold_items is not None:
        cold = np.zeros(split.n_items, dtype=bool)
        cold[split.cold_items] = True
        out["items.cold"] = cold
    for part, lists in ranked.items():
        out[f"{part}.ranked"] = np.asarray(lists).astype(dtype)
        if not part.startswith(VARIANT_PREFIX):
            out[f"{part}.targets"] = getattr(split, part).targets.astype(dtype)
    for name, labels in user_slices(split, "test", popularity).items():
        out[f"test.slice.{name}"] = labels
    return out


def has_lists(arrays) -> bool:
    return any(f"{part}.ranked" in arrays for part in PARTS)


def variants_of(arrays) -> list[str]:
    """The names of the sampled decoding variants whose lists the arrays hold."""
    return [part[len(VARIANT_PREFIX):] for part in _parts(arrays) if part.startswith(VARIANT_PREFIX)]


def metrics_from_lists(arrays, cutoffs) -> tuple[dict[str, np.ndarray], dict[str, dict[str, float]]]:
    """({'test.ndcg@10': per-user values, ...}, {'test': {'ndcg@10': mean, 'coverage@10': value, ...}, ...})
    for every registered metric at every cutoff, from the stored lists; a decoding variant's part is
    'decoding.NAME' (`nest` gives the record's layout)."""
    per_user, summary = {}, {}
    for part in _parts(arrays):
        targets = arrays[f"{_targets_part(part)}.targets"]
        if len(targets) != len(arrays[f"{part}.ranked"]):
            from bench.errors import BenchError

            raise BenchError(f"{part}: {len(arrays[f'{part}.ranked'])} ranked lists for {len(targets)} targets")
        context = Context(targets.astype(np.int64), arrays["items.category"], arrays["items.popularity"],
                          arrays["items.cold"].astype(bool) if "items.cold" in arrays else None)
        users, catalogue = compute(arrays[f"{part}.ranked"].astype(np.int64), context, cutoffs)
        per_user.update({f"{part}.{name}": values for name, values in users.items()})
        summary[part] = {**{name: float(np.mean(values, dtype=np.float64)) for name, values in users.items()},
                         **catalogue}
    return per_user, summary
