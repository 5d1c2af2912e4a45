"""The set of valid semantic IDs as a prefix trie held in sorted tensors, for batched constrained decoding.

Nodes at depth d are the distinct ID prefixes of length d, numbered in lexicographic order. The edge from
node p (depth d) by code c is stored as the key p * V_d + c in `keys[d]`, a sorted tensor, so the children
of p are one contiguous slice and stepping to a child is one `searchsorted`. No Python loop per user or
per beam. Leaves (depth L) are items, one each (IDs are unique).
"""

from __future__ import annotations

import numpy as np
import torch


class PrefixTrie:
    def __init__(self, codes: np.ndarray, vocab_sizes: tuple[int, ...]):
        codes = np.asarray(codes, dtype=np.int64)
        n, levels = codes.shape
        self.levels = levels
        self.vocab_sizes = tuple(int(v) for v in vocab_sizes)
        self.keys: list[torch.Tensor] = []
        parent = np.zeros(n, dtype=np.int64)  # node of each item's prefix at the previous depth
        for depth in range(levels):
            key = parent * self.vocab_sizes[depth] + codes[:, depth]
            unique_keys, node = np.unique(key, return_inverse=True)
            self.keys.append(torch.as_tensor(unique_keys))
            parent = node.reshape(-1)
        leaf_items = np.full(len(self.keys[-1]), -1, dtype=np.int64)
        leaf_items[parent] = np.arange(n)
        self.leaf_items = torch.as_tensor(leaf_items)

    def to(self, device) -> "PrefixTrie":
        self.keys = [k.to(device) for k in self.keys]
        self.leaf_items = self.leaf_items.to(device)
        return self

    def children(self, depth: int, parents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every edge out of the `parents` (nodes at `depth`; -1 has none) as three flat tensors: the row into
        `parents`, the code, and the child node. Rows ascend, and codes ascend within a row."""
        size = self.vocab_sizes[depth]
        keys = self.keys[depth]
        live = parents >= 0
        base = parents.clamp(min=0) * size
        low = torch.searchsorted(keys, base)
        counts = torch.where(live, torch.searchsorted(keys, base + size) - low, 0)
        arange = torch.arange(len(parents), device=parents.device)
        rows = torch.repeat_interleave(arange, counts)
        first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)  # each edge's row start
        child = torch.repeat_interleave(low, counts) + torch.arange(len(rows), device=parents.device) - first
        return rows, keys[child] - base[rows], child  # a node at depth + 1 is its key's index in keys[depth]

    def allowed_mask(self, depth: int, parents: torch.Tensor) -> torch.Tensor:
        """Bool [M, V_depth]: which codes continue each parent node into a valid prefix."""
        rows, codes, _ = self.children(depth, parents)
        mask = torch.zeros(len(parents), self.vocab_sizes[depth], dtype=torch.bool, device=parents.device)
        mask[rows, codes] = True
        return mask

    def step(self, depth: int, parents: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Child node for each (parent, code), or -1 where that edge does not exist."""
        keys = self.keys[depth]
        wanted = parents * self.vocab_sizes[depth] + codes
        position = torch.searchsorted(keys, wanted).clamp(max=len(keys) - 1)
        found = (keys[position] == wanted) & (parents >= 0)
        return torch.where(found, position, torch.full_like(position, -1))
