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
                 symmetric: bool = True, cosine: bool = True, known: np.ndarray | None = None):
        super().__init__(weight)
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim != 2 or not np.isfinite(targets).all():
            raise PluginError("InfoNCE targets must be a finite 2-d array (one row per item)")
        self.register_buffer("targets", torch.as_tensor(targets))
        # items whose target row means something (e.g. CF vectors of items with training interactions); the
        # others take no part in this term, so their codes come from the other terms alone
        self.register_buffer("known", None if known is None else torch.as_tensor(np.asarray(known, dtype=bool)))
        width = self.targets.shape[1]
        self.project = nn.Identity() if width == latent_dim else nn.Linear(latent_dim, width, bias=False)
        self.temperature, self.symmetric, self.cosine = temperature, symmetric, cosine

    def forward(self, batch: QuantizedBatch) -> torch.Tensor:
        quantized, items = batch.quantized, batch.items
        if self.known is not None:
            keep = self.known[items]
            if int(keep.sum()) < 2:
                return quantized.sum() * 0.0
            quantized, items = quantized[keep], items[keep]
        return info_nce(self.project(quantized), self.targets[items], self.temperature, self.symmetric, self.cosine)


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


class Neighbours:
    """CSR lists of neighbours and a seeded draw of one per row (rows without neighbours drop out)."""

    def __init__(self, pairs: np.ndarray, n_rows: int, generator: torch.Generator, symmetric: bool = True):
        """`symmetric`: pairs of one kind (a, b), neighbours both ways, an item next to itself dropped;
        otherwise (row, value) pairs of two kinds, e.g. (item, user)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if symmetric:
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            pairs = np.concatenate([pairs, pairs[:, ::-1]])
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        self.offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(np.bincount(pairs[:, 0], minlength=n_rows))]))
        self.values = torch.as_tensor(pairs[:, 1].copy())
        self.generator = generator

    def draw(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions in `rows` that have a neighbour, one random neighbour for each)."""
        start, end = self.offsets[rows], self.offsets[rows + 1]
        have = torch.nonzero(end > start).flatten()
        pick = start[have] + (torch.rand(len(have), generator=self.generator) * (end[have] - start[have])).long()
        return have, self.values[pick]


class CoOccurrence(LossTerm):
    """PLUM's co-occurrence alignment: each item's latent is pulled towards the latent of an item that some
    user consumed next to it in the training part (a fresh random partner per batch, drawn from `pairs`),
    against the partners of the other items of the batch (in-batch InfoNCE, cosine). Items that no training
    sequence pairs with another item take no part."""

    def __init__(self, pairs: np.ndarray, n_items: int, weight: float = 0.02, temperature: float = 0.1,
                 seed: int = 0):
        super().__init__(weight)
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if len(pairs) and (pairs.min() < 0 or pairs.max() >= n_items):
            raise PluginError(f"co-occurrence pairs name items outside the catalogue of {n_items}")
        self.neighbours = Neighbours(pairs, n_items, torch.Generator().manual_seed(seed))
        self.temperature = temperature

    def partners(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the batch rows that have a neighbour, one random neighbour of each)."""
        rows, partners = self.neighbours.draw(items.cpu())
        return rows.to(items.device), partners.to(items.device)

    def forward(self, batch: QuantizedBatch) -> torch.Tensor:
        if batch.catalogue is None:
            raise PluginError("CoOccurrence needs the batch's catalogue (fit_rqvae passes it)")
        rows, partners = self.partners(batch.items)
        if len(rows) < 2:
            return batch.latent.new_zeros(())
        return info_nce(batch.latent[rows], batch.model.encoder(batch.catalogue[partners]), self.temperature)
