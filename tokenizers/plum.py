"""PLUM (He et al., 2025): TIGER's RQ-VAE with four changes, each a switch here so that the suite can run
PLUM's ablation: (1) multi-modal fusion, one encoder per embedding source (the item text embedding and the
item's CF embedding, a SASRec trained on the training part only), concatenated; (2) multi-resolution
codebooks, |C_l| = C_1 / 2^(l-1) (1024 / 512 / 256 here; PLUM: 2048 / 1024 / ...); (3) progressive masking,
a random prefix of levels reconstructs in training, so early levels are self-sufficient; (4) InfoNCE pulling
together items that a user consumed next to each other in the training part.

Where public data forces a choice PLUM does not state: the sources are L2-normalised per row and their
reconstruction errors averaged per source; the co-occurrence weight (0.02) and temperature (0.1) are ours;
switching multi-resolution off gives every level the last level's size (3 x 256, TIGER's); collisions go
through the suite's shared disambiguation code. An item without training interactions (a cold item) has no CF
embedding of its own: its CF source is the mean CF embedding of its 10 nearest items by text that have one
(bench.features.collaborative.impute_by_content), and it has no co-occurrence pairs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.errors import ConfigError
from bench.quantize.collisions import disambiguate
from bench.quantize.rqvae_config import RQVAETraining
from bench.tokenizer import ItemTokenizer, register_tokenizer


@register_tokenizer("plum")
class Plum(ItemTokenizer):
    version = 2  # 2: items without training interactions take their CF source from their text neighbours
    needs = ("text_embeddings", "cf_embeddings", "cooccurrence", "train_item_counts")
    check_overrides = {"codebook_size": 32, "train": {"epochs": 30}}
    search_space = {"cooccurrence_weight": ("log", 1e-3, 1.0), "train.lr": ("log", 3e-4, 3e-3)}

    @dataclass(frozen=True)
    class Config:
        levels: int = 3
        codebook_size: int = 1024        # the first level's; halved per level when multi_resolution
        multi_resolution: bool = True    # False: every level has codebook_size / 2^(levels-1) codes
        fusion: bool = True              # False: text embeddings alone
        progressive_masking: bool = True
        cooccurrence_weight: float = 0.02  # 0 switches the co-occurrence term off
        cooccurrence_temperature: float = 0.1
        hidden: tuple[int, ...] = (512, 256, 128)
        latent_dim: int = 32
        train: RQVAETraining = field(default_factory=RQVAETraining)

        def __post_init__(self):
            if self.codebook_size % 2 ** (self.levels - 1):
                raise ConfigError(f"plum: codebook_size {self.codebook_size} must be divisible by "
                                  f"2^(levels - 1) = {2 ** (self.levels - 1)} (sizes halve per level)")
            if self.train.progressive_masking:
                raise ConfigError("plum: set progressive_masking, not train.progressive_masking (one switch)")

        @property
        def sizes(self) -> tuple[int, ...]:
            if self.multi_resolution:
                return tuple(self.codebook_size // 2 ** level for level in range(self.levels))
            return (self.codebook_size // 2 ** (self.levels - 1),) * self.levels

    def fit(self, inputs, seed):
        import numpy as np

        from bench.quantize.contrastive import CoOccurrence
        from bench.quantize.rqvae import fit_rqvae

        from bench.features.collaborative import impute_by_content

        c = self.config
        cf = impute_by_content(inputs.cf_embeddings, inputs.train_item_counts > 0, inputs.text_embeddings) \
            if c.fusion else None
        sources = [inputs.text_embeddings] + ([cf] if c.fusion else [])
        sources = [np.asarray(s, dtype=np.float32) for s in sources]
        sources = [s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12) for s in sources]
        terms = ()
        if c.cooccurrence_weight:
            terms = (CoOccurrence(inputs.cooccurrence, inputs.n_items, c.cooccurrence_weight,
                                  c.cooccurrence_temperature, seed),)
        training = replace(c.train, progressive_masking=c.progressive_masking)
        self.result = fit_rqvae(np.concatenate(sources, axis=1), c.sizes, seed, training, c.hidden, c.latent_dim,
                                terms=terms, device=self.device, source_dims=tuple(s.shape[1] for s in sources))
        return disambiguate(self.result.codes, c.sizes)

    def report(self):
        return {**self.result.report(), "codebook_sizes": list(self.config.sizes)}
