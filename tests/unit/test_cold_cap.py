"""TIGER's rules for unseen items on ranked lists, by hand: the epsilon cap (bench.evidence.cap_cold) and the
retrieval of unseen items by their ID's prefix (bench.evidence.retrieve_by_prefix, SIDTable.prefix_groups)."""

import numpy as np

from bench import evidence
from bench.evidence import cap_cold, retrieve_by_prefix
from bench.quantize.collisions import disambiguate, terminate


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


def test_prefix_groups_drop_the_last_code():
    fixed = disambiguate(np.array([[1, 2], [1, 2], [1, 3]]), (4, 4))  # a twin: the last level disambiguates
    assert fixed.dedup and fixed.prefix_groups().tolist() == [0, 0, 1]  # the semantic codes
    plain = disambiguate(np.array([[1, 2], [1, 3], [2, 3]]), (4, 4))  # unique: the first L-1 codes
    assert not plain.dedup and plain.prefix_groups().tolist() == [0, 0, 1]
    titles = terminate([[5, 6, 7], [5, 6, 8], [5, 6], [5, 6]], vocab_size=10)  # the last two collide
    groups = titles.prefix_groups()  # [5 6 7] and [5 6 8] share [5 6]; the twins share [5 6], not [5]
    assert groups[0] == groups[1] == groups[2] == groups[3]
    first, second = terminate([[5, 6, 7], [5, 9]], vocab_size=10).prefix_groups()  # [5 6] and [5]
    assert first != second


def test_unseen_items_follow_the_listed_item_whose_prefix_they_share():
    prefix = np.array([0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    unseen = np.zeros(15, dtype=bool)
    unseen[[1, 2, 4]] = True  # 1 and 2 share item 0's prefix, 4 shares 3's
    ranked = np.array([
        [0, 5, 6, 7, 8, 9, 10, 11, 12, 13],   # 0 reaches 1 and 2: the cap lets one in a top 10, at place 2
        [5, 6, 7, 8, 9, 10, 11, 12, 13, 14],  # no listed item reaches an unseen one: unchanged
        [5, 6, 7, 8, 9, 10, 11, 12, 13, 3],   # 3 at the bottom: 4 would be 11th, beyond the list
    ])
    out = retrieve_by_prefix(ranked, prefix, unseen, share=0.1)
    assert out[0].tolist() == [0, 5, 6, 7, 8, 9, 10, 11, 12, 1]  # 1 waits for place 10; 2 falls off
    assert out[1].tolist() == ranked[1].tolist() and out[2].tolist() == ranked[2].tolist()
    loose = retrieve_by_prefix(ranked, prefix, unseen, share=1.0)  # no cap: right after the item that reached them
    assert loose[0].tolist() == [0, 1, 2, 5, 6, 7, 8, 9, 10, 11]
    assert loose[2].tolist() == ranked[2].tolist()
    listed = retrieve_by_prefix(np.array([[0, 2, 5]]), prefix, unseen, share=1.0)  # 2 is listed already: once
    assert listed[0].tolist() == [0, 1, 2]


def test_the_prefix_part_is_scored_only_for_generative_cold_records():
    rng = np.random.default_rng(2)
    arrays = {"test.ranked": np.stack([rng.permutation(30)[:10] for _ in range(8)]).astype(np.int16),
              "test.targets": rng.integers(0, 30, 8).astype(np.int16),
              "items.popularity": (np.arange(30) % 3 != 0).astype(np.int32), "items.category": np.zeros(30, np.int32),
              "items.sid_prefix": (np.arange(30) // 3).astype(np.int32)}
    _, summary = evidence.metrics_from_lists(arrays, [5, 10])
    assert evidence.PREFIX_PART not in summary  # no cold items: the leave-one-out split
    arrays["items.cold"] = np.arange(30) % 3 == 0
    _, summary = evidence.metrics_from_lists(arrays, [5, 10])
    assert summary[evidence.PREFIX_PART]["cold_share@10"] >= summary[evidence.CAPPED_PART]["cold_share@10"]
    del arrays["items.sid_prefix"]  # a system without SIDs (text-knn, SASRec)
    assert evidence.PREFIX_PART not in evidence.metrics_from_lists(arrays, [5, 10])[1]
