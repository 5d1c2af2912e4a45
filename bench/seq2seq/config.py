"""Settings of the generative recommender, kept free of torch so that listing plugins stays fast.
The defaults are TIGER's (Rajput et al., 2023): the `paper` budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bench.errors import ConfigError


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
    # True: T5's exact function (unscaled attention with the 1/sqrt(d_kv) folded into the query init, output
    # head tied to the input embeddings and scaled by d_model^-1/2): the perf comparison with Hugging Face T5.
    # False: attention scaled by 1/sqrt(d_kv), queries initialised like keys, an untied output head. T5's
    # recipe assumes Adafactor; under AdamW the tied, scaled head and the shrunken queries learn about
    # sqrt(d) and sqrt(d_kv) times slower than the rest (issue 13: 18% lower validation recall at 400 steps).
    t5_exact: bool = False
    # True: token embeddings stored at scale d^-1/2 and multiplied by sqrt(d) at use (ignored when t5_exact);
    # opt-in: it gains at 2,000 steps and loses at the cpu budget's 6,600 (issue 13). Added after version 3's
    # records: at its default it is left out of run ids (bench.config.identity)
    scaled_embeddings: bool = field(default=False, metadata={"added": True})
    # The bridge to a plain reference model (issue 41), each added after version 3 at T5's choice:
    # layer: LayerNorm with a bias (the reference) instead of T5's RMSNorm
    norm: Literal["rms", "layer"] = field(default="rms", metadata={"added": True})
    activation: Literal["relu", "gelu"] = field(default="relu", metadata={"added": True})
    # relative: T5's bucketed position bias in every attention layer; learned: learned absolute positions
    # added to the inputs, by recency in the encoder (0 = the most recent item; the user token its own) and
    # by position in the decoder, and no bias
    positions: Literal["relative", "learned"] = field(default="relative", metadata={"added": True})
    # the output head's init std; 0: in_features^-1/2, as every linear layer
    head_init_std: float = field(default=0.0, metadata={"added": True})
    # normal: every linear layer N(0, in^-1/2); uniform: torch's default U(+-in^-1/2) (std in^-1/2 / sqrt 3)
    linear_init: Literal["normal", "uniform"] = field(default="normal", metadata={"added": True})


@dataclass(frozen=True)
class TrainConfig:
    """TIGER: batch 256, lr 0.01 with inverse-square-root decay, 200k steps; beam 20 for decoding.

    A budget is a number of steps (and at most `max_epochs` passes), never minutes, so the same settings
    train the same model on any host; `schedule` anneals towards `max_steps`."""

    batch_size: int = 256
    lr: float = 0.01
    weight_decay: float = 0.0
    adam_beta2: float = 0.999
    warmup_steps: int = 10_000
    # after the linear warm-up: inverse_sqrt (TIGER, T5), or cosine / linear decay to min_lr_ratio * lr at max_steps
    schedule: Literal["inverse_sqrt", "cosine", "linear"] = "inverse_sqrt"
    min_lr_ratio: float = 0.0
    max_steps: int = 200_000
    max_epochs: int = 1000
    eval_every_epochs: int = 1
    eval_users: int = 0  # validation users for early stopping (0: all); a fixed random subset otherwise
    # evaluations without improvement before stopping; 0: never stop early (every run trains the whole step
    # budget and validation only picks the epoch, as an annealed schedule needs its last steps)
    patience: int = 10
    beam_size: int = 20
    eval_batch_size: int = 256
    grad_clip: float = 1.0
    # cross-entropy against (1 - eps) on the target code and eps spread over the level's codes (Szegedy et
    # al.): a brake on the late-epoch memorisation seen at the cpu budget (issue 13). Added after version 3
    label_smoothing: float = field(default=0.0, metadata={"added": True})
    # LETTER's ranking-guided generation loss: the training softmax at temperature tau (LETTER: 0.7), which
    # weighs hard negative codes more; 1 = plain cross-entropy. Decoding is unchanged. Added after version 3
    ranking_temperature: float = field(default=1.0, metadata={"added": True})
    # sorted: batches cut from all examples sorted by history length; chunked: sorted within chunks of
    # `chunk_batches` batches (more mixed batches, the reference model's). Added after version 3
    batching: Literal["sorted", "chunked"] = field(default="sorted", metadata={"added": True})
    chunk_batches: int = field(default=50, metadata={"added": True})
    # best: the weights of the best validation epoch; final: the last step's. Added after version 3
    keep: Literal["best", "final"] = field(default="best", metadata={"added": True})
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA and on CPUs with native bf16; fp32 otherwise

    def __post_init__(self):
        if not self.lr >= 0:  # 0 freezes the weights (a test does); negative climbs the loss
            raise ConfigError(f"train.lr must be a non-negative number, got {self.lr}")
        if self.patience < 0:
            raise ConfigError(f"train.patience must be 0 (never stop early) or more, got {self.patience}")
        if self.beam_size < 1:
            raise ConfigError(f"train.beam_size must be at least 1, got {self.beam_size}")
        if not self.ranking_temperature > 0:
            raise ConfigError(f"train.ranking_temperature must be > 0, got {self.ranking_temperature}")
        if self.chunk_batches < 1:
            raise ConfigError(f"train.chunk_batches must be at least 1, got {self.chunk_batches}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"train.label_smoothing must be in [0, 1), got {self.label_smoothing}")
