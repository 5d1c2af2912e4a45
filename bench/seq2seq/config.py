"""Settings of the generative recommender, kept free of torch so that listing plugins stays fast.
The defaults are TIGER's (Rajput et al., 2023): the `paper` budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelShape:
    """TIGER: 4 + 4 layers, 6 heads x 64, d_model 128, MLP 1024, dropout 0.1; T5's 32 position buckets."""

    encoder_layers: int = 4
    decoder_layers: int = 4
    d_model: int = 128
    heads: int = 6
    d_kv: int = 64
    d_ff: int = 1024
    dropout: float = 0.1
    position_buckets: int = 32
    max_distance: int = 128


@dataclass(frozen=True)
class TrainConfig:
    """TIGER: batch 256, lr 0.01 with inverse-square-root decay, 200k steps; beam 20 for decoding."""

    batch_size: int = 256
    lr: float = 0.01
    weight_decay: float = 0.0
    warmup_steps: int = 10_000
    max_steps: int = 200_000
    max_epochs: int = 1000
    max_minutes: float = 0.0  # 0: no time limit
    eval_every_epochs: int = 1
    eval_users: int = 0  # validation users for early stopping (0: all); a fixed random subset otherwise
    patience: int = 10  # evaluations without improvement before stopping
    beam_size: int = 20
    eval_batch_size: int = 256
    grad_clip: float = 1.0
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA and on CPUs with native bf16; fp32 otherwise
