"""LETTER's machinery on the shared engine: Sinkhorn-balanced codes, size-constrained k-means, the
code-diversity term, and dot-product InfoNCE."""

import numpy as np
import pytest
import torch

from bench.errors import PluginError
from bench.quantize.contrastive import CodeDiversity, info_nce
from bench.quantize.kmeans import constrained_kmeans
from bench.quantize.rqvae import RQVAE, fit_rqvae
from bench.quantize.sinkhorn import sinkhorn_codes
from tests.unit.test_rqvae import QUICK, clustered


def test_sinkhorn_spreads_a_crowded_batch_that_nearest_code_piles_up():
    torch.manual_seed(0)
    distances = torch.rand(64, 8)
    distances[:, 0] -= 1.0  # code 0 is every item's nearest
    assert torch.bincount(distances.argmin(1), minlength=8).max() == 64
    balanced = torch.bincount(sinkhorn_codes(distances, epsilon=0.05), minlength=8)
    assert balanced.max() <= 12 and (balanced > 0).all()  # 8 per code if perfectly even
    # distances are rescaled first, so epsilon means the same at any scale, even where exp(-d / eps) underflows
    for epsilon in (0.05, 1e-4):
        assert torch.equal(sinkhorn_codes(distances * 1e6, epsilon), sinkhorn_codes(distances, epsilon))


def test_sinkhorn_keeps_the_nearest_code_when_it_is_already_balanced():
    distances = torch.full((16, 4), 5.0)
    distances[torch.arange(16), torch.arange(16) % 4] = 0.0
    assert torch.equal(sinkhorn_codes(distances, epsilon=0.01), torch.arange(16) % 4)


def test_sinkhorn_balances_training_codes_and_eval_takes_the_nearest():
    torch.manual_seed(0)
    model = RQVAE(24, (32,), 8, (4, 16), sinkhorn_epsilons=(0.0, 0.01))
    x = torch.randn(128, 24)
    with torch.no_grad():
        model.quantizer.codebooks[1].mul_(20.0)[0] = 0.0  # code 0 of level 2 nearest to almost every residual
        trained, _ = model.train()(x, torch.arange(128))
        nearest, _ = model.eval()(x, torch.arange(128))
    spread = torch.bincount(trained.codes[:, 1], minlength=16)
    piled = torch.bincount(nearest.codes[:, 1], minlength=16)
    assert spread.max() <= 16 < piled.max()  # 8 per code if perfectly even
    assert torch.equal(trained.codes[:, 0], nearest.codes[:, 0])  # epsilon 0: the nearest code in training too
    with pytest.raises(PluginError):
        RQVAE(24, (32,), 8, (4, 16), sinkhorn_epsilons=(0.1, 0.1, 0.1))  # at most one epsilon per level
    with pytest.raises(PluginError):
        RQVAE(24, (32,), 8, (4, 16), sinkhorn_epsilons=(0.0, -0.1))


def test_constrained_kmeans_respects_the_size_bounds():
    x = clustered(n=200, k=3)  # uneven natural clusters
    labels = constrained_kmeans(x, 10, seed=0, size_min=15, size_max=25)
    sizes = np.bincount(labels, minlength=10)
    assert sizes.min() >= 15 and sizes.max() <= 25
    assert np.array_equal(labels, constrained_kmeans(x, 10, seed=0, size_min=15, size_max=25))
    with pytest.raises(PluginError, match="cannot form"):
        constrained_kmeans(x, 10, seed=0, size_min=30, size_max=40)


def test_code_diversity_pulls_a_code_towards_its_own_group_and_never_itself():
    torch.manual_seed(0)
    model = RQVAE(24, (32,), 8, (40, 12))
    term = CodeDiversity(weight=1.0, clusters=4, seed=0)
    term.start_epoch(model, 0)
    labels, position, members, sizes = term.groups[0]
    assert sizes.sum() == 40 and len(sizes) == 4
    for code in range(40):  # members/position index every code of its group exactly once
        assert members[labels[code], position[code]] == code
    x = torch.from_numpy(clustered(64))
    batch, _ = model(x, torch.arange(64))
    loss = term(batch)
    loss.backward()
    assert torch.isfinite(loss) and model.quantizer.codebooks[0].grad.abs().sum() > 0
    # the drawn positive is in the item's own group and never its own code
    codes = batch.codes[:, 0]
    positive = term.positives(0, codes)
    assert (labels[positive] == labels[codes]).all() and (positive != codes).all()


def test_diversity_term_changes_training_and_is_deterministic():
    x = clustered()
    run = lambda seed: fit_rqvae(x, (16, 16), 0, QUICK, (32,), 8, terms=(CodeDiversity(1.0, 4, seed=seed),))
    a, b = run(0), run(0)
    assert np.array_equal(a.codes, b.codes) and "CodeDiversity" in a.history[-1]["loss"]
    assert not np.array_equal(a.codes, fit_rqvae(x, (16, 16), 0, QUICK, (32,), 8).codes)


def test_dot_product_info_nce_depends_on_scale_and_cosine_does_not():
    torch.manual_seed(0)
    a, p = torch.randn(16, 4), torch.randn(16, 4)
    assert torch.isclose(info_nce(a, p), info_nce(3 * a, p))
    assert not torch.isclose(info_nce(a, p, cosine=False), info_nce(3 * a, p, cosine=False))
    one_way = info_nce(a, a, temperature=1.0, symmetric=False, cosine=False)
    logits = a @ a.T
    assert torch.isclose(one_way, torch.nn.functional.cross_entropy(logits, torch.arange(16)))
