import numpy as np
import pytest

from bench.errors import PluginError
from bench.quantize.collisions import disambiguate, terminate
from bench.quantize.diagnostics import coherence, diagnose
from bench.tokenizer import FEATURES, SIDTable, TokenizerInputs


def test_disambiguation_level_appended_only_for_collisions():
    codes = np.array([[1, 2], [0, 0], [1, 2], [3, 1], [1, 2]])
    table = disambiguate(codes, (4, 3))
    assert table.dedup and table.collided_items == 3 and table.vocab_sizes == (4, 3, 3)
    assert table.codes[:, 2].tolist() == [0, 0, 1, 0, 2]  # 0, 1, 2 in item order within the group
    assert table.semantic_codes().tolist() == codes.tolist()
    clean = disambiguate(np.array([[0, 1], [1, 0]]), (2, 2))
    assert not clean.dedup and clean.n_levels == 2 and clean.collided_items == 0
    assert disambiguate(np.array([[0, 1], [1, 0]]), (2, 2), always=True).n_levels == 3


def test_variable_length_ids_end_with_a_marker_and_stay_prefix_free():
    table = terminate([[3, 1], [3, 1, 2], [3, 1], [0]], vocab_size=4)
    end = table.end_code
    assert end == 4 and table.variable_length and table.collided_items == 2
    assert table.codes.tolist() == [[3, 1, end + 1, end], [3, 1, 2, end], [3, 1, end + 2, end], [0, end, end, end]]
    assert table.lengths.tolist() == [4, 4, 4, 2]
    assert table.vocab_sizes == (7,) * 4  # 4 tokens + end + 2 disambiguation codes
    assert table.semantic_codes()[0].tolist() == [3, 1, end, end]


@pytest.mark.parametrize("codes, sizes, end, message", [
    (np.array([[0, 1], [0, 1]]), (2, 2), None, "share a semantic ID"),
    (np.array([[0, 2], [0, 1]]), (2, 2), None, "outside"),
    (np.array([[0, 1]]), (2,), None, "do not match"),
    (np.array([[0, 1], [1, 0]]), (3, 3), 2, "must end with the end code"),
    (np.array([[0, 2, 1, 2]]), (3,) * 4, 2, "only end codes"),
    (np.array([[0, 1.5], [1, 0]]), (2, 2), None, "fractional"),  # never truncated to 1 silently
    (np.array([[0, np.nan], [1, 0]]), (2, 2), None, "NaN or inf"),
    (np.array([["a", "b"]]), (2, 2), None, "must be integers"),
])
def test_invalid_tables_are_refused(codes, sizes, end, message):
    with pytest.raises(PluginError, match=message):
        SIDTable(codes, sizes, end_code=end)


def test_whole_float_codes_are_accepted():
    assert SIDTable(np.array([[0.0, 1.0], [1.0, 0.0]]), (2, 2)).codes.dtype == np.int32


def test_round_trip_without_pickle(tmp_path):
    table = terminate([[3, 1], [3, 1, 2], [3, 1]], vocab_size=4)
    table.save(tmp_path / "t.npz")
    loaded = SIDTable.load(tmp_path / "t.npz")
    assert loaded == table and loaded.hash() == table.hash()
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        assert set(data.files) == {"codes", "meta"}


def test_diagnostics_by_hand():
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 1]])
    table = disambiguate(codes, (4, 2))
    d = diagnose(table, categories=[(("B", "Hair"),), (("B", "Hair"),), (("B", "Skin"),), (("B", "Skin"),)])
    assert [lvl["used"] for lvl in d["levels"]] == [2, 2]
    assert d["levels"][0]["usage"] == 0.5
    p = np.array([3, 1]) / 4
    assert d["levels"][0]["entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(4), abs=1e-4)
    assert d["unique_prefixes"] == [2, 3]
    assert (d["collided_items"], d["collided_share"], d["largest_bucket"]) == (2, 0.5, 2)
    # items sharing first code 0: pairs (0,1) same, (0,2) (1,2) differ -> 1/3; random pairs: 2 of 6 -> 1/3
    assert d["coherence"]["same_first_code"] == pytest.approx(1 / 3, abs=1e-4)
    assert d["coherence"]["random_codes"] == pytest.approx(1 / 3, abs=1e-4)


def test_coherence_of_perfect_codes():
    keys = ["a", "a", "b", "b", "c", "c"]
    result = coherence(np.array([0, 0, 1, 1, 2, 2]), keys)
    assert result["same_first_code"] == 1.0 and result["lift"] == pytest.approx(5.0)


def test_inputs_give_only_what_was_declared():
    inputs = TokenizerInputs(3, titles=("a", "b", "c"))
    assert inputs.titles == ("a", "b", "c") and inputs.provided == ("titles",)
    with pytest.raises(PluginError, match="not declared: add it to the tokenizer's `needs`"):
        inputs.text_embeddings
    with pytest.raises(PluginError, match="unknown tokenizer input"):
        TokenizerInputs(3, user_ratings=1)
    assert "cooccurrence" in FEATURES


def test_collaborative_alignment_counts_distinct_pairs_by_hand():
    from bench.quantize.diagnostics import collaborative_alignment

    # 6 items, first codes [0, 0, 0, 1, 1, 2]; second codes split item 2 off its group
    semantic = np.array([[0, 0], [0, 0], [0, 1], [1, 0], [1, 0], [2, 0]])
    # (0,1) twice and reversed, (3,4), (2,5), a self pair: distinct unordered pairs (0,1), (3,4), (2,5)
    pairs = np.array([[0, 1], [1, 0], [0, 1], [3, 4], [2, 5], [4, 4]])
    result = collaborative_alignment(semantic, pairs)
    assert result["pairs"] == 3 and result["random_pair"] == pytest.approx(3 / 15, abs=1e-6)
    # first code: 3 + 1 same-code pairs, 2 of them co-consumed -> (2/4) / (3/15) = 2.5
    assert result["lift@1"] == pytest.approx(2.5)
    # two codes: buckets {0,1}, {3,4}: 2 pairs, both co-consumed -> 1 / 0.2 = 5
    assert result["lift@2"] == pytest.approx(5.0)
    assert collaborative_alignment(semantic, np.zeros((0, 2))) is None
