"""The tokenizer stage: features -> tokenizer.fit -> SIDTable, cached by content, with diagnostics and timings.

Shared by `python -m bench run` (SID tables for generative recommenders), `python -m bench tokenize`
(tables and diagnostics alone) and `python -m bench check tokenizer`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from bench import registry
from bench.cache import Cache
from bench.config import identity
from bench.identity import plugin_hash, table_cache_inputs
from bench.device import seed_everything
from bench.errors import PluginError
from bench.features import FeatureConfig, build_inputs
from bench.features.collaborative import cooccurrence_pairs
from bench.quantize.diagnostics import diagnose
from bench.tokenizer import SIDTable

STAGE_VERSION = 1


@dataclass(frozen=True)
class FittedTable:
    table: SIDTable
    info: dict  # name, plugin, version, config, seed, features, fit_s, cache_hit, table hash, diagnostics


def fit_table(name: str, plugin: str, config, seed: int, dataset, split, features: FeatureConfig,
              device: str = "cpu", cache: Cache | None = None, reuse_table: bool = True) -> FittedTable:
    """Fit (or load from the cache) one tokenizer's SID table for one seed; features are always cached."""
    cache = cache or Cache()
    cls = registry.get("tokenizers", plugin)
    inputs, feature_info = build_inputs(tuple(cls.needs), dataset, split, features, device, cache)
    key_inputs = table_cache_inputs(plugin, cls.version, config, seed, dataset.n_items, feature_info)

    def compute():
        seed_everything(seed)
        start = time.perf_counter()
        try:
            with registry.plugin_failures("tokenizer", plugin, "fit"):
                tokenizer = cls(config, device=device)
                table = tokenizer.fit(inputs, seed)
        except PluginError as err:  # e.g. the SIDTable it built refused its codes: say whose they are
            raise PluginError(err if str(err).startswith("tokenizer ") else f"tokenizer '{plugin}': {err}") from None
        fit_s = time.perf_counter() - start
        if not isinstance(table, SIDTable):
            raise PluginError(f"tokenizer '{plugin}' returned {type(table).__name__}, not a SIDTable")
        if table.n_items != dataset.n_items:
            raise PluginError(f"tokenizer '{plugin}' gave {table.n_items} IDs for {dataset.n_items} items")
        meta = {"fit_s": round(fit_s, 3)}
        if tokenizer.report():
            meta["fit_report"] = tokenizer.report()
        return {"table": np.frombuffer(table.to_bytes(), dtype=np.uint8)}, meta

    if reuse_table:
        arrays, meta, hit = cache.get_or_compute("sid_table", STAGE_VERSION, key_inputs, compute)
    else:
        (arrays, meta), hit = compute(), False
    table = SIDTable.load(arrays["table"].tobytes())
    categories = dataset.item_meta and tuple(m.categories for m in dataset.item_meta)
    info = {"name": name, "plugin": plugin, "version": cls.version, "config": identity(config),
            "config_hash": plugin_hash(config), "seed": seed, "source": registry.source_of("tokenizers", plugin),
            "features": feature_info, "fit_s": meta["fit_s"], "cache_hit": hit, "sid_table_hash": table.hash(),
            "diagnostics": diagnose(table, categories, cooccurring=cooccurrence_pairs(split))}
    if "fit_report" in meta:
        info["fit_report"] = meta["fit_report"]
    return FittedTable(table, info)
