"""Issue 38.5 (the decoder): sampling k distinct valid items without replacement, per-level temperatures."""

import numpy as np
import pytest
import torch

from bench.seq2seq.beam import sample_search, score_all_items
from bench.seq2seq.model import Seq2SeqRecommender
from bench.seq2seq.trie import PrefixTrie
from bench.seq2seq.vocab import SIDVocab
from tests.unit.test_seq2seq import SMALL, histories, random_table


@pytest.fixture(scope="module")
def setup():
    table = random_table(n=40)
    torch.manual_seed(0)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), SMALL, "item_sum").eval()
    with torch.no_grad():  # a peakier distribution than at init
        model.output_weight.mul_(6)
    return table, model, PrefixTrie(table.codes, table.vocab_sizes)


def test_samples_are_distinct_real_items_and_seeded(setup):
    table, model, trie = setup
    users, history, lengths = histories(6, table.n_items)
    draw = lambda seed: sample_search(model, trie, users, history, lengths, 10, (1.0,) * 4,
                                      torch.Generator().manual_seed(seed)).items
    first = draw(0)
    assert first.shape == (6, 10) and (first >= 0).all()
    assert all(len(set(row.tolist())) == 10 for row in first)
    assert torch.equal(first, draw(0)) and not torch.equal(first, draw(1))


def complete_trie_model():
    from bench.tokenizer import SIDTable

    table = SIDTable(np.array([[a, b] for a in range(4) for b in range(3)]), (4, 3))
    torch.manual_seed(0)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), SMALL, "item_sum").eval()
    with torch.no_grad():
        model.output_weight.mul_(3)
    return table, model, PrefixTrie(table.codes, table.vocab_sizes)


def test_two_draws_are_without_replacement_as_the_conditioning_promises():
    """k = 2: item i is in the pair with probability p_i + sum_j p_j p_i / (1 - p_j), which holds only when
    each child's Gumbel is conditioned on its parent's (top-down, without it the pair would be biased)."""
    table, model, trie = complete_trie_model()
    users, history, lengths = (t[:1].repeat(6000, *([1] * (t.dim() - 1))) for t in histories(1, table.n_items))
    pairs = sample_search(model, trie, users, history, lengths, 2, (1.0, 1.0), torch.Generator().manual_seed(0)).items
    p = torch.exp(score_all_items(model, users[:1], history[:1], lengths[:1])[0]).double()
    second = (p[None, :] * p[:, None] / (1 - p[:, None])).sum(0) - p ** 2 / (1 - p)  # j != i
    expected = p + second
    frequency = torch.bincount(pairs.reshape(-1), minlength=table.n_items).double() / len(pairs)
    assert (frequency - expected).abs().max() < 0.03, (frequency, expected)


def test_draws_follow_the_models_distribution():
    """On a trie where every code combination is an item (so constraining changes nothing), k = 1 is a
    Gumbel-max draw through the conditioned perturbations: over 4,000 draws for one user, each item's
    frequency is its probability exp(log p(ID)) from scoring every item."""
    table, model, trie = complete_trie_model()
    users, history, lengths = (t[:1].repeat(4000, *([1] * (t.dim() - 1))) for t in histories(1, table.n_items))
    drawn = sample_search(model, trie, users, history, lengths, 1, (1.0, 1.0),
                          torch.Generator().manual_seed(0)).items[:, 0]
    exact = torch.exp(score_all_items(model, users[:1], history[:1], lengths[:1])[0])
    assert torch.isclose(exact.sum(), torch.tensor(1.0), atol=1e-4)  # every ID is an item
    frequency = torch.bincount(drawn, minlength=table.n_items) / len(drawn)
    assert exact.max() > 2 / table.n_items  # far from uniform
    assert (frequency - exact).abs().max() < 0.03, (frequency, exact)


def test_a_high_first_level_temperature_spreads_the_first_codes(setup):
    table, model, trie = setup
    users, history, lengths = histories(50, table.n_items)

    def first_codes(temperatures):
        items = sample_search(model, trie, users, history, lengths, 5, temperatures,
                              torch.Generator().manual_seed(0)).items
        codes = table.codes[items.numpy()][:, :, 0]
        return np.mean([len(set(row)) for row in codes])
    assert first_codes((3.0, 0.5, 0.5, 0.5)) > first_codes((0.2, 0.5, 0.5, 0.5))
