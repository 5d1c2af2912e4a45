"""Residual k-means on item text embeddings (GRID's RK-Means, 3 x 256), optionally balanced."""

from __future__ import annotations

from dataclasses import dataclass

from bench.quantize.collisions import disambiguate
from bench.quantize.kmeans import residual_kmeans
from bench.tokenizer import ItemTokenizer, register_tokenizer


@register_tokenizer("rkmeans")
class ResidualKMeans(ItemTokenizer):
    """k-means on text embeddings, then on the residuals, level by level; `balanced` caps bucket sizes."""

    needs = ("text_embeddings",)

    @dataclass(frozen=True)
    class Config:
        levels: int = 3
        codebook_size: int = 256
        balanced: bool = False  # cap every code's bucket at size_factor * n / codebook_size items
        size_factor: float = 1.0
        iterations: int = 20

    def fit(self, inputs, seed):
        sizes = (self.config.codebook_size,) * self.config.levels
        codes, codebooks = residual_kmeans(inputs.text_embeddings, sizes, seed, balanced=self.config.balanced,
                                           iterations=self.config.iterations, size_factor=self.config.size_factor)
        return disambiguate(codes, tuple(len(c) for c in codebooks))
