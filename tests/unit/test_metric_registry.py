"""Issue 38.2: each registered metric against values computed by hand on a 5-item catalogue."""

import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metric_registry import REGISTRY, Context, compute, parse

# items 0..4: training interactions 10, 5, 3, 1, 0; categories 0, 0, 1, 1 and none
CONTEXT = Context(targets=np.array([1, 2]), item_category=np.array([0, 0, 1, 1, -1]),
                  item_popularity=np.array([10, 5, 3, 1, 0]))
LISTS = np.array([[0, 1, 2],     # target 1 at rank 1
                  [3, 4, -1]])   # target 2 missed; a list padded with -1


def test_accuracy_by_hand():
    per_user, _ = compute(LISTS, CONTEXT, (3,))
    assert per_user["recall@3"].tolist() == [1, 0] and per_user["hit@3"].tolist() == [1, 0]
    assert per_user["ndcg@3"] == pytest.approx([1 / math.log2(3), 0])
    assert per_user["mrr@3"] == pytest.approx([0.5, 0])


def test_beyond_accuracy_by_hand():
    per_user, catalogue = compute(LISTS, CONTEXT, (1, 3))
    # categories [0, 0, 1]: shares 2/3, 1/3; the padded list has one known category
    assert per_user["entropy@3"] == pytest.approx([-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)), 0])
    assert per_user["avg_popularity@3"] == pytest.approx([6, 0.5])
    assert per_user["tail_share@3"] == pytest.approx([2 / 3, 1])  # the head is item 0 (top 20% of 5 items)
    information = -np.log2(np.array([10, 5, 3, 1, 1]) / 20)  # an unseen item counts once
    assert per_user["novelty@3"] == pytest.approx([information[:3].mean(), information[3:5].mean()], rel=1e-6)
    assert catalogue["coverage@3"] == 1.0 and catalogue["coverage@1"] == pytest.approx(2 / 5)
    assert catalogue["gini@3"] == 0.0
    assert catalogue["gini@1"] == pytest.approx(0.6)  # exposure [1, 0, 0, 1, 0]


def test_registry_says_direction_and_scope():
    assert REGISTRY["avg_popularity"].higher_is_better is False and REGISTRY["gini"].scope == "catalogue"
    assert parse("mrr@20") == (REGISTRY["mrr"], 20)
    with pytest.raises(BenchError, match="unknown metric 'precision@10'"):
        parse("precision@10")


def test_catalogue_metrics_show_their_range_over_seeds():
    """The beyond-accuracy table brackets a catalogue metric with its min and max over seeds, which contain
    the mean by construction (a bootstrap over users did not: it lay below its own point); a per-user metric
    and a one-seed system get no brackets."""
    from bench.leaderboard.evidence_tables import beyond_accuracy_table

    def record(seed, coverage, novelty):
        return {"seeds": {"run": seed}, "metrics": {"test": {"coverage@10": coverage, "novelty@10": novelty}}}

    systems = {"three": [record(2, 0.52, 9.0), record(0, 0.50, 8.0), record(1, 0.60, 10.0)],
               "one": [record(0, 0.40, 7.0)]}
    table = "\n".join(beyond_accuracy_table(systems, ["three", "one"], (10,)))
    lines = table.splitlines()
    header = [cell.strip() for cell in next(line for line in lines if line.startswith("| system")).split("|")]

    def cells(system):
        row = [cell.strip() for cell in next(line for line in lines if line.startswith(f"| {system} ")).split("|")]
        return dict(zip(header, row))

    assert cells("three")["coverage@10"] == "0.5400 [0.5000, 0.6000]" and cells("three")["novelty@10"] == "9.0000"
    assert cells("one")["coverage@10"] == "0.4000" and cells("one")["novelty@10"] == "7.0000"
