"""RQ-VAE training settings, torch-free so that plugin configs can be listed and checked without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class RQVAETraining:
    """How long and how an RQ-VAE trains. Stops at `epochs`, or earlier once every level uses at
    least `min_usage` of its codes and the loss has not improved by 1% for `patience` epochs. Never on the
    clock: the same settings give the same table on any host."""
    epochs: int = 20000
    batch_size: int = 1024
    # TIGER reports Adagrad, lr 0.4; on MiniLM embeddings it diverges (loss 6e9 after one epoch on Beauty, and
    # 0.116 reconstruction after 100 epochs against AdamW's 0.0009), so AdamW at 1e-3 (LETTER's) is the default.
    optimizer: Literal["adagrad", "adamw"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta: float = 0.25                  # commitment weight
    min_usage: float = 0.8              # TIGER's criterion: every level uses at least 80% of its codes
    patience: int = 0                   # 0 = never stop before `epochs`
    reset_dead_codes: bool = True       # an unused code restarts at a random residual of its level
    progressive_masking: bool = False   # PLUM: reconstruct from a random prefix of levels
    # LETTER: per level, the Sinkhorn epsilon of a balanced assignment during training (0 or absent: nearest
    # code); final codes are always the nearest. Added after rqvae version 2: at () it stays out of cache keys
    sinkhorn_epsilons: tuple[float, ...] = field(default=(), metadata={"added": True})
    sinkhorn_iterations: int = field(default=50, metadata={"added": True})
    log_every: int = 50                 # epochs between log lines (usage, entropy, loss)

    def __post_init__(self):
        if not self.lr >= 0:  # 0 freezes the weights (a test does); negative climbs the loss
            from bench.errors import ConfigError

            raise ConfigError(f"train.lr must be a non-negative number, got {self.lr}")
