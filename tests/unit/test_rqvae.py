"""The RQ-VAE engine: gradients flow where they should, sizes per level, masking, pluggable terms, determinism."""

import numpy as np
import pytest
import torch

from bench.errors import PluginError, TrainingDiverged
from bench.quantize.contrastive import InfoNCE, info_nce
from bench.quantize.rqvae import RQVAE, LossTerm, Plateau, fit_rqvae, usage_and_entropy
from bench.quantize.rqvae_config import RQVAETraining


def clustered(n=256, d=24, k=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d))
    return (centres[rng.integers(k, size=n)] + rng.normal(0, 0.1, (n, d))).astype(np.float32)


QUICK = RQVAETraining(epochs=15, batch_size=64, optimizer="adamw", lr=3e-3, log_every=100)


def test_straight_through_gradients_reach_encoder_decoder_and_codebooks():
    torch.manual_seed(0)
    model = RQVAE(24, (32,), 8, (16, 8))
    x = torch.from_numpy(clustered(64))
    _, losses = model(x, torch.arange(64))
    losses["reconstruction"].backward(retain_graph=True)
    assert model.encoder[0].weight.grad.abs().sum() > 0  # through the non-differentiable code choice
    assert all(c.grad is None for c in model.quantizer.codebooks)  # reconstruction never moves codebooks
    losses["codebook"].backward()
    assert all(c.grad.abs().sum() > 0 for c in model.quantizer.codebooks)


def test_codebook_sizes_may_differ_per_level_and_codes_stay_in_range():
    result = fit_rqvae(clustered(), (32, 16, 4), seed=0, training=QUICK, hidden=(32,), latent_dim=8)
    assert result.codes.shape == (256, 3)
    assert all(result.codes[:, level].max() < size for level, size in enumerate((32, 16, 4)))
    assert result.stop_reason == "epochs" and result.epochs == 15


def test_progressive_masking_reconstructs_from_the_kept_prefix_only():
    torch.manual_seed(0)
    model = RQVAE(24, (32,), 8, (16, 8, 4)).eval()
    x = torch.from_numpy(clustered(16))
    batch, _ = model(x, torch.arange(16), keep_levels=torch.ones(16, dtype=torch.long))
    first_level_only = model.decoder(batch.level_vectors[:, 0])
    assert torch.allclose(batch.reconstruction, first_level_only, atol=1e-6)
    full, _ = model(x, torch.arange(16))
    assert not torch.allclose(full.reconstruction, first_level_only, atol=1e-4)


def test_a_loss_term_sees_the_batch_and_changes_training():
    calls = []

    class PullTowardsZero(LossTerm):
        def forward(self, batch):
            calls.append((batch.items.clone(), batch.codes.shape, batch.quantized.shape))
            return batch.latent.pow(2).mean()

    x = clustered()
    plain = fit_rqvae(x, (16, 8), 0, QUICK, (32,), 8)
    pulled = fit_rqvae(x, (16, 8), 0, QUICK, (32,), 8, terms=(PullTowardsZero(weight=100.0),))
    items = torch.cat([c[0] for c in calls[:4]])  # one epoch: every item once
    assert sorted(items.tolist()) == list(range(256)) and calls[0][1][1] == 2 and calls[0][2][1] == 8
    plain_norm = plain.model.encoder(torch.from_numpy(x)).norm(dim=1).mean()
    pulled_norm = pulled.model.encoder(torch.from_numpy(x)).norm(dim=1).mean()
    assert pulled_norm < plain_norm
    # the logged term is the pulled latents' mean square: below what the plain model's latents give
    plain_square = plain.model.encoder(torch.from_numpy(x)).pow(2).mean().item()
    assert pulled.history[-1]["loss"]["PullTowardsZero"] < plain_square


def test_info_nce_rewards_alignment():
    torch.manual_seed(0)
    a = torch.randn(32, 8)
    assert info_nce(a, a) < info_nce(a, a[torch.randperm(32)])
    term = InfoNCE(np.random.default_rng(0).normal(size=(256, 5)), weight=0.5, latent_dim=8)
    assert isinstance(term.project, torch.nn.Linear)  # 8-d quantised vectors vs 5-d targets
    result = fit_rqvae(clustered(), (16, 8), 0, QUICK, (32,), 8, terms=(term,))
    assert "InfoNCE" in result.history[-1]["loss"]


def test_same_seed_gives_identical_codes_and_another_seed_differs():
    x = clustered()
    a = fit_rqvae(x, (16, 8), 3, QUICK, (32,), 8).codes
    assert np.array_equal(a, fit_rqvae(x, (16, 8), 3, QUICK, (32,), 8).codes)
    assert not np.array_equal(a, fit_rqvae(x, (16, 8), 4, QUICK, (32,), 8).codes)


def test_dead_codes_are_restarted_so_usage_stays_high():
    x = clustered(k=4)  # 4 tight clusters: without restarts most of 32 first-level codes would sit idle
    on = fit_rqvae(x, (32,), 0, QUICK, (32,), 8)
    off = fit_rqvae(x, (32,), 0, RQVAETraining(**{**QUICK.__dict__, "reset_dead_codes": False}), (32,), 8)
    assert on.history[-1]["usage"][0] > off.history[-1]["usage"][0]


def test_stops_once_converged_and_usage_criterion_met():
    training = RQVAETraining(epochs=500, batch_size=64, optimizer="adamw", lr=3e-3, patience=3, min_usage=0.5)
    result = fit_rqvae(clustered(), (8,), 0, training, (32,), 8)
    assert result.stop_reason == "converged" and result.epochs < 500
    assert result.report()["usage_criterion_met"]


def test_bad_input_and_divergence_raise_clear_errors():
    x = clustered()
    x[5, 3] = np.nan
    with pytest.raises(PluginError, match="finite"):
        fit_rqvae(x, (8,), 0, QUICK)

    class Diverging(LossTerm):
        def forward(self, batch):
            return batch.latent.sum() * float("nan")

    with pytest.raises(TrainingDiverged, match="non-finite"):  # a BenchError: one `error:` line, no record
        fit_rqvae(clustered(), (8,), 0, QUICK, (32,), 8, terms=(Diverging(),))


def test_usage_and_entropy():
    usage, entropy = usage_and_entropy(np.array([[0, 0], [1, 0], [2, 0], [3, 0]]), (4, 2))
    assert usage == [1.0, 0.5] and entropy == [1.0, 0.0]


def test_a_slow_steady_decline_is_not_a_plateau():
    slow = Plateau()
    assert max(slow.update(1.0 * 0.998**epoch) for epoch in range(200)) < 6
    flat = Plateau()
    assert [flat.update(loss) for loss in (1.0, 0.999, 0.998, 0.9975)] == [0, 1, 2, 3]


def test_early_stopping_watches_the_whole_objective_extra_terms_included():
    class StillLearning(LossTerm):  # its own parameter: the RQ-VAE itself trains exactly as without it
        def __init__(self):
            super().__init__(weight=10.0)
            self.p = torch.nn.Parameter(torch.tensor(1.0))  # falls ~0.01 an epoch: 2% of the objective or more

        def forward(self, batch):
            return self.p ** 2

    training = RQVAETraining(epochs=500, batch_size=64, optimizer="adamw", lr=3e-3, patience=3, min_usage=0.5)
    plain = fit_rqvae(clustered(), (8,), 0, training, (32,), 8)
    learning = fit_rqvae(clustered(), (8,), 0, training, (32,), 8, terms=(StillLearning(),))
    assert plain.stop_reason == "converged" and learning.epochs > plain.epochs
