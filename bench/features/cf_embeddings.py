"""Collaborative item embeddings: the item table of a RecBole SASRec trained on the training part only.

LETTER aligns its codes with 32-d SASRec item embeddings. Training sees only our training examples (every
prefix of each user's training sequence); there is no validation-based early stopping either, so neither
validation nor test targets can leak into a tokenizer. Cached by the hash of the training data and settings.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.cache import Cache
from bench.errors import check_finite_loss
from bench.progress import log
from bench.protocol import Split

STAGE_VERSION = 1


def cf_embeddings(split: Split, config, device: str = "cpu", cache: Cache | None = None) -> tuple[np.ndarray, dict]:
    """float32 [n_items, config.cf_dim] and a description for the record."""
    cache = cache or Cache()
    digest = hashlib.sha256(np.concatenate([split.train_offsets, split.train_items]).tobytes()).hexdigest()[:16]
    key = {"train": digest, "n_items": split.n_items, "max_history": split.config.max_history,
           "model": config.cf_model, "dim": config.cf_dim, "epochs": config.cf_epochs, "lr": config.cf_lr,
           "batch_size": config.cf_batch_size, "seed": config.cf_seed}

    def compute():
        start = time.perf_counter()
        embeddings, losses = _train(split, config, device)
        return {"embeddings": embeddings}, {"seconds": round(time.perf_counter() - start, 1),
                                            "final_loss": round(losses[-1], 4) if losses else None}

    arrays, meta, hit = cache.get_or_compute("cf_embeddings", STAGE_VERSION, key, compute)
    return arrays["embeddings"], {"model": config.cf_model, "dim": config.cf_dim, "epochs": config.cf_epochs,
                                  "trained_on": "training part only", "cache_hit": hit, **meta}


def _train(split: Split, config, device: str) -> tuple[np.ndarray, list[float]]:
    import torch
    from recbole.data import create_dataset
    from recbole.utils import get_model, init_seed

    from bench.recbole_bridge import IdMap, interaction, recbole_settings, write_atomic_files
    from bench.recbole_compat import recbole_config

    with tempfile.TemporaryDirectory(prefix="bench-cf-") as work:
        data = write_atomic_files(split, Path(work) / "data", with_targets=False)
        settings = {**recbole_settings(split, config.cf_seed, device), "hidden_size": config.cf_dim,
                    "inner_size": 4 * config.cf_dim, "loss_type": "CE", "train_neg_sample_args": None}
        rb_config = recbole_config(config.cf_model, "bench", str(data), str(Path(work) / "saved"), settings)
        rb_config["device"] = torch.device(device)
        init_seed(config.cf_seed, True)
        dataset = create_dataset(rb_config)
        ids = IdMap.from_dataset(dataset, split.n_items)
        model = get_model(config.cf_model)(rb_config, dataset).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.cf_lr)
    generator = np.random.default_rng(config.cf_seed)
    losses = []
    for epoch in range(config.cf_epochs):
        model.train()
        order = generator.permutation(len(split.train))
        total = 0.0
        for start in range(0, len(order), config.cf_batch_size):
            rows = order[start:start + config.cf_batch_size]
            batch = interaction(rb_config, ids, split.train.select(rows), targets=True).to(device)
            loss = model.calculate_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        losses.append(check_finite_loss(total / len(order), f"cf_embeddings ({config.cf_model}), epoch {epoch + 1}",
                                        epoch + 1))
        log(f"cf_embeddings: {config.cf_model} epoch {epoch + 1}/{config.cf_epochs}, loss {losses[-1]:.4f}")
    table = model.item_embedding.weight.detach().cpu().numpy()
    return np.ascontiguousarray(table[ids.to_internal], dtype=np.float32), losses


def build_cf_embeddings(dataset, split, config, device, cache):
    return cf_embeddings(split, config, device, cache)
