"""TIGER (Rajput et al., NeurIPS 2023): a T5-style encoder-decoder that reads the semantic IDs of a user's
history and generates the next item's ID by beam search, constrained to real items. The shared judge of
every tokenizer. Defaults are TIGER's configuration (the `paper` budget); suites override per budget."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from bench.config import config_hash
from bench.recommender import FitInfo, Recommender, register_recommender


@register_recommender("tiger")
class Tiger(Recommender):
    uses_sids = True

    @dataclass(frozen=True)
    class Config:
        # model (TIGER: 4 + 4 layers, 6 heads x 64, d_model 128, MLP 1024, dropout 0.1, 2000 user buckets)
        encoder_layers: int = 4
        decoder_layers: int = 4
        d_model: int = 128
        heads: int = 6
        d_kv: int = 64
        d_ff: int = 1024
        dropout: float = 0.1
        user_buckets: int = 2000
        encoder_input: Literal["sid_tokens", "item_sum"] = "sid_tokens"  # TIGER: every SID token of the history
        # training (TIGER: batch 256, lr 0.01 with inverse square root decay, 200k steps)
        batch_size: int = 256
        lr: float = 0.01
        weight_decay: float = 0.0
        warmup_steps: int = 10_000
        max_steps: int = 200_000
        max_epochs: int = 1000
        max_minutes: float = 0.0
        eval_every_epochs: int = 1
        eval_users: int = 0
        patience: int = 10
        grad_clip: float = 1.0
        precision: Literal["auto", "fp32", "bf16"] = "auto"
        # decoding
        beam_size: int = 20
        eval_batch_size: int = 256
        constrained: bool = True  # False: TIGER's free generation; invalid IDs are dropped and counted

    def fit(self, split, sids, seed):
        import torch

        from bench.seq2seq.model import ModelShape, Seq2SeqRecommender
        from bench.seq2seq.train import TrainConfig, train, use_bf16
        from bench.seq2seq.trie import PrefixTrie
        from bench.seq2seq.vocab import SIDVocab

        c, device = self.config, self.context.device
        torch.set_num_threads(self.context.threads)
        pick = lambda cls: cls(**{f.name: getattr(c, f.name) for f in fields(cls) if hasattr(c, f.name)})  # noqa: E731
        self.train_config = pick(TrainConfig)
        self.vocab = SIDVocab(sids, c.user_buckets).to(device)
        self.trie = PrefixTrie(sids.codes, sids.vocab_sizes).to(device)
        torch.manual_seed(seed)
        self.model = Seq2SeqRecommender(self.vocab, pick(ModelShape), c.encoder_input).to(device)
        self.bf16 = use_bf16(c.precision, device)
        checkpoint = None
        if self.context.work_dir:
            from pathlib import Path

            checkpoint = Path(self.context.work_dir) / "tiger.pt"
        state = train(self.model, self.trie, split.train, split.valid, self.train_config, seed, device, checkpoint,
                      config_key=config_hash([self.config.__dict__, sids.hash(), seed]))
        self.invalid = {"valid": 0, "test": 0}
        return FitInfo(epochs=state.epoch, best_epoch=state.best_epoch, extra={
            "steps": state.step, "train_minutes": round(state.elapsed / 60, 2),
            "best_valid_ndcg@10_subset": round(state.best_score, 5), "precision": "bf16" if self.bf16 else "fp32",
            "parameters": sum(p.numel() for p in self.model.parameters()), "curve": state.history})

    def recommend(self, examples, k):
        from bench.seq2seq.train import recommend

        ranked, invalid = recommend(self.model, self.trie, examples, k, self.config.beam_size,
                                    self.config.eval_batch_size, self.context.device, self.bf16,
                                    constrained=self.config.constrained, progress="beam search")
        self.last_invalid_share = invalid / max(1, len(examples) * k)
        return ranked

    def report(self) -> dict:
        return {"invalid_id_share": round(self.last_invalid_share, 5), "constrained": self.config.constrained,
                "beam_size": self.config.beam_size, "encoder_input": self.config.encoder_input}
