"""DAS's one-stage training (Ye et al., CIKM 2025): an item RQ-VAE and a user RQ-VAE trained together with an
ID-based collaborative model, and aligned with it by multi-view InfoNCE, on batches of training interactions.

    L = L_sem(items) + L_sem(users) + cf_weight * L_cf + align_weight * L_align

L_cf is a debiased two-tower model (DebiasedCF). L_align sums four in-batch InfoNCE views: user SID to item
SID of the same interaction; each entity's quantised vector to its own collaborative vector (interest part);
item to a co-consumed item; user to another user of the same item. Anything collaborative comes from the
training interactions the caller passes (the plugin builds them from the training part only).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import PluginError, TrainingDiverged
from bench.progress import log
from bench.quantize.contrastive import Neighbours, info_nce
from bench.quantize.rqvae import RQVAE, Plateau, _init_codebooks, _optimizer, _reset_dead_codes, usage_and_entropy
from bench.quantize.rqvae_config import RQVAETraining


class DebiasedCF(nn.Module):
    """Two towers whose embeddings are split in two (DICE-style): a user's interest and conformity, an
    item's content and popularity. An interaction scores interest . content + conformity . popularity; the
    popularity half alone must predict the item's training popularity (log count); an orthogonality term
    keeps the halves apart, so the interest / content halves carry the debiased signal that the SIDs are
    aligned with. `debias=False`: one plain embedding per entity (no split, no extra terms)."""

    def __init__(self, n_users: int, n_items: int, dim: int, popularity: np.ndarray, debias: bool = True,
                 orthogonality: float = 0.1):
        super().__init__()
        self.debias, self.orthogonality = debias, orthogonality
        self.user_interest, self.item_content = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        tables = [self.user_interest, self.item_content]
        if debias:
            self.user_conformity, self.item_popularity = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
            self.popularity_head = nn.Linear(dim, 1)
            tables += [self.user_conformity, self.item_popularity]
        for table in tables:
            nn.init.normal_(table.weight, std=dim ** -0.5)
        log_counts = np.log1p(np.asarray(popularity, dtype=np.float64))
        standard = (log_counts - log_counts.mean()) / max(log_counts.std(), 1e-9)
        self.register_buffer("popularity", torch.as_tensor(standard, dtype=torch.float32))

    def loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        interest, content = self.user_interest(users), self.item_content(items)
        scores = interest @ content.T
        if not self.debias:
            return F.cross_entropy(scores, torch.arange(len(users), device=users.device))
        conformity, popularity = self.user_conformity(users), self.item_popularity(items)
        scores = scores + conformity @ popularity.T
        ranking = F.cross_entropy(scores, torch.arange(len(users), device=users.device))
        fit_popularity = F.mse_loss(self.popularity_head(popularity).squeeze(1), self.popularity[items])
        apart = (F.cosine_similarity(interest, conformity).pow(2).mean()
                 + F.cosine_similarity(content, popularity).pow(2).mean())
        return ranking + fit_popularity + self.orthogonality * apart


@dataclass
class DualResult:
    item_codes: np.ndarray  # [n_items, L] before collision resolution
    user_codes: np.ndarray  # [n_user_rows, L_u]
    cold_user_codes: np.ndarray  # [L_u]: the codes of the average user's content (users with no history)
    items: RQVAE
    users: RQVAE
    epochs: int
    stop_reason: str
    min_usage: float
    history: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        last = self.history[-1] if self.history else {}
        return {"epochs": self.epochs, "stop_reason": self.stop_reason, "final": last,
                "usage_criterion_met": bool(last) and min(last["item_usage"]) >= self.min_usage,
                "cold_user_codes": self.cold_user_codes.tolist()}


def _semantic(losses: dict, beta: float, input_dim: int, latent_dim: int) -> torch.Tensor:
    """The RQ-VAE loss as squared errors summed over each vector's dimensions (per entity). The engine's
    means over dimensions suit TIGER's loss alone; beside CF and InfoNCE losses of order log(batch), as in
    DAS's L = L_sem + 1.0 L_cf + 0.5 L_align, they would weigh the semantic part ~1/384 as much."""
    return (input_dim * losses["reconstruction"]
            + latent_dim * (losses["codebook"] + beta * losses["commitment"]))


@contextmanager
def _deterministic_algorithms():
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


@_deterministic_algorithms()
def fit_dual(item_content: np.ndarray, user_content: np.ndarray, interactions: np.ndarray,
             item_pairs: np.ndarray, item_sizes: tuple[int, ...], user_sizes: tuple[int, ...], seed: int,
             training: RQVAETraining, hidden: tuple[int, ...] = (512, 256, 128), latent_dim: int = 32,
             cf_dim: int = 32, cf_weight: float = 1.0, align_weight: float = 0.5, debias: bool = True,
             orthogonality: float = 0.1, temperature: float = 0.1, device: str = "cpu") -> DualResult:
    """Train both RQ-VAEs and the CF model on `interactions` [m, 2] (user row, item), training part only.
    `item_pairs` are co-consumed items; users of the same item are paired here. `align_weight=0` trains
    the three models side by side without alignment (DAS's first ablation). Deterministic for a seed: the
    batches repeat users and items, whose gradient sums torch otherwise adds up in thread order."""
    items_x = torch.as_tensor(np.array(item_content, dtype=np.float32), device=device)
    users_x = torch.as_tensor(np.array(user_content, dtype=np.float32), device=device)
    interactions = np.asarray(interactions, dtype=np.int64).reshape(-1, 2)
    if not (torch.isfinite(items_x).all() and torch.isfinite(users_x).all()):
        raise PluginError("DAS content embeddings must be finite")
    if len(interactions) < 2:
        raise PluginError("DAS needs training interactions (at least two)")
    n_items, n_users = len(items_x), len(users_x)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    item_model = RQVAE(items_x.shape[1], hidden, latent_dim, tuple(item_sizes)).to(device)
    user_model = RQVAE(users_x.shape[1], hidden, latent_dim, tuple(user_sizes)).to(device)
    popularity = np.bincount(interactions[:, 1], minlength=n_items)
    cf = DebiasedCF(n_users, n_items, cf_dim, popularity, debias, orthogonality).to(device)
    bridge = nn.ModuleDict({"item": nn.Linear(latent_dim, cf_dim, bias=False),
                            "user": nn.Linear(latent_dim, cf_dim, bias=False)}).to(device)
    _init_codebooks(item_model, items_x, seed)
    _init_codebooks(user_model, users_x, seed + 1)
    co_items = Neighbours(item_pairs, n_items, generator)
    # users of the same item: user -> item -> another user of that item, as (user, user) neighbours via items
    users_of_item = Neighbours(interactions[:, ::-1], n_items, generator, symmetric=False)
    optimizer = _optimizer([*item_model.parameters(), *user_model.parameters(), *cf.parameters(),
                            *bridge.parameters()], training)
    start, plateau, stale, history, stop, epoch = time.perf_counter(), Plateau(), 0, [], "epochs", 0
    for epoch in range(1, training.epochs + 1):
        item_model.train(), user_model.train()
        totals: dict[str, float] = {}
        order = torch.randperm(len(interactions), generator=generator)
        for rows in order.split(training.batch_size):
            pair = torch.as_tensor(interactions[rows.numpy()], device=device)
            users, items = pair[:, 0], pair[:, 1]
            item_batch, item_losses = item_model(items_x[items], items)
            user_batch, user_losses = user_model(users_x[users], users)
            losses = {"item_semantic": _semantic(item_losses, training.beta, items_x.shape[1], latent_dim),
                      "user_semantic": _semantic(user_losses, training.beta, users_x.shape[1], latent_dim),
                      "cf": cf.loss(users, items)}
            if align_weight:
                iq, uq = item_batch.quantized, user_batch.quantized
                views = [info_nce(uq, iq, temperature),
                         info_nce(bridge["item"](iq), cf.item_content(items), temperature),
                         info_nce(bridge["user"](uq), cf.user_interest(users), temperature)]
                have, partner = co_items.draw(items.cpu())
                if len(have) > 1:
                    views.append(info_nce(item_batch.latent[have], item_model.encoder(items_x[partner]), temperature))
                have, other = users_of_item.draw(items.cpu())
                keep = other != users.cpu()[have]
                have, other = have[keep], other[keep]
                if len(have) > 1:
                    views.append(info_nce(user_batch.latent[have], user_model.encoder(users_x[other]), temperature))
                losses["align"] = torch.stack(views).sum()
            loss = (losses["item_semantic"] + losses["user_semantic"] + cf_weight * losses["cf"]
                    + align_weight * losses.get("align", 0.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value.item() * len(rows) / len(interactions)
        item_model.eval(), user_model.eval()
        if not all(math.isfinite(v) for v in totals.values()):
            raise TrainingDiverged(f"DAS loss became non-finite at epoch {epoch} ({totals}); lower the learning rate")
        reset = 0
        if training.reset_dead_codes:
            reset = _reset_dead_codes(item_model, items_x, generator) + _reset_dead_codes(user_model, users_x, generator)
        total = (totals["item_semantic"] + totals["user_semantic"] + cf_weight * totals["cf"]
                 + align_weight * totals.get("align", 0.0))
        stale = plateau.update(total)
        done = training.patience and stale >= training.patience
        if epoch == 1 or epoch % training.log_every == 0 or epoch == training.epochs or done:
            item_usage, item_entropy = usage_and_entropy(item_model.encode(items_x)[0].cpu().numpy(), tuple(item_sizes))
            user_usage, _ = usage_and_entropy(user_model.encode(users_x)[0].cpu().numpy(), tuple(user_sizes))
            history.append({"epoch": epoch, "loss": {k: round(v, 5) for k, v in totals.items()},
                            "item_usage": item_usage, "item_entropy": item_entropy, "user_usage": user_usage,
                            "dead_codes_reset": reset, "seconds": round(time.perf_counter() - start, 1)})
            log(f"das epoch {epoch}: loss {total:.4f} {', '.join(f'{k} {v:.4f}' for k, v in totals.items())} "
                f"item usage {item_usage} user usage {user_usage}")
            if done and min(item_usage) >= training.min_usage:
                stop = "converged"
                break
    item_codes = item_model.encode(items_x)[0].cpu().numpy().astype(np.int64)
    user_codes = user_model.encode(users_x)[0].cpu().numpy().astype(np.int64)
    cold = user_model.encode(users_x.mean(0, keepdim=True))[0][0].cpu().numpy().astype(np.int64)
    return DualResult(item_codes, user_codes, cold, item_model, user_model, epoch, stop, training.min_usage, history)
