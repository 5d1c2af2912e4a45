"""LETTER (Wang et al., CIKM 2024): TIGER's RQ-VAE with two extra loss terms on the shared engine, a
collaborative one (each item's quantised vector against its CF embedding, a SASRec trained on the training
part only) and a diversity one (codes pulled towards their own cluster of the codebook), plus a
Sinkhorn-balanced assignment on the last level during training. Paper defaults: 4 x 256 codes of dim 32,
AdamW lr 1e-3, batch 1024, alpha 0.02, beta 1e-4, 10 clusters.

Where this differs from LETTER's released code: collisions left after training go through the suite's
shared step (an extra disambiguation code, as for every tokenizer) instead of re-running Sinkhorn on each
colliding group; training stops by the engine's usage-and-plateau rule rather than at the checkpoint with
the fewest collisions; the CF embeddings are built by the suite (bench.features.cf_embeddings).
Items without training interactions (cold items; a few seen only as validation or test targets) have no CF
vector of their own: the collaborative term leaves them out, so their codes come from their text alone."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.quantize.collisions import disambiguate
from bench.quantize.rqvae_config import RQVAETraining
from bench.tokenizer import ItemTokenizer, register_tokenizer


@register_tokenizer("letter")
class Letter(ItemTokenizer):
    version = 2  # 2: items without training interactions take no part in the collaborative term
    needs = ("text_embeddings", "cf_embeddings", "train_item_counts")
    check_overrides = {"codebook_size": 16, "train": {"epochs": 30}}
    search_space = {"cf_weight": ("log", 1e-3, 1.0), "diversity_weight": ("log", 1e-5, 1e-2)}

    @dataclass(frozen=True)
    class Config:
        levels: int = 4
        codebook_size: int = 256
        hidden: tuple[int, ...] = (512, 256, 128)
        latent_dim: int = 32
        cf_weight: float = 0.02          # alpha; 0 switches the collaborative term off
        cf_temperature: float = 1.0
        cf_cosine: bool = False          # LETTER: plain dot products (True: cosine over cf_temperature)
        diversity_weight: float = 1e-4   # beta; 0 switches the diversity term off
        diversity_clusters: int = 10
        last_level_sinkhorn: float = 0.003  # epsilon on the last level in training; 0: nearest code
        train: RQVAETraining = field(default_factory=RQVAETraining)

    def fit(self, inputs, seed):
        from bench.quantize.contrastive import CodeDiversity, InfoNCE
        from bench.quantize.rqvae import fit_rqvae

        c = self.config
        terms = []
        if c.cf_weight:
            terms.append(InfoNCE(inputs.cf_embeddings, c.cf_weight, c.cf_temperature, c.latent_dim,
                                 symmetric=False, cosine=c.cf_cosine, known=inputs.train_item_counts > 0))
        if c.diversity_weight:
            terms.append(CodeDiversity(c.diversity_weight, c.diversity_clusters, seed=seed))
        sizes = (c.codebook_size,) * c.levels
        training = c.train
        if not training.sinkhorn_epsilons:  # set explicitly under train:, it wins
            training = replace(training, sinkhorn_epsilons=(0.0,) * (c.levels - 1) + (c.last_level_sinkhorn,))
        self.result = fit_rqvae(inputs.text_embeddings, sizes, seed, training, c.hidden, c.latent_dim,
                                terms=tuple(terms), device=self.device)
        return disambiguate(self.result.codes, sizes)

    def report(self):
        return self.result.report()
