"""`python -m bench check tokenizer NAME`: the plugin contract, run on a small synthetic catalogue in seconds.

The same checks run in pytest over every registered tokenizer (tests/contract/).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from bench import registry
from bench.cache import Cache
from bench.config import build
from bench.data import SyntheticDataset
from bench.data.dataset import load_folder
from bench.errors import BenchError, PluginError
from bench.features import FeatureConfig
from bench.protocol import make_split
from bench.sids import fit_table
from bench.suites import deep_merge
from bench.tokenizer import FEATURES, SIDTable


def _changed_heldout(dataset, seed: int = 1):
    """The same dataset with every user's validation and test items replaced by other items."""
    items = dataset.items.copy()
    rng = np.random.default_rng(seed)
    ends = dataset.user_offsets[1:]
    for position in np.concatenate([ends - 1, ends - 2]):
        items[position] = (items[position] + 1 + rng.integers(dataset.n_items - 1)) % dataset.n_items
    return dataclasses.replace(dataset, items=items)


def check_tokenizer(name: str, overrides: dict | None = None, cache: Cache | None = None) -> list[tuple[str, bool, str]]:
    """[(check, passed, detail)] for one tokenizer plugin with its default config, made quick for 300 items by
    the plugin's `check_overrides` (if any), then `overrides`."""
    cls = registry.get("tokenizers", name)
    config = build(cls.Config, deep_merge(cls.check_overrides, overrides or {}), f"tokenizers.{name}.config")
    dataset = load_folder(SyntheticDataset(n_users=600, n_items=300, description="").materialize(),
                          name="synthetic-300")
    split = make_split(dataset)
    cache = cache or Cache()
    features = FeatureConfig()
    results = []

    def record(check, passed, detail=""):
        results.append((check, bool(passed), detail))

    record("declares known inputs", all(n in FEATURES for n in cls.needs), f"needs = {tuple(cls.needs)}")
    start = time.perf_counter()
    first = fit_table(name, name, config, 0, dataset, split, features, cache=cache, reuse_table=False)
    seconds = time.perf_counter() - start
    table = first.table
    record("fits the catalogue", table.n_items == dataset.n_items,
           f"{table.n_items} items -> {table.n_levels} levels, vocab {list(table.vocab_sizes)[:6]}, {seconds:.1f}s")
    record("codes inside their vocabularies", bool(((table.codes >= 0) & (table.codes < np.array(table.vocab_sizes))).all()))
    record("rows unique", len(np.unique(table.codes, axis=0)) == table.n_items,
           f"{table.collided_items} items needed the disambiguation step")
    again = fit_table(name, name, config, 0, dataset, split, features, cache=cache, reuse_table=False)
    record("same seed, identical IDs", again.table == table, "fitted twice from scratch, no cache")
    restored = SIDTable.load(table.to_bytes())
    record("save/load round trip", restored == table and restored.hash() == table.hash(), "npz, no pickle")
    other = _changed_heldout(dataset)
    leak = fit_table(name, name, config, 0, other, make_split(other), features, cache=cache, reuse_table=False)
    record("no access to validation or test interactions", leak.table == table,
           "IDs unchanged when every user's validation and test items are replaced")
    diagnostics = first.info["diagnostics"]
    record("diagnostics computed", "levels" in diagnostics,
           f"usage {[lvl['usage'] for lvl in diagnostics['levels']][:4]}, collided before dedup "
           f"{diagnostics['collided_share']:.1%}")
    return results


def run_checks(name: str, overrides: dict | None = None) -> bool:
    try:
        results = check_tokenizer(name, overrides)
    except BenchError:
        raise
    except Exception as err:  # a contract failure of the plugin itself, named as such
        raise PluginError(f"tokenizer '{name}' failed while being checked: {type(err).__name__}: {err}") from err
    width = max(len(check) for check, _, _ in results)
    for check, passed, detail in results:
        print(f"  {'PASS' if passed else 'FAIL'}  {check:<{width}}  {detail}")
    failed = [check for check, passed, _ in results if not passed]
    print(f"tokenizer '{name}': {len(results) - len(failed)}/{len(results)} checks passed")
    return not failed
