"""What a run keeps so that any later question needs no retraining: each evaluated user's ranked list for
validation and test, the targets, slice labels, and the item context (training popularity, category), all in
the record's side file. Every registered metric is computed from them (bench.metric_registry), when the
run ends and again whenever a record is read, so a summary that its lists contradict is refused and a metric
added later reaches old runs through `python -m bench rescore`.

A suite's sampled decoding variants (bench.decoding) keep test lists of their own, `decoding.NAME.ranked`,
scored against the test targets; their summaries sit in the record under `metrics.decoding.NAME`.

Lists hold LIST_LENGTH items where the recommender can rank that many (a beam narrower than that gives its
own width), and at least the protocol's largest cutoff; the metrics read the first K of them.

Under the cold_items split, TIGER's epsilon rule is read from the same test lists (`cap_cold`): every system's
list with at most a share COLD_CAP of cold items in any top K, summarised under `metrics.test_cold_capped`.
A generative system's side file also keeps each item's retrieval prefix (`items.sid_prefix`, its ID less the
last code), and TIGER's retrieval rule for unseen items is read from it (`retrieve_by_prefix`): after each
generated item come the items without training interactions that share its prefix, then the epsilon cap;
summarised under `metrics.test_cold_prefix`.
"""

from __future__ import annotations

import numpy as np

from bench.metric_registry import Context, compute
from bench.slices import item_categories, item_popularity, user_slices

LIST_LENGTH = 20
PARTS = ("valid", "test")
VARIANT_PREFIX = "decoding."
COLD_CAP = 0.1  # TIGER's epsilon in its cold-start figure: the largest share of cold items in a top K
CAPPED_PART = "test_cold_capped"
PREFIX_PART = "test_cold_prefix"
DERIVED_PARTS = (CAPPED_PART, PREFIX_PART)  # scored on the test targets, from the test lists


def variant_part(name: str) -> str:
    """The evaluation part of a sampled decoding variant: its lists are `decoding.NAME.ranked`."""
    return VARIANT_PREFIX + name


def _parts(arrays) -> list[str]:
    """The evaluated parts whose lists the arrays hold: validation, test, the test lists under the epsilon
    rule and under TIGER's prefix retrieval (cold_items split; the latter for generative systems), then each
    decoding variant."""
    variants = sorted(key[:-len(".ranked")] for key in arrays
                      if key.startswith(VARIANT_PREFIX) and key.endswith(".ranked"))
    cold = "items.cold" in arrays and "test.ranked" in arrays
    derived = [CAPPED_PART] * cold + [PREFIX_PART] * (cold and "items.sid_prefix" in arrays)
    return [part for part in PARTS if f"{part}.ranked" in arrays] + derived + variants


def _lists(arrays, part: str) -> np.ndarray:
    if part == CAPPED_PART:
        return cap_cold(arrays["test.ranked"].astype(np.int64), arrays["items.cold"].astype(bool))
    if part == PREFIX_PART:
        return retrieve_by_prefix(arrays["test.ranked"].astype(np.int64), arrays["items.sid_prefix"],
                                  arrays["items.popularity"] == 0)
    return arrays[f"{part}.ranked"].astype(np.int64)


def _targets_part(part: str) -> str:
    return "test" if part.startswith(VARIANT_PREFIX) or part in DERIVED_PARTS else part  # same test users


def cap_cold(ranked: np.ndarray, cold: np.ndarray, share: float = COLD_CAP) -> np.ndarray:
    """TIGER's epsilon rule on ranked lists: each list reordered so that every top K holds at most
    floor(share * K) cold items. Walking down a list, a cold item that would break the cap waits and the next
    warm item moves up; a waiting cold item takes the first place where the cap allows it. Nothing is added:
    where the warm items run out and the cap still forbids a cold one, the place stays empty (-1)."""
    ranked = np.asarray(ranked)
    allowed = np.floor(share * np.arange(1, ranked.shape[1] + 1) + 1e-9).astype(int)  # cold items in the top K
    is_cold = (ranked >= 0) & cold[np.maximum(ranked, 0)]
    out = ranked.copy()
    for row in np.flatnonzero((is_cold.cumsum(axis=1) > allowed).any(axis=1)):  # only lists that break it
        out[row] = _capped(ranked[row], is_cold[row], allowed)
    return out


def _capped(items: np.ndarray, is_cold: np.ndarray, allowed: np.ndarray) -> list[int]:
    warm = [item for item, c in zip(items, is_cold) if item >= 0 and not c]
    waiting = [item for item, c in zip(items, is_cold) if c]
    rank = {item: r for r, item in enumerate(items)}
    placed, used = [], 0
    for k in range(len(items)):
        if waiting and used < allowed[k] and (not warm or rank[waiting[0]] < rank[warm[0]]):
            placed.append(waiting.pop(0))
            used += 1
        else:
            placed.append(warm.pop(0) if warm else -1)
    return placed


def retrieve_by_prefix(ranked: np.ndarray, prefix: np.ndarray, unseen: np.ndarray,
                       share: float = COLD_CAP) -> np.ndarray:
    """TIGER's retrieval of unseen items on ranked lists of generated IDs: after each listed item come the
    unseen items (no training interaction: what the rule can know) whose ID shares its prefix (`prefix`: group
    index per item, `SIDTable.prefix_groups`), in item order, each once; then the epsilon cap (`cap_cold`, over
    the unseen items) and the list's own length. A decoder never trained on an unseen item's last code can still
    reach it through the codes it shares with items it was trained on."""
    ranked = np.asarray(ranked)
    prefix, unseen = np.asarray(prefix), np.asarray(unseen, dtype=bool)
    members: dict[int, list[int]] = {}
    for item in np.flatnonzero(unseen):
        members.setdefault(int(prefix[item]), []).append(int(item))
    unseen_in_group = np.bincount(prefix[unseen], minlength=int(prefix.max()) + 1)
    reaches = unseen_in_group[prefix] - unseen > 0  # items whose prefix leads to an unseen item other than itself
    width = ranked.shape[1]
    expands = ((ranked >= 0) & reaches[np.maximum(ranked, 0)]).any(axis=1)
    out = ranked.copy()
    out[~expands] = cap_cold(ranked[~expands], unseen, share)  # the beam's own unseen items still meet the cap
    for row in np.flatnonzero(expands):
        listed = [int(i) for i in ranked[row] if i >= 0]
        expanded, seen = [], set(listed)
        for item in listed:
            expanded.append(item)
            for other in members.get(int(prefix[item]), ()):
                if other not in seen:
                    expanded.append(other)
                    seen.add(other)
        out[row] = cap_cold(np.array([expanded]), unseen, share)[0][:width]  # capped before it is cut
    return out


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


def evidence_arrays(split, dataset, ranked: dict[str, np.ndarray], sids=None) -> dict[str, np.ndarray]:
    """The side file's evidence: `{part}.ranked`, `{part}.targets`, `test.slice.<name>`, `items.*` (with a
    SID table: `items.sid_prefix`, each item's retrieval prefix)."""
    popularity = item_popularity(split)
    categories = dataset.item_meta and tuple(m.categories for m in dataset.item_meta)
    dtype = item_dtype(split.n_items)
    out = {"items.popularity": popularity, "items.category": item_categories(categories, split.n_items)}
    if sids is not None:
        out["items.sid_prefix"] = sids.prefix_groups()
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
        targets, lists = arrays[f"{_targets_part(part)}.targets"], _lists(arrays, part)
        if len(targets) != len(lists):
            from bench.errors import BenchError

            raise BenchError(f"{part}: {len(lists)} ranked lists for {len(targets)} targets")
        context = Context(targets.astype(np.int64), arrays["items.category"], arrays["items.popularity"],
                          arrays["items.cold"].astype(bool) if "items.cold" in arrays else None)
        users, catalogue = compute(lists, context, cutoffs)
        per_user.update({f"{part}.{name}": values for name, values in users.items()})
        summary[part] = {**{name: float(np.mean(values, dtype=np.float64)) for name, values in users.items()},
                         **catalogue}
    return per_user, summary
