"""PLUM's machinery on the shared engine: fused per-source encoders, per-source reconstruction, the
co-occurrence term, multi-resolution sizes and the plugin's switches."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench import registry
from bench.config import build
from bench.errors import ConfigError, PluginError
from bench.quantize.contrastive import CoOccurrence
from bench.quantize.rqvae import RQVAE, fit_rqvae
from bench.tokenizer import TokenizerInputs
from tests.unit.test_rqvae import QUICK, clustered


def test_each_source_has_its_own_encoder_and_counts_equally_in_the_reconstruction():
    torch.manual_seed(0)
    model = RQVAE(30, (16,), 8, (8, 4), source_dims=(24, 6))
    x = torch.randn(5, 30, requires_grad=True)
    latent = model.encoder(x)
    assert latent.shape == (5, 8)
    latent[:, :4].sum().backward()  # the first source's share of the latent
    assert x.grad[:, :24].abs().sum() > 0 and x.grad[:, 24:].abs().sum() == 0
    reconstruction, target = torch.randn(5, 30), torch.randn(5, 30)
    by_hand = (F.mse_loss(reconstruction[:, :24], target[:, :24]) + F.mse_loss(reconstruction[:, 24:],
                                                                                target[:, 24:])) / 2
    assert torch.allclose(model.reconstruction_loss(reconstruction, target), by_hand)
    single = RQVAE(30, (16,), 8, (8, 4))
    assert torch.allclose(single.reconstruction_loss(reconstruction, target), F.mse_loss(reconstruction, target))
    with pytest.raises(PluginError, match="add up"):
        RQVAE(30, (16,), 8, (8, 4), source_dims=(24, 5))


def test_cooccurrence_partners_are_training_neighbours_in_either_direction():
    pairs = np.array([[0, 1], [1, 2], [3, 3], [2, 4]])  # (3, 3) is a repeat: no neighbour
    term = CoOccurrence(pairs, n_items=6, seed=0)
    neighbours = {0: {1}, 1: {0, 2}, 2: {1, 4}, 4: {2}}
    items = torch.tensor([0, 1, 2, 3, 4, 5] * 50)
    rows, partners = term.partners(items)
    assert set(items[rows].tolist()) == {0, 1, 2, 4}  # 3 and 5 have none
    for item, partner in zip(items[rows].tolist(), partners.tolist()):
        assert partner in neighbours[item]
    drawn = {(i, p) for i, p in zip(items[rows].tolist(), partners.tolist())}
    assert {(1, 0), (1, 2), (2, 1), (2, 4)} <= drawn  # every neighbour gets drawn
    with pytest.raises(PluginError, match="outside"):
        CoOccurrence(np.array([[0, 9]]), n_items=6)


def test_cooccurrence_term_pulls_consumed_together_items_closer():
    x = clustered(n=256, k=8)
    rng = np.random.default_rng(0)
    pairs = np.stack([np.arange(0, 256, 2), np.arange(1, 256, 2)], 1)  # random partners, across clusters
    rng.shuffle(pairs[:, 1])

    def paired_cosine(result):
        latent = result.model.encoder(torch.from_numpy(x)).detach()
        return F.cosine_similarity(latent[pairs[:, 0]], latent[pairs[:, 1]]).mean().item()

    plain = fit_rqvae(x, (16, 8), 0, QUICK, (32,), 8)
    pulled = fit_rqvae(x, (16, 8), 0, QUICK, (32,), 8, terms=(CoOccurrence(pairs, 256, weight=1.0),))
    assert paired_cosine(pulled) > paired_cosine(plain) + 0.2
    assert "CoOccurrence" in pulled.history[-1]["loss"]


def plum(**config):
    cls = registry.get("tokenizers", "plum")
    return cls(build(cls.Config, config))


def test_plum_sizes_halve_per_level_or_stay_at_the_last_size():
    assert plum().config.sizes == (1024, 512, 256)
    assert plum(multi_resolution=False).config.sizes == (256, 256, 256)
    assert plum(codebook_size=64, levels=4).config.sizes == (64, 32, 16, 8)
    with pytest.raises(ConfigError, match="divisible"):
        plum(codebook_size=90)
    with pytest.raises(ConfigError, match="one switch"):
        plum(train={"progressive_masking": True})


def test_plum_switches_change_what_is_trained():
    rng = np.random.default_rng(0)
    text = clustered(n=128, d=24)
    inputs = TokenizerInputs(128, text_embeddings=text, cf_embeddings=rng.normal(size=(128, 6)).astype(np.float32),
                             cooccurrence=np.stack([np.arange(127), np.arange(1, 128)], 1).astype(np.int32),
                             train_item_counts=np.r_[np.zeros(8, np.int32), np.ones(120, np.int32)])
    base = {"codebook_size": 16, "train": {"epochs": 3, "batch_size": 32}}
    tables = {}
    for name, change in {"full": {}, "no_fusion": {"fusion": False}, "no_cooc": {"cooccurrence_weight": 0.0},
                         "no_masking": {"progressive_masking": False}}.items():
        tokenizer = plum(**base, **change)
        tables[name] = tokenizer.fit(inputs, seed=0)
        model = tokenizer.result.model
        assert model.source_dims == ((24, 6) if name != "no_fusion" else ())
        assert ("CoOccurrence" in tokenizer.result.history[-1]["loss"]) == (name != "no_cooc")
        assert tokenizer.report()["codebook_sizes"] == [16, 8, 4]
    codes = {name: table.codes for name, table in tables.items()}
    assert all(not np.array_equal(codes["full"], codes[name]) for name in ("no_fusion", "no_cooc", "no_masking"))
