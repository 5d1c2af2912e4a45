"""DAS (Ye et al., CIKM 2025): semantic IDs for items and for users, quantised and aligned with collaborative
signals in one stage (bench.quantize.dual): an item RQ-VAE over item text embeddings, a user RQ-VAE over the
mean text embedding of the user's training items, a debiased ID-based CF model, and multi-view InfoNCE
between them. Paper defaults: 3 x 512 codes of dim 32, L = L_sem + 1.0 L_cf + 0.5 L_align, gamma 0.1.

The user IDs travel in the SID table (`user_codes`, one row per dataset user); `tiger` reads them with
`user_ids: sids`. A user with no training history gets the codes of the average user's content. Items enter
training only through interactions, so an item without any (a cold item) is coded by the shared item encoder
from its text alone.
Where public data forces a change from the paper: docs/methods.md."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.quantize.collisions import disambiguate
from bench.quantize.rqvae_config import RQVAETraining
from bench.tokenizer import ItemTokenizer, register_tokenizer


@register_tokenizer("das")
class DAS(ItemTokenizer):
    version = 1
    needs = ("text_embeddings", "user_histories", "cooccurrence")
    check_overrides = {"codebook_size": 16, "user_codebook_size": 8, "train": {"epochs": 5}}
    search_space = {"align_weight": ("log", 0.05, 2.0), "cf_weight": ("log", 0.1, 3.0)}

    @dataclass(frozen=True)
    class Config:
        levels: int = 3
        codebook_size: int = 512
        user_levels: int = 3
        user_codebook_size: int = 512
        hidden: tuple[int, ...] = (512, 256, 128)
        latent_dim: int = 32
        cf_dim: int = 32
        cf_weight: float = 1.0       # alpha
        align_weight: float = 0.5    # beta; 0 switches the alignment off (ablation)
        debias: bool = True          # interest / conformity split (ablation: false)
        orthogonality: float = 0.1   # gamma
        temperature: float = 0.1
        train: RQVAETraining = field(default_factory=RQVAETraining)

    def fit(self, inputs, seed):
        import numpy as np

        from bench.quantize.dual import fit_dual

        c, histories, text = self.config, inputs.user_histories, inputs.text_embeddings
        counts = np.diff(histories.offsets)
        rows = np.repeat(np.arange(len(counts)), counts)
        sums = np.zeros((len(counts), text.shape[1]), dtype=np.float64)
        np.add.at(sums, rows, text[histories.items])
        user_content = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        item_sizes, user_sizes = (c.codebook_size,) * c.levels, (c.user_codebook_size,) * c.user_levels
        self.result = fit_dual(text, user_content, np.stack([rows, histories.items], 1), inputs.cooccurrence,
                               item_sizes, user_sizes, seed, c.train, c.hidden, c.latent_dim, c.cf_dim,
                               c.cf_weight, c.align_weight, c.debias, c.orthogonality, c.temperature, self.device)
        users = np.tile(self.result.cold_user_codes, (max(histories.n_users, int(histories.users.max()) + 1), 1))
        users[histories.users] = self.result.user_codes
        table = disambiguate(self.result.item_codes, item_sizes)
        return replace(table, user_codes=users, user_vocab_sizes=user_sizes)

    def report(self):
        return self.result.report()
