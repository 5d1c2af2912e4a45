"""Contrastive losses shared by the tokenizers that align SIDs with collaborative signals (LETTER, DAS, PLUM)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.quantize.rqvae import LossTerm, QuantizedBatch


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, temperature: float = 0.1,
             symmetric: bool = True) -> torch.Tensor:
    """In-batch InfoNCE: row i of `anchors` should match row i of `positives` against every other row.
    Cosine similarity; `symmetric` averages both directions."""
    a = F.normalize(anchors, dim=-1)
    p = F.normalize(positives, dim=-1)
    logits = a @ p.T / temperature
    target = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


class InfoNCE(LossTerm):
    """Pull each item's quantised vector towards its own row of `targets` [n_items, d'] (e.g. CF embeddings),
    against the other items of the batch. A learned linear map bridges different widths."""

    def __init__(self, targets: np.ndarray, weight: float = 1.0, temperature: float = 0.1, latent_dim: int = 32):
        super().__init__(weight)
        self.register_buffer("targets", torch.as_tensor(np.asarray(targets, dtype=np.float32)))
        width = self.targets.shape[1]
        self.project = nn.Identity() if width == latent_dim else nn.Linear(latent_dim, width, bias=False)
        self.temperature = temperature

    def forward(self, batch: QuantizedBatch) -> torch.Tensor:
        return info_nce(self.project(batch.quantized), self.targets[batch.items], self.temperature)
