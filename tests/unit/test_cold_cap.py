"""TIGER's epsilon rule on ranked lists (bench.evidence.cap_cold), by hand."""

import numpy as np

from bench import evidence
from bench.evidence import cap_cold


def test_cold_items_wait_until_the_cap_allows_them():
    cold = np.zeros(30, dtype=bool)
    cold[[20, 21, 22]] = True
    ranked = np.array([
        [20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],      # a cold item first: it waits for place 10 (floor(.1 * 10) = 1)
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],      # no cold item: unchanged
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21, 22],      # the first cold item at place 10 is allowed, the next two wait
    ])
    out = cap_cold(ranked, cold, 0.1)
    assert out[0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 10, 11]
    assert out[1].tolist() == ranked[1].tolist()
    assert out[2].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, -1, -1]  # warm items ran out; the cap forbids the rest
    for k in range(1, 13):  # every top K holds at most floor(.1 K) cold items
        assert (cold[np.maximum(out[:, :k], 0)] & (out[:, :k] >= 0)).sum(axis=1).max() <= int(0.1 * k)


def test_a_cap_of_one_changes_nothing_and_zero_removes_cold_items():
    rng = np.random.default_rng(0)
    cold = rng.random(50) < 0.3
    ranked = np.stack([rng.permutation(50)[:20] for _ in range(40)])
    assert np.array_equal(cap_cold(ranked, cold, 1.0), ranked)
    none = cap_cold(ranked, cold, 0.0)
    assert not (cold[np.maximum(none, 0)] & (none >= 0)).any()
    for before, after in zip(ranked, none):  # the warm items keep their order
        assert after[after >= 0].tolist() == [i for i in before if not cold[i]]


def test_the_capped_part_is_scored_only_where_items_are_cold():
    rng = np.random.default_rng(1)
    arrays = {"test.ranked": np.stack([rng.permutation(30)[:10] for _ in range(8)]).astype(np.int16),
              "test.targets": rng.integers(0, 30, 8).astype(np.int16),
              "items.popularity": rng.integers(1, 9, 30).astype(np.int32), "items.category": np.zeros(30, np.int32)}
    _, summary = evidence.metrics_from_lists(arrays, [5, 10])
    assert evidence.CAPPED_PART not in summary
    arrays["items.cold"] = np.arange(30) % 3 == 0
    per_user, summary = evidence.metrics_from_lists(arrays, [5, 10])
    assert summary[evidence.CAPPED_PART]["cold_share@10"] < summary["test"]["cold_share@10"]
    capped = cap_cold(arrays["test.ranked"], arrays["items.cold"])
    assert ((capped >= 0) & arrays["items.cold"][np.maximum(capped, 0)]).sum(axis=1).max() <= 1  # one in a top 10
    assert f"{evidence.CAPPED_PART}.recall@10" in per_user
    assert evidence.nest(summary)[evidence.CAPPED_PART] == summary[evidence.CAPPED_PART]
