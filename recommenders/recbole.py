"""ID-based sequential baselines from RecBole 1.2.1 (SASRec, BERT4Rec, GRU4Rec, or any RecBole sequential
model by name), trained by RecBole's own trainer on exactly our split and ranked over all items by
`full_sort_predict` in our loop, so per-user metrics are comparable with every other system.

RecBole's settings are its defaults (e.g. SASRec: 2 layers, hidden 64, dropout 0.5) plus `params`; the loss is
cross-entropy over all items and early stopping watches the suite's validation metric (NDCG@10 by default).
Training runs under bf16 autocast where the device has native bf16, as `tiger` does (RecBole's own
`enable_amp`; SASRec trains 1.7x faster on an avx512_bf16 CPU); the record says which precision ran."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from bench.recommender import FitInfo, Recommender, register_recommender


# What a sweep tunes besides the learning rate, in each model's own RecBole names. The input length is the
# suite's protocol (max_history), the same for every system, so it is not tuned per model.
MODEL_SPACES = {
    "SASRec": {"params.hidden_size": ("choice", [64, 128, 256]),
               "params.hidden_dropout_prob": ("float", 0.1, 0.6), "params.attn_dropout_prob": ("float", 0.1, 0.6)},
    "BERT4Rec": {"params.hidden_size": ("choice", [64, 128, 256]),
                 "params.hidden_dropout_prob": ("float", 0.1, 0.6), "params.attn_dropout_prob": ("float", 0.1, 0.6)},
    "GRU4Rec": {"params.hidden_size": ("choice", [64, 128, 256]), "params.dropout_prob": ("float", 0.0, 0.6)},
}


def recbole_model_defaults(model: str) -> dict:
    """RecBole's own defaults for a model (its properties/model/MODEL.yaml), read without importing RecBole."""
    import importlib.util

    import yaml

    spec = importlib.util.find_spec("recbole")
    path = Path(spec.submodule_search_locations[0]) / "properties" / "model" / f"{model}.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@register_recommender("recbole")
class RecBoleSequential(Recommender):
    search_space = {"learning_rate": ("log", 1e-4, 1e-2)}  # every model; see MODEL_SPACES
    prune_after_epochs = 10  # SASRec at the cpu budget: best epoch ~20 of 26; a slow start is not a bad end
    check_overrides = {"epochs": 1, "params": {"hidden_size": 16, "inner_size": 32}}

    @classmethod
    def search_space_for(cls, config):
        return {**cls.search_space, **MODEL_SPACES.get(config.model, {})}

    @classmethod
    def settings_in_effect(cls, config):
        from bench.config import to_dict

        settings = to_dict(config)
        settings["params"] = {**recbole_model_defaults(config.model), **config.params}
        return settings

    @dataclass(frozen=True)
    class Config:
        model: str = "SASRec"
        loss_type: str = "CE"
        epochs: int = 300
        stopping_step: int = 10          # epochs without a better validation score
        learning_rate: float = 0.001
        train_batch_size: int = 2048
        eval_batch_size: int = 4096
        precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast where the device has it natively
        params: dict = field(default_factory=dict)  # any other RecBole setting (hidden_size, n_layers, ...)

    def fit(self, split, sids, seed):
        with warnings.catch_warnings():  # RecBole's deprecation notes about torch and numpy, not the user's
            warnings.filterwarnings("ignore", module="recbole")
            return self._fit(split, sids, seed)

    def _fit(self, split, sids, seed):
        import torch
        from recbole.data import create_dataset, data_preparation
        from recbole.utils import get_model, get_trainer, init_seed

        from bench import recbole_training
        from bench.config import config_hash, to_dict
        from bench.device import use_bf16
        from bench.paths import cache_dir
        from bench.progress import log
        from bench.recbole_bridge import IdMap, recbole_settings, write_atomic_files
        from bench.recbole_compat import recbole_config

        config, device = self.config, self.context.device
        torch.set_num_threads(self.context.threads)
        bf16 = use_bf16(config.precision, device, self.context.budget)
        if bf16 and device.startswith("cuda"):  # RecBole's autocast takes the device's default dtype: fp16 on CUDA
            torch.set_autocast_dtype("cuda", torch.bfloat16)
        work = Path(self.context.work_dir or cache_dir() / "work" / "recbole")
        data_path = write_atomic_files(split, work / "data")
        metric = self.context.selection_metric
        settings = {**recbole_settings(split, seed, device, metric), "loss_type": config.loss_type,
                    "epochs": config.epochs, "stopping_step": config.stopping_step,
                    "learning_rate": config.learning_rate, "train_batch_size": config.train_batch_size,
                    "eval_batch_size": config.eval_batch_size, "train_neg_sample_args": None,
                    "enable_amp": bf16, "enable_scaler": False, **config.params}
        self.rb_config = recbole_config(config.model, "bench", str(data_path), str(work / "saved"), settings)
        self.rb_config["device"] = torch.device(device)
        init_seed(seed, True)
        dataset = create_dataset(self.rb_config)
        self.train_data, self.valid_data, self.test_data = data_preparation(self.rb_config, dataset)
        self.ids = IdMap.from_dataset(dataset, split.n_items)
        self.user_ids = dataset.field2token_id["user_id"]  # our user index (as text) -> RecBole id
        init_seed(seed, True)
        self.model = get_model(config.model)(self.rb_config, self.train_data.dataset).to(device)
        self.trainer = get_trainer(self.rb_config["MODEL_TYPE"], config.model)(self.rb_config, self.model)
        start = time.perf_counter()

        def after_epoch(epoch, valid_score, progress):
            log(f"{config.model} epoch {epoch}: valid {metric} {valid_score:.4f} (best at epoch {progress.best_epoch})")
            if self.context.on_eval is not None:
                self.context.on_eval(epoch, valid_score)

        progress = recbole_training.fit(
            self.trainer, self.train_data, self.valid_data, epochs=config.epochs, stopping_step=config.stopping_step,
            checkpoint=work / "checkpoint.pt", config_key=config_hash([to_dict(config), seed, metric, split.n_items,
                                                                     len(split.train)]),
            score_name=f"valid_{metric}", on_epoch=after_epoch)
        seconds = max(time.perf_counter() - start, progress.seconds)  # all processes' epochs, if resumed
        return FitInfo(epochs=progress.epochs_done, best_epoch=progress.best_epoch, seconds=seconds, extra={
            "model": config.model, "precision": "bf16" if bf16 else "fp32", "train_minutes": round(seconds / 60, 2),
            "parameters": sum(p.numel() for p in self.model.parameters()), "curve": progress.curve})

    def recommend(self, examples, k):
        from bench.recbole_bridge import score_top_k

        users = np.array([self.user_ids[str(u)] for u in examples.users], dtype=np.int64)  # for user-aware models
        return score_top_k(self.model, self.rb_config, self.ids, examples, k, self.config.eval_batch_size,
                           self.context.device, users)

    def recbole_evaluation(self) -> dict:
        """RecBole's own metrics of the trained model on its test loader. Meaningful only when the model was
        fitted on a split with its test part (tests/unit/test_recbole.py): in a run the runner holds the test
        targets, so RecBole's test loader holds placeholders."""
        result = self.trainer.evaluate(self.test_data, load_best_model=False)
        return {name: float(value) for name, value in result.items()}
