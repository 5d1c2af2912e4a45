import numpy as np

from bench.data.dataset import load_folder
from bench.features import build_inputs
from bench.features.collaborative import cooccurrence_pairs
from bench.features.text import item_titles
from bench.protocol import make_split
from tests.conftest import write_dataset

ROWS = "user_id\titem_id\tseq_idx\n" + "".join(
    f"u1\t{item}\t{i}\n" for i, item in enumerate("abcde")) + "".join(f"u2\t{item}\t{i}\n" for i, item in enumerate("cdb"))
ITEMS = [{"item_id": i, "title": f"Title {i} &amp; more"} for i in "abcd"] + [{"item_id": "e", "brand": "Acme"}]


def test_cooccurrence_uses_training_items_only(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", ROWS, ITEMS))
    split = make_split(dataset)
    name = {i: dataset.item_ids[i] for i in range(dataset.n_items)}
    pairs = [(name[a], name[b]) for a, b in cooccurrence_pairs(split, window=2)]
    # u1 trains on a b c (d = valid, e = test); u2 trains on c (d, b held out)
    assert sorted(pairs) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_titles_fall_back_when_missing(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", ROWS, ITEMS))
    assert item_titles(dataset) == ("Title a & more", "Title b & more", "Title c & more", "Title d & more", "Acme")


def test_build_inputs_describes_each_feature(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", ROWS, ITEMS))
    inputs, info = build_inputs(("titles", "user_histories", "cooccurrence"), dataset, make_split(dataset))
    assert inputs.provided == ("cooccurrence", "titles", "user_histories")
    assert np.diff(inputs.user_histories.offsets).tolist() == [3, 1]
    assert set(info) == {"titles", "user_histories", "cooccurrence"} and len(info["titles"]["hash"]) == 16


def test_cf_embeddings_come_from_training_data_only_and_are_cached(tmp_path):
    from bench.cache import Cache
    from bench.checks import _changed_heldout
    from bench.data import load_dataset
    from bench.features import FeatureConfig

    dataset = load_dataset("tiny")
    config = FeatureConfig(cf_epochs=2, cf_dim=8)
    cache = Cache(tmp_path / "cache")
    inputs, info = build_inputs(("cf_embeddings",), dataset, make_split(dataset), config, cache=cache)
    table = inputs.cf_embeddings
    assert table.shape == (120, 8) and np.isfinite(table).all() and table.std() > 0
    assert info["cf_embeddings"]["trained_on"] == "training part only" and not info["cf_embeddings"]["cache_hit"]
    again, info = build_inputs(("cf_embeddings",), dataset, make_split(dataset), config, cache=cache)
    assert info["cf_embeddings"]["cache_hit"] and np.array_equal(again.cf_embeddings, table)
    other = _changed_heldout(dataset)  # every user's validation and test items replaced
    fresh, info = build_inputs(("cf_embeddings",), other, make_split(other), config, cache=Cache(tmp_path / "c2"))
    assert not info["cf_embeddings"]["cache_hit"] and np.array_equal(fresh.cf_embeddings, table)


def test_every_training_only_feature_ignores_held_out_items(tmp_path):
    """The FEATURES table's `train_only` is a promise: replacing every user's validation and test items must
    leave each such feature unchanged, and a feature that uses them must not carry the flag."""
    from bench.cache import Cache
    from bench.checks import _changed_heldout
    from bench.data import load_dataset
    from bench.features import FeatureConfig
    from bench.tokenizer import FEATURES

    config = FeatureConfig(cf_epochs=2, cf_dim=8)
    dataset = load_dataset("tiny")
    other = _changed_heldout(dataset)
    collaborative = sorted(name for name, spec in FEATURES.items() if spec.train_only)
    assert collaborative == ["cf_embeddings", "cooccurrence", "train_item_counts", "user_histories"]
    for name in collaborative:
        built = [FEATURES[name].build(d, make_split(d), config, "cpu", Cache(tmp_path / name / str(i)))[0]
                 for i, d in enumerate((dataset, other))]  # separate caches: each is built from scratch
        a, b = built
        same = (np.allclose(a, b) if isinstance(a, np.ndarray) else
                np.array_equal(a.offsets, b.offsets) and np.array_equal(a.items, b.items))
        assert same, name


def test_an_item_without_training_interactions_takes_its_text_neighbours_cf_vector():
    from bench.features.collaborative import impute_by_content

    content = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [1, 0.05]], dtype=np.float32)
    values = np.array([[1, 1], [3, 3], [10, 10], [20, 20], [99, 99]], dtype=np.float32)
    known = np.array([True, True, True, True, False])
    out = impute_by_content(values, known, content, neighbours=2)
    assert np.array_equal(out[:4], values[:4]) and np.allclose(out[4], [2, 2])  # items 0 and 1 are its nearest


def test_the_collaborative_infonce_leaves_unknown_items_out():
    import torch

    from bench.quantize.contrastive import InfoNCE
    from bench.quantize.rqvae import QuantizedBatch

    targets = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    term = InfoNCE(targets, latent_dim=4, known=np.array([True, True, True, False, False, False]))
    quantized = torch.randn(6, 4, requires_grad=True)
    batch = QuantizedBatch(items=torch.arange(6), x=None, latent=None, level_vectors=None, quantized=quantized,
                           codes=None, reconstruction=None, model=None)
    term(batch).backward()
    assert quantized.grad[:3].abs().sum() > 0 and quantized.grad[3:].abs().sum() == 0
