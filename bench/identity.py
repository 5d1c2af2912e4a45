"""What makes two runs "the same", defined once. The runner's run id, the SID-table cache key, the shared-table
fan-out and the leaderboard's choice of records all ask this module.

- A plugin's identity is its config as `bench.config.identity` gives it (a setting added later is left out at
  its default), with its plugin name and version.
- A SID table is the same when its tokenizer's identity, seed, catalogue size and input features are.
- A run is the same when its suite (name, version, budget), system, recommender and tokenizer identities, seed,
  data files and protocol are, plus the settings added later that change what runs, each entering only when it
  differs from the default that records made before it had (the selection metric, sampled decoding variants).
- A record counts for a leaderboard when its plugins are at their installed versions and its protocol and
  plugin settings are the suite's current ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench import registry
from bench.config import config_hash, identity, to_dict
from bench.errors import BenchError
from bench.protocol import recorded_split

if TYPE_CHECKING:
    from bench.suites import ResolvedPlugin, ResolvedSuite, ResolvedSystem

DEFAULT_SELECTION = "ndcg@10"  # records made before the setting existed selected on it


def plugin_hash(config) -> str:
    """The hash of a plugin config's identity (a record's `config_hash`)."""
    return config_hash(identity(config))


def protocol_hash(protocol) -> str:
    """The hash of a protocol's settings, as run ids and records carry it (`identity`: a protocol setting added
    later with a default that keeps the old behaviour leaves every run id as it was)."""
    return config_hash(identity(protocol))


def table_key(tokenizer: "ResolvedPlugin") -> tuple:
    """One SID table per (entry, settings, features): what the runner fits once before jobs fan out."""
    return tokenizer.entry, config_hash([identity(tokenizer.config), to_dict(tokenizer.features)])


def distinct_tables(resolved: "ResolvedSuite") -> list["ResolvedPlugin"]:
    """Each distinct (tokenizer entry, settings) the suite's systems use, once: the SID tables to fit."""
    seen: dict = {}
    for system in resolved.systems.values():
        if system.tokenizer is not None:
            seen.setdefault(table_key(system.tokenizer), system.tokenizer)
    return list(seen.values())


def table_cache_inputs(plugin: str, version: int, config, seed: int, n_items: int, feature_info: dict) -> dict:
    """What names a fitted SID table in the cache: a table fitted before a setting existed stays valid at its
    default."""
    inputs = {"plugin": plugin, "version": version, "config": identity(config), "seed": seed, "n_items": n_items,
              "features": {k: v["hash"] for k, v in feature_info.items()}}
    if "text_embeddings" in feature_info:
        inputs["text_model"] = feature_info["text_embeddings"]["model"]
    return inputs


def run_id(system: "ResolvedSystem", system_name: str, budget: str, seed: int, data_files: dict,
           protocol_hash: str, variants: dict) -> str:
    """A job's run id: two jobs with the same id would train and evaluate the same model the same way."""
    from bench import decoding

    suite, rec, tok = system.suite, system.recommender, system.tokenizer
    key = {"suite": [suite.name, suite.version, budget], "system": system_name,
           "recommender": [rec.plugin, rec.version, identity(rec.config)],
           "tokenizer": None if tok is None else [tok.plugin, tok.version, identity(tok.config), to_dict(tok.features)],
           "seed": seed, "data": data_files, "protocol": protocol_hash}
    if suite.selection_metric != DEFAULT_SELECTION:
        key["selection_metric"] = suite.selection_metric
    if rec.cls.needs:  # a recommender that reads item features: their settings (text model) make its run
        key["recommender_features"] = to_dict(suite.features)
    if variants:  # only systems that sample: every other id stays as it was
        key["decoding"] = decoding.identity(variants)
    return config_hash(key)


def superseded(record: dict) -> str | None:
    """Why a record's plugin version is not the installed one (None when it is, or the plugin is unknown)."""
    for kind, part in (("recommenders", "recommender"), ("tokenizers", "tokenizer")):
        info = record.get(part)
        if not info:
            continue
        plugin = info.get("plugin", info["name"])  # records before the suites' `plugin:` key name it alone
        try:
            current = registry.get(kind, plugin).version
        except BenchError:
            continue
        if info["version"] != current:
            return f"superseded: {part} '{plugin}' version {info['version']} (current {current})"
    return None


def other_settings(record: dict, resolved: "ResolvedSuite | None") -> str | None:
    """Why a record's settings are not the suite's current ones for its system (None when they are)."""
    if resolved is None or record["system"] not in resolved.systems:
        return f"'{record['system']}' is not a system of the suite at budget {record['suite']['budget']}"
    wanted = {**identity(resolved.suite.protocol), "selection_metric": resolved.suite.selection_metric}
    recorded = {key: record["protocol"].get(key, DEFAULT_SELECTION if key == "selection_metric" else None)
                for key in wanted if key != "split"}
    split = recorded_split(record["protocol"])
    if "split" in wanted or split:
        recorded["split"] = split
    if recorded != wanted:
        return f"protocol differs from the suite's ({', '.join(k for k in {**wanted, **recorded} if recorded.get(k) != wanted.get(k))})"
    system = resolved.systems[record["system"]]
    for part, plugin in (("recommender", system.recommender), ("tokenizer", system.tokenizer)):
        info = record.get(part)
        if plugin is not None and info and info["config_hash"] != plugin_hash(plugin.config):
            changed = sorted(_changed_keys(info["config"], identity(plugin.config)))
            return f"{part} settings differ from the suite's current ones ({', '.join(changed[:4]) or 'config'})"
    return None


def _changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in set(old) | set(new):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out
