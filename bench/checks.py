"""`python -m bench check tokenizer NAME` and `check recommender NAME`: the plugin contracts, run on a small
synthetic catalogue in seconds.

The same checks run in pytest over every registered plugin (tests/contract/).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from bench import registry
from bench.cache import Cache
from bench.config import build
from bench.data import SyntheticDataset
from bench.data.dataset import load_folder
from bench.errors import BenchError, LeakageError, PluginError
from bench.features import FeatureConfig, build_inputs
from bench.protocol import ProtocolConfig, SplitConfig, make_split
from bench.sids import fit_table
from bench.suites import deep_merge
from bench.tokenizer import SIDTable


def _changed_heldout(dataset, seed: int = 1, last: int = 2):
    """The same dataset with every user's last `last` items (test, then validation) replaced by other items."""
    items = dataset.items.copy()
    rng = np.random.default_rng(seed)
    ends = dataset.user_offsets[1:]
    for position in np.concatenate([ends - 1 - i for i in range(last)]):
        items[position] = (items[position] + 1 + rng.integers(dataset.n_items - 1)) % dataset.n_items
    return dataclasses.replace(dataset, items=items)


COLD = ProtocolConfig(split=SplitConfig(name="cold_items", cold_share=0.1))


def _changed_cold(dataset, cold: np.ndarray, seed: int = 2):
    """The same dataset with its cold items' interactions changed (each user's last item kept, as the split
    keeps it): every earlier one removed, and a cold item inserted early into a fifth of the sequences."""
    rng = np.random.default_rng(seed)
    sequences = []
    for user in range(dataset.n_users):
        sequence = dataset.sequence(user).tolist()
        body = [item for item in sequence[:-1] if item not in set(cold.tolist())]
        if rng.random() < 0.2 and len(body) > 1:
            extra = int(rng.choice([c for c in cold.tolist() if c not in sequence[-1:]]))
            body.insert(int(rng.integers(len(body))), extra)
        sequences.append(body + sequence[-1:])
    lengths = np.array([len(s) for s in sequences])
    return dataclasses.replace(dataset, items=np.concatenate(sequences).astype(np.int32), timestamps=None,
                               user_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def _plugin_under_check(kind: str, name: str, overrides: dict | None):
    """(class, Config) of a plugin with its `check_overrides`, then `overrides`, applied."""
    cls = registry.get(kind, name)
    return cls, build(cls.Config, deep_merge(cls.check_overrides, overrides or {}), f"{kind}.{name}.config")


def _search_space_check(cls, config) -> tuple[str, bool, str]:
    space = cls.search_space_for(config)
    unknown = [key for key in space if not _resolves(config, key)]
    return ("search_space keys are settings", not unknown,
            f"unknown: {unknown}" if unknown else f"{len(space)} key(s)")


def check_tokenizer(name: str, overrides: dict | None = None, cache: Cache | None = None) -> list[tuple[str, bool, str]]:
    """[(check, passed, detail)] for one tokenizer plugin with its default config, made quick for 300 items by
    the plugin's `check_overrides` (if any), then `overrides`."""
    cls, config = _plugin_under_check("tokenizers", name, overrides)
    dataset = load_folder(SyntheticDataset(n_users=600, n_items=300, description="").materialize(),
                          name="synthetic-300")
    split = make_split(dataset)
    cache = cache or Cache()
    features = FeatureConfig(cf_epochs=2)  # the contract, not the quality: a quick CF model
    results = []

    def record(check, passed, detail=""):
        results.append((check, bool(passed), detail))

    record(*_search_space_check(cls, config))
    inputs, _ = build_inputs(tuple(cls.needs), dataset, split, features, "cpu", cache)
    start = time.perf_counter()
    try:  # the plugin's own output, before the runner's checks could stop it
        table = cls(config).fit(inputs, 0)
        valid = isinstance(table, SIDTable)
        detail = (f"{table.n_levels} levels, vocab {list(table.vocab_sizes)[:6]}, {time.perf_counter() - start:.1f}s, "
                  f"{table.collided_items} items needed the disambiguation step") if valid else \
            f"returned {type(table).__name__}"
    except PluginError as err:  # SIDTable refuses codes outside their vocabularies and repeated rows
        valid, detail = False, str(err)
    record("returns a valid SIDTable (codes in range, rows unique)", valid, detail)
    if not valid:
        return results
    record("one ID per catalogue item", table.n_items == dataset.n_items, f"{table.n_items} IDs, "
           f"{dataset.n_items} items")
    again = fit_table(name, name, config, 0, dataset, split, features, cache=cache, reuse_table=False)
    record("same seed, identical IDs", again.table == table, "fitted twice from scratch, no cache")
    other_seed = fit_table(name, name, config, 1, dataset, split, features, cache=cache, reuse_table=False)
    differs = other_seed.table != table
    record("the seed matters as declared", differs == cls.seed_dependent,
           f"seed 1 gives {'other' if differs else 'the same'} IDs; seed_dependent = {cls.seed_dependent}")
    restored = SIDTable.load(table.to_bytes())
    record("save/load round trip", restored == table and restored.hash() == table.hash(), "npz, no pickle")
    other = _changed_heldout(dataset)
    leak = fit_table(name, name, config, 0, other, make_split(other), features, cache=cache, reuse_table=False)
    record("no access to validation or test interactions", leak.table == table,
           "IDs unchanged when every user's validation and test items are replaced")
    cold_split = make_split(dataset, COLD)
    try:
        cold = fit_table(name, name, config, 0, dataset, cold_split, features, cache=cache, reuse_table=False)
        record("cold items: a valid, unique ID for every item", cold.table.n_items == dataset.n_items,
               f"{len(cold_split.cold_items)} cold items never in training")
    except PluginError as err:
        record("cold items: a valid, unique ID for every item", False, str(err))
        return results
    moved = _changed_cold(dataset, cold_split.cold_items)
    again = fit_table(name, name, config, 0, moved, make_split(moved, COLD), features, cache=cache, reuse_table=False)
    record("a cold item's interactions change nothing", again.table == cold.table,
           "IDs unchanged when every interaction with a cold item is moved, added or removed")
    return results


def _resolves(config, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if dataclasses.is_dataclass(node) and part in {f.name for f in dataclasses.fields(node)}:
            node = getattr(node, part)
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return False
    return True


def check_recommender(name: str, overrides: dict | None = None) -> list[tuple[str, bool, str]]:
    """[(check, passed, detail)] for one recommender plugin, fitted as the runner fits it (training and
    validation only) on a 120-item synthetic catalogue, made quick by the plugin's `check_overrides`."""
    import json
    import tempfile

    from bench.metrics import check_ranked
    from bench.recommender import RunContext, report_dict, unpack

    cls, config = _plugin_under_check("recommenders", name, overrides)
    dataset = load_folder(SyntheticDataset(n_users=300, n_items=120, description="").materialize(),
                          name="synthetic-120")
    split, k = make_split(dataset), 10
    results = []

    def record(check, passed, detail=""):
        results.append((check, bool(passed), detail))

    record(*_search_space_check(cls, config))
    sids = None
    if cls.uses_sids:
        random_ids = registry.get("tokenizers", "random")
        sids = fit_table("random", "random", build(random_ids.Config, {"levels": 3, "codebook_size": 8}), 0, dataset,
                         split, FeatureConfig()).table

    def fitted(data, seed=0, source=dataset):
        inputs = build_inputs(tuple(cls.needs), source, data, FeatureConfig(cf_epochs=2), "cpu")[0] if cls.needs else None
        with tempfile.TemporaryDirectory(prefix="check-") as work:  # no checkpoint shared between fits
            model = cls(config, RunContext(device="cpu", budget="smoke", work_dir=work, threads=1, inputs=inputs))
            model.fit(data.for_fit(), sids, seed)
            return model, unpack(model.recommend(data.test.without_targets(), k))[0]

    try:
        model, ranked = fitted(split)
    except LeakageError as err:
        record("fits without the test split", False, str(err))
        return results
    record("fits without the test split", True, "fit gets training and validation; test is held by the runner")
    try:
        check_ranked(ranked, len(split.test), split.n_items, k)
        record("returns k distinct real items", (ranked >= 0).all(), f"[{len(split.test)}, {k}] item indices")
    except BenchError as err:
        record("returns k distinct real items", False, str(err))
    try:
        report = json.dumps(report_dict(model.report()))
        record("report is plain data", True, f"{len(report)} characters of JSON")
    except (TypeError, ValueError) as err:
        record("report is plain data", False, str(err))
    exact = model.exact_top_k(split.test.select(np.arange(20)).without_targets(), k)
    if exact is not None:
        record("exact top-k matches the shape of recommend", np.asarray(exact).shape == (20, k) and
               ((np.asarray(exact) >= 0) & (np.asarray(exact) < split.n_items)).all())
    _, again = fitted(split)
    record("same seed, same recommendations", np.array_equal(again, ranked), "fitted twice from scratch")
    other = _changed_heldout(dataset, last=1)
    _, blind = fitted(make_split(other), source=other)
    record("test targets change nothing", np.array_equal(blind, ranked),
           "every user's test item replaced: the same recommendations")
    cold_split = make_split(dataset, COLD)
    moved = _changed_cold(dataset, cold_split.cold_items)
    _, cold_ranked = fitted(cold_split)
    _, moved_ranked = fitted(make_split(moved, COLD), source=moved)
    record("a cold item's interactions change nothing", np.array_equal(cold_ranked, moved_ranked),
           "every interaction with a cold item moved, added or removed: the same recommendations")
    return results


def run_checks(name: str, overrides: dict | None = None, kind: str = "tokenizer") -> bool:
    checker = check_tokenizer if kind == "tokenizer" else check_recommender
    try:
        results = checker(name, overrides)
    except BenchError:
        raise
    except Exception as err:  # a contract failure of the plugin itself, named as such
        raise PluginError(f"{kind} '{name}' failed while being checked: {type(err).__name__}: {err}") from err
    width = max(len(check) for check, _, _ in results)
    for check, passed, detail in results:
        print(f"  {'PASS' if passed else 'FAIL'}  {check:<{width}}  {detail}")
    failed = [check for check, passed, _ in results if not passed]
    print(f"{kind} '{name}': {len(results) - len(failed)}/{len(results)} checks passed")
    return not failed


def check_target(what: str, target: str, sets: list[str] | None = None) -> bool:
    """`python -m bench check WHAT TARGET`: a plugin's contract, or a record, dataset folder or suite that must
    load; prints what it found. False when a contract check fails (a bad file raises a BenchError)."""
    if what in ("tokenizer", "recommender"):
        from bench.config import apply_overrides, parse_set

        parsed = parse_set(sets or [])
        return run_checks(target, apply_overrides({}, parsed, {path[0]: None for path, _ in parsed}), what)
    if what == "record":
        from bench import records

        record, _ = records.read_verified(Path(target))
        print(f"{target}: valid record (schema v{record['schema_version']}, {record['system']}, "
              f"seed {record['seeds']['run']})")
    elif what == "dataset":
        from bench.data.stats import validation_summary

        print(validation_summary(target))
    else:
        from bench.suites import load_suite

        suite = load_suite(target)
        print(f"{target}: valid suite ({len(suite.tokenizers)} tokenizer(s), {len(suite.recommenders)} "
              f"recommender(s), seeds {list(suite.seeds)})")
    return True
