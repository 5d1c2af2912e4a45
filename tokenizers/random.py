"""Random IDs: every level drawn uniformly, redrawn until unique (TIGER's random-ID baseline, 4 x 255)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import PluginError
from bench.tokenizer import ItemTokenizer, SIDTable, register_tokenizer


@register_tokenizer("random")
class RandomIDs(ItemTokenizer):
    """Uniformly random codes per level, unique by construction: the no-semantics floor."""

    needs = ()

    @dataclass(frozen=True)
    class Config:
        levels: int = 4
        codebook_size: int = 255

    def fit(self, inputs, seed):
        n, levels, size = inputs.n_items, self.config.levels, self.config.codebook_size
        if size ** levels < n:
            raise PluginError(f"random: {levels} levels x {size} codes cannot give {n} distinct IDs")
        rng = np.random.default_rng(seed)
        codes = rng.integers(0, size, (n, levels))
        while True:  # redraw the later copy of any repeated row until all rows differ
            _, first = np.unique(codes, axis=0, return_index=True)
            repeated = np.setdiff1d(np.arange(n), first)
            if len(repeated) == 0:
                return SIDTable(codes, (size,) * levels)
            codes[repeated] = rng.integers(0, size, (len(repeated), levels))
