"""RQ-VAE (TIGER, Rajput et al. 2023): an MLP auto-encoder over item text embeddings whose 32-d latent is
quantised residually, 3 levels x 256 codes; a 4th code tells colliding items apart."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.quantize.collisions import disambiguate
from bench.quantize.rqvae_config import RQVAETraining
from bench.tokenizer import ItemTokenizer, register_tokenizer


@register_tokenizer("rqvae")
class RQVAETokenizer(ItemTokenizer):
    """TIGER's recipe: encoder 512-256-128 -> 32, 3 x 256 codes, beta 0.25, k-means init, dead-code restarts;
    AdamW rather than TIGER's Adagrad (see RQVAETraining). Training stops at the budget, or once every level
    uses 80% of its codes and the loss has stalled for `train.patience` epochs."""

    version = 2  # 2: the plateau rule no longer stops on a slow steady decline
    needs = ("text_embeddings",)
    check_overrides = {"codebook_size": 16, "train": {"epochs": 30}}
    search_space = {"train.lr": ("log", 3e-4, 3e-3), "train.beta": ("float", 0.1, 0.5)}

    @dataclass(frozen=True)
    class Config:
        levels: int = 3
        codebook_size: int = 256
        hidden: tuple[int, ...] = (512, 256, 128)
        latent_dim: int = 32
        train: RQVAETraining = field(default_factory=RQVAETraining)

    def fit(self, inputs, seed):
        from bench.quantize.rqvae import fit_rqvae

        sizes = (self.config.codebook_size,) * self.config.levels
        self.result = fit_rqvae(inputs.text_embeddings, sizes, seed, self.config.train, self.config.hidden,
                                self.config.latent_dim, device=self.device)
        return disambiguate(self.result.codes, sizes)

    def report(self):
        return self.result.report()
