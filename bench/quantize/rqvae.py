"""The residual-quantisation engine: an RQ-VAE (TIGER) whose loss is a list of pluggable terms.

LETTER, DAS and PLUM are this model plus extra terms or settings, so each of them is a few lines in its
plugin: multi-resolution codebooks are `codebook_sizes`, PLUM's progressive masking is a flag, its fusion of
several embedding sources is `source_dims` (one encoder per source), and an extra
loss such as `InfoNCE(cf_embeddings)` (bench.quantize.contrastive) is a `LossTerm` passed to `fit_rqvae`.

A `LossTerm` is an `nn.Module` (so it may own parameters, e.g. a projection) called with a `QuantizedBatch`:
the batch's item indices, inputs, latents, quantised vectors, per-level code vectors and codes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import PluginError, TrainingDiverged
from bench.progress import log
from bench.quantize.kmeans import residual_kmeans
from bench.quantize.rqvae_config import RQVAETraining
from bench.quantize.sinkhorn import sinkhorn_codes


def mlp(dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@dataclass
class QuantizedBatch:
    """What every loss term sees for one batch."""
    items: torch.Tensor           # [B] catalogue indices
    x: torch.Tensor               # [B, d_in] inputs
    latent: torch.Tensor          # [B, d] encoder output
    level_vectors: torch.Tensor   # [B, L, d] chosen code vectors, gradient to the codebooks
    quantized: torch.Tensor       # [B, d] sum of code vectors, straight-through gradient to the encoder
    codes: torch.Tensor           # [B, L]
    reconstruction: torch.Tensor  # [B, d_in]
    model: RQVAE
    catalogue: torch.Tensor | None = None  # [n, d_in] every item's input (terms that encode other items)


class LossTerm(nn.Module):
    """An extra loss: `weight * forward(batch)` is added to the RQ-VAE loss."""

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, batch: QuantizedBatch) -> torch.Tensor:
        raise NotImplementedError

    def start_epoch(self, model: "RQVAE", epoch: int) -> None:
        """Called before every epoch, e.g. to re-cluster the codebooks (LETTER's diversity term)."""


class ResidualQuantizer(nn.Module):
    """One codebook per level (sizes may differ per level); each level quantises what the previous left.
    In training, a level with a Sinkhorn epsilon > 0 spreads the batch over its codes (LETTER); otherwise,
    and always in eval mode, each residual takes its nearest code."""

    def __init__(self, codebook_sizes: tuple[int, ...], dim: int, sinkhorn_epsilons: tuple[float, ...] = (),
                 sinkhorn_iterations: int = 50):
        super().__init__()
        if len(sinkhorn_epsilons) > len(codebook_sizes) or any(e < 0 for e in sinkhorn_epsilons):
            raise PluginError(f"sinkhorn_epsilons {tuple(sinkhorn_epsilons)}: at most one non-negative value per "
                              f"level ({len(codebook_sizes)} levels)")
        self.codebooks = nn.ParameterList([nn.Parameter(torch.randn(k, dim) / math.sqrt(dim))
                                           for k in codebook_sizes])
        self.epsilons = tuple(sinkhorn_epsilons) + (0.0,) * (len(codebook_sizes) - len(sinkhorn_epsilons))
        self.sinkhorn_iterations = sinkhorn_iterations

    def forward(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(codes [B, L], code vectors [B, L, d], residuals each level saw [B, L, d])."""
        residual = latent
        codes, vectors, residuals = [], [], []
        for codebook, epsilon in zip(self.codebooks, self.epsilons):
            distances = torch.cdist(residual.detach(), codebook.detach())
            if self.training and epsilon > 0:
                code = sinkhorn_codes(distances.pow(2), epsilon, self.sinkhorn_iterations)
            else:
                code = distances.argmin(dim=1)
            vector = codebook[code]
            codes.append(code)
            vectors.append(vector)
            residuals.append(residual)
            residual = residual - vector.detach()
        return torch.stack(codes, 1), torch.stack(vectors, 1), torch.stack(residuals, 1)


class FusedEncoder(nn.Module):
    """PLUM's multi-modal fusion: the input is several sources side by side (e.g. text and CF embeddings);
    each source has its own encoder onto its share of the latent, and the shares are concatenated."""

    def __init__(self, source_dims: tuple[int, ...], hidden: tuple[int, ...], latent_dim: int, dropout: float = 0.0):
        super().__init__()
        if len(source_dims) < 2 or latent_dim < len(source_dims):
            raise PluginError(f"fusion needs at least two sources and a latent of at least one dimension each "
                              f"(sources {tuple(source_dims)}, latent_dim {latent_dim})")
        shares = [latent_dim // len(source_dims)] * len(source_dims)
        shares[0] += latent_dim - sum(shares)
        self.source_dims = tuple(source_dims)
        self.encoders = nn.ModuleList(mlp([d, *hidden, share], dropout) for d, share in zip(source_dims, shares))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.source_dims, dim=1)
        return torch.cat([encoder(part) for encoder, part in zip(self.encoders, parts)], dim=1)


class RQVAE(nn.Module):
    """An MLP encoder, a residual quantiser and an MLP decoder. With several `source_dims` the input is their
    concatenation, encoded per source (FusedEncoder), and the reconstruction error is averaged per source, so
    a 32-d CF vector counts as much as a 384-d text embedding."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...], latent_dim: int, codebook_sizes: tuple[int, ...],
                 dropout: float = 0.0, sinkhorn_epsilons: tuple[float, ...] = (), sinkhorn_iterations: int = 50,
                 source_dims: tuple[int, ...] = ()):
        super().__init__()
        if source_dims and sum(source_dims) != input_dim:
            raise PluginError(f"source dims {tuple(source_dims)} do not add up to the input's {input_dim} columns")
        self.source_dims = tuple(source_dims) if len(source_dims) > 1 else ()
        self.encoder = (FusedEncoder(self.source_dims, hidden, latent_dim, dropout) if self.source_dims
                        else mlp([input_dim, *hidden, latent_dim], dropout))
        self.decoder = mlp([latent_dim, *reversed(hidden), input_dim], dropout)
        self.quantizer = ResidualQuantizer(codebook_sizes, latent_dim, sinkhorn_epsilons, sinkhorn_iterations)

    def reconstruction_loss(self, reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if not self.source_dims:
            return F.mse_loss(reconstruction, x)
        pairs = zip(reconstruction.split(self.source_dims, 1), x.split(self.source_dims, 1))
        return torch.stack([F.mse_loss(r, t) for r, t in pairs]).mean()

    @property
    def levels(self) -> int:
        return len(self.quantizer.codebooks)

    def forward(self, x: torch.Tensor, items: torch.Tensor, keep_levels: torch.Tensor | None = None,
                catalogue: torch.Tensor | None = None):
        """A QuantizedBatch and the RQ-VAE's own loss terms (reconstruction, codebook, commitment)."""
        latent = self.encoder(x)
        codes, vectors, residuals = self.quantizer(latent)
        kept = vectors
        if keep_levels is not None:  # progressive masking: levels at or past keep_levels do not reconstruct
            level = torch.arange(self.levels, device=x.device)
            kept = vectors * (level[None, :] < keep_levels[:, None]).unsqueeze(-1)
        quantized = latent + (kept.sum(1) - latent).detach()  # straight-through estimator
        reconstruction = self.decoder(quantized)
        batch = QuantizedBatch(items, x, latent, vectors, quantized, codes, reconstruction, self, catalogue)
        losses = {
            "reconstruction": self.reconstruction_loss(reconstruction, x),
            "codebook": F.mse_loss(vectors, residuals.detach()),
            "commitment": F.mse_loss(residuals, vectors.detach()),
        }
        return batch, losses

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes [n, L], latents [n, d]) for a whole catalogue."""
        codes, latents = [], []
        for start in range(0, len(x), batch_size):
            latent = self.encoder(x[start:start + batch_size])
            codes.append(self.quantizer(latent)[0])
            latents.append(latent)
        return torch.cat(codes), torch.cat(latents)


@dataclass
class RQVAEResult:
    codes: np.ndarray                  # [n_items, L], before collision resolution
    model: RQVAE
    epochs: int
    stop_reason: str                   # converged | epochs | time
    min_usage: float
    history: list[dict] = field(default_factory=list)  # one entry per logged epoch

    def report(self) -> dict:
        """For the record: epochs, why training stopped, the last logged epoch and TIGER's usage criterion."""
        last = self.history[-1] if self.history else {}
        return {"epochs": self.epochs, "stop_reason": self.stop_reason, "final": last,
                "usage_criterion_met": bool(last) and min(last["usage"]) >= self.min_usage}


def usage_and_entropy(codes: np.ndarray, sizes: tuple[int, ...]) -> tuple[list[float], list[float]]:
    """Per level: the share of codes in use and the normalised entropy of code frequencies."""
    usage, entropy = [], []
    for level, k in enumerate(sizes):
        counts = np.bincount(codes[:, level], minlength=k)
        p = counts[counts > 0] / len(codes)
        usage.append(round(float((counts > 0).mean()), 4))
        entropy.append(round(float(-(p * np.log(p)).sum() / np.log(k)), 4) if k > 1 else 0.0)
    return usage, entropy


def _optimizer(params, training: RQVAETraining) -> torch.optim.Optimizer:
    if training.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=training.lr, weight_decay=training.weight_decay)
    if training.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=training.lr, weight_decay=training.weight_decay)
    raise PluginError(f"unknown RQ-VAE optimizer {training.optimizer!r}; use adagrad or adamw")


@torch.no_grad()
def _init_codebooks(model: RQVAE, x: torch.Tensor, seed: int) -> None:
    """k-means on the initial latents, level by level on the residuals (TIGER initialises on a batch;
    the whole catalogue is cheap at this size and does not depend on batch order)."""
    latents = model.encoder(x).cpu().numpy()
    sizes = tuple(len(c) for c in model.quantizer.codebooks)
    _, centroids = residual_kmeans(latents, sizes, seed)
    for codebook, c in zip(model.quantizer.codebooks, centroids):
        codebook[: len(c)] = torch.from_numpy(c).to(codebook)


@torch.no_grad()
def _reset_dead_codes(model: RQVAE, x: torch.Tensor, generator: torch.Generator) -> int:
    """Move every code no item uses onto the residual of a random item at that level; returns how many."""
    latent = model.encoder(x)
    codes, _, residuals = model.quantizer(latent)
    reset = 0
    for level, codebook in enumerate(model.quantizer.codebooks):
        used = torch.bincount(codes[:, level], minlength=len(codebook)) > 0
        dead = torch.nonzero(~used).flatten()
        if len(dead):
            pick = torch.randint(len(x), (len(dead),), generator=generator).to(x.device)
            codebook[dead] = residuals[pick, level]
            reset += len(dead)
    return reset


class Plateau:
    """Counts epochs since the loss last fell 1% below its reference; the reference moves only on such a gain,
    so a slow steady decline (0.2% an epoch) is not mistaken for a plateau."""

    def __init__(self, tolerance: float = 0.01):
        self.tolerance, self.reference, self.stale = tolerance, math.inf, 0

    def update(self, loss: float) -> int:
        if loss < self.reference * (1 - self.tolerance):
            self.reference, self.stale = loss, 0
        else:
            self.stale += 1
        return self.stale


def fit_rqvae(embeddings: np.ndarray, codebook_sizes: tuple[int, ...], seed: int, training: RQVAETraining,
              hidden: tuple[int, ...] = (512, 256, 128), latent_dim: int = 32, dropout: float = 0.0,
              terms: tuple[LossTerm, ...] = (), device: str = "cpu", source_dims: tuple[int, ...] = ()) -> RQVAEResult:
    """Train an RQ-VAE on item embeddings [n, d] and return every item's codes. Deterministic for a seed on
    the CPU (same machine, same thread count). `source_dims` splits the columns into fused sources (PLUM)."""
    x_np = np.array(embeddings, dtype=np.float32)  # a writable copy
    if x_np.ndim != 2 or not np.isfinite(x_np).all():
        raise PluginError("RQ-VAE input must be a finite 2-d array of item embeddings")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(x_np).to(device)
    n = len(x)
    model = RQVAE(x.shape[1], tuple(hidden), latent_dim, tuple(codebook_sizes), dropout,
                  tuple(training.sinkhorn_epsilons), training.sinkhorn_iterations, tuple(source_dims)).to(device)
    terms = nn.ModuleList(terms).to(device)
    _init_codebooks(model, x, seed)
    optimizer = _optimizer([*model.parameters(), *terms.parameters()], training)
    start = time.perf_counter()
    plateau, stale, history, stop, epoch = Plateau(), 0, [], "epochs", 0
    for epoch in range(1, training.epochs + 1):
        model.train()
        totals: dict[str, float] = {}
        for term in terms:
            term.start_epoch(model, epoch)
        for items in torch.randperm(n, generator=generator).to(device).split(training.batch_size):
            keep = (torch.randint(1, model.levels + 1, (len(items),), generator=generator).to(device)
                    if training.progressive_masking else None)
            batch, losses = model(x[items], items, keep, catalogue=x)
            for term in terms:
                losses[type(term).__name__] = term(batch)
            loss = (losses["reconstruction"] + losses["codebook"] + training.beta * losses["commitment"]
                    + sum(term.weight * losses[type(term).__name__] for term in terms))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + value.item() * len(items) / n
        model.eval()
        if not all(math.isfinite(v) for v in totals.values()):
            raise TrainingDiverged(f"RQ-VAE loss became non-finite at epoch {epoch} ({totals}); lower the learning rate")
        reset = _reset_dead_codes(model, x, generator) if training.reset_dead_codes else 0
        # the whole objective, extra terms included: LETTER's terms can raise the semantic part while the
        # model still improves (on Beauty it rose from epoch 1 and stopped training after 21 epochs)
        total = (totals["reconstruction"] + totals["codebook"] + training.beta * totals["commitment"]
                 + sum(term.weight * totals[type(term).__name__] for term in terms))
        stale = plateau.update(total)
        last = epoch == training.epochs
        if epoch == 1 or epoch % training.log_every == 0 or last or (training.patience and stale >= training.patience):
            codes = model.encode(x)[0].cpu().numpy()
            usage, entropy = usage_and_entropy(codes, tuple(codebook_sizes))
            entry = {"epoch": epoch, "loss": {k: round(v, 5) for k, v in totals.items()}, "usage": usage,
                     "entropy": entropy, "dead_codes_reset": reset, "seconds": round(time.perf_counter() - start, 1)}
            history.append(entry)
            log(f"rqvae epoch {epoch}: loss {total:.4f} (recon {totals['reconstruction']:.4f}) usage {usage} "
                f"entropy {entropy} reset {reset}")
            if training.patience and stale >= training.patience and min(usage) >= training.min_usage:
                stop = "converged"
                break
    codes = model.encode(x)[0].cpu().numpy().astype(np.int64)
    return RQVAEResult(codes, model, epoch, stop, training.min_usage, history)
