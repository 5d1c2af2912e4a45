"""Contrastive losses shared by the tokenizers that align SIDs with collaborative signals (LETTER, DAS, PLUM)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import PluginError
from bench.quantize.rqvae import LossTerm, QuantizedBatch


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, temperature: float = 0.1,
             symmetric: bool = True, cosine: bool = True) -> torch.Tensor:
    """In-batch InfoNCE: row i of `anchors` should match row i of `positives` against every other row.
    Cosine similarity (or the plain dot product, LETTER's); `symmetric` averages both directions."""
    a = F.normalize(anchors, dim=-1) if cosine else anchors
    p = F.normalize(positives, dim=-1) if cosine else positives
    logits = a @ p.T / temperature
    target = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


class InfoNCE(LossTerm):
    """Pull each item's quantised vector towards its own row of `targets` [n_items, d'] (e.g. CF embeddings),
    against the other items of the batch. A learned linear map bridges different widths."""

    def __init__(self, targets: np.ndarray, weight: float = 1.0, temperature: float = 0.1, latent_dim: int = 32,
                 symmetric: bool = True, cosine: bool = True):
        super().__init__(weight)
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim != 2 or not np.isfinite(targets).all():
            raise PluginError("InfoNCE targets must be a finite 2-d array (one row per item)")
        self.register_buffer("targets", torch.as_tensor(targets))
        width = self.targets.shape[1]
        self.project = nn.Identity() if width == latent_dim else nn.Linear(latent_dim, width, bias=False)
        self.temperature, self.symmetric, self.cosine = temperature, symmetric, cosine

    def forward(self, batch: QuantizedBatch) -> torch.Tensor:
        return info_nce(self.project(batch.quantized), self.targets[batch.items], self.temperature,
                        self.symmetric, self.cosine)


class CodeDiversity(LossTerm):
    """LETTER's diversity regularisation. Before every epoch each level's code vectors are grouped by
    size-constrained k-means (`clusters` groups); in the batch, the code an item took is pulled towards a
    random other code of its own group, against every other code of the level (cross-entropy over dot
    products, the code itself left out). Codes of a group stay apart from the rest, so items spread over
    the codebook instead of crowding a few codes."""

    def __init__(self, weight: float = 1e-4, clusters: int = 10, temperature: float = 1.0, seed: int = 0):
        super().__init__(weight)
        self.clusters, self.temperature, self.seed = clusters, temperature, seed
        self.generator = torch.Generator().manual_seed(seed)
        self.groups: list = []  # per level: (label, position in its group, members [groups, largest], sizes)

    def start_epoch(self, model, epoch: int) -> None:
        from bench.quantize.kmeans import constrained_kmeans

        self.groups = []
        for level, codebook in enumerate(model.quantizer.codebooks):
            k = len(codebook)
            if k < 2:
                self.groups.append(None)
                continue
            groups = max(1, min(self.clusters, k // 2))
            # LETTER's bounds for 256 codes: 10 to 60 per cluster (6 x clusters); smaller codebooks scale down
            size_min = max(2, min(k // (2 * groups), 10))
            size_max = max(6 * groups, -(-k // groups))
            labels = constrained_kmeans(codebook.detach().cpu().numpy(), groups, self.seed + 7919 * epoch + level,
                                        size_min, size_max)
            order = np.argsort(labels, kind="stable")
            sizes = np.bincount(labels, minlength=groups)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            position = np.empty(k, dtype=np.int64)
            position[order] = np.arange(k) - starts[labels[order]]
            members = np.zeros((groups, sizes.max()), dtype=np.int64)
            members[labels[order], position[order]] = order
            device = codebook.device
            self.groups.append(tuple(torch.as_tensor(a, device=device) for a in (labels, position, members, sizes)))

    def positives(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """For each code [B] of `level`, a random other code of its own group."""
        labels, position, members, sizes = self.groups[level]
        group_of = labels[codes]
        draw = (torch.rand(len(codes), generator=self.generator).to(codes.device) * (sizes[group_of] - 1)).long()
        draw = draw + (draw >= position[codes]).long()  # skip the code itself
        return members[group_of, draw]

    def forward(self, batch: QuantizedBatch) -> torch.Tensor:
        total = batch.x.new_zeros(())
        for level, group in enumerate(self.groups):
            if group is None:
                continue
            codes = batch.codes[:, level]
            codebook = batch.model.quantizer.codebooks[level]
            logits = batch.level_vectors[:, level] @ codebook.T / self.temperature
            logits = logits.masked_fill(F.one_hot(codes, len(codebook)).bool(), float("-inf"))
            total = total + F.cross_entropy(logits, self.positives(level, codes))
        return total
