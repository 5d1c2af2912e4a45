import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics import check_ranked, mean_metrics, per_user_metrics, target_ranks


def test_values_computed_by_hand():
    ranked = np.array([[7, 3, 5, 1, 9, 2, 4, 6, 8, 0],   # target 7 at rank 0
                       [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],   # target 4 at rank 4 (inside @5)
                       [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],   # target 5 at rank 5 (outside @5, inside @10)
                       [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])  # target 11: absent
    targets = np.array([7, 4, 5, 11])
    m = per_user_metrics(ranked, targets, (5, 10))
    assert m["recall@5"].tolist() == [1, 1, 0, 0]
    assert m["recall@10"].tolist() == [1, 1, 1, 0]
    assert m["ndcg@5"] == pytest.approx([1.0, 1 / math.log2(6), 0, 0])
    assert m["ndcg@10"] == pytest.approx([1.0, 1 / math.log2(6), 1 / math.log2(7), 0])
    means = mean_metrics(m)
    assert means["recall@10"] == pytest.approx(0.75)
    assert means["ndcg@5"] == pytest.approx((1 + 1 / math.log2(6)) / 4)


def test_a_colliding_twin_is_not_a_hit():
    # Item level: recommending a different item (say, one sharing the target's semantic ID) scores zero.
    ranked = np.array([[3, 8]])
    assert per_user_metrics(ranked, np.array([4]), (2,))["recall@2"].tolist() == [0]


def test_target_ranks_and_padding():
    ranked = np.array([[2, -1, -1], [5, 6, 7]])
    assert target_ranks(ranked, np.array([2, 7])).tolist() == [0, 2]
    check_ranked(ranked, 2, 10, 3)  # -1 padding is allowed


@pytest.mark.parametrize("ranked, message", [
    (np.array([[1, 1, 2]]), "same item twice"),
    (np.array([[1, 2]]), "needs 3"),
    (np.array([[1, 2, 99]]), "outside"),
    (np.array([[1.0, 2.0, 3.0]]), "integer"),
    (np.array([1, 2, 3]), "shape"),
])
def test_bad_recommender_output_is_rejected(ranked, message):
    with pytest.raises(BenchError, match=message):
        check_ranked(ranked, 1, 10, 3)


def test_id_level_counts_a_colliding_twin_as_a_hit():
    """Items 0 and 1 share a semantic ID (twins); item 2 has its own."""
    from bench.metrics import id_level_metrics

    groups = np.array([0, 0, 1])
    ranked = np.array([[1, 2], [2, 1], [2, -1]])
    targets = np.array([0, 0, 0])
    item = per_user_metrics(ranked, targets, (1, 2))
    by_id = id_level_metrics(ranked, targets, groups, (1, 2))
    assert item["recall@2"].tolist() == [0, 0, 0]
    assert by_id["recall@1"].tolist() == [1, 0, 0] and by_id["recall@2"].tolist() == [1, 1, 0]
    assert by_id["ndcg@2"][1] == np.float32(1 / np.log2(3))
