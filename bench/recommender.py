"""The recommender contract: `fit(split, sids, seed)`, then `recommend(examples, k)` -> item indices.

`fit` gets the training part and validation (`split.test` is held by the runner: reading it raises), and
`recommend` gets histories without targets; the runner scores validation and test itself.

A recommender is one plugin file in `recommenders/` with a frozen `Config` dataclass. Generative
recommenders declare `uses_sids = True` and are trained once per tokenizer; the rest run once per seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench import registry
from bench.protocol import Examples, Split

if TYPE_CHECKING:
    from bench.decoding import Sampling
    from bench.record_types import DecodingSetup


@dataclass(frozen=True)
class RunContext:
    """What the runner hands a plugin besides data: where to compute, where to keep checkpoints, the budget."""

    device: str = "cpu"
    budget: str = "smoke"
    work_dir: str | None = None  # checkpoints of this run (resume after a kill)
    threads: int = 1
    on_eval: Callable[[int, float], None] | None = None  # (epoch, validation score): sweeps prune with it
    selection_metric: str = "ndcg@10"  # the validation metric early stopping watches (the suite's)
    inputs: Any = None  # the item features the class declares in `needs` (bench.tokenizer.FEATURES), built by the runner


@dataclass(frozen=True)
class Ranked:
    """What `recommend` may return instead of a bare array: the items and what the record should keep about
    this very call (e.g. the share of invalid IDs a free-running decoder produced). Carried with the value,
    never left on the recommender, so nothing depends on which call came last."""

    items: np.ndarray
    info: dict = field(default_factory=dict)


def unpack(result) -> tuple[np.ndarray, dict]:
    """(items, info) from what `recommend` returned (a Ranked or a plain array)."""
    return (result.items, dict(result.info)) if isinstance(result, Ranked) else (result, {})


@dataclass
class FitInfo:
    """What training reports back for the record."""

    epochs: int = 0
    best_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Wall seconds of the whole fit where the plugin keeps count across a resume (in its checkpoint): a run
    # killed and resumed then records the time of all its processes, not only the last one's.
    seconds: float | None = None


class Recommender:
    name: ClassVar[str] = "?"
    version: ClassVar[int] = 1  # bump when the same config would give different recommendations
    uses_sids: ClassVar[bool] = False
    # item features it reads (bench.tokenizer.FEATURES, e.g. text_embeddings), in `self.context.inputs`;
    # collaborative ones are built from the training part only, as for tokenizers
    needs: ClassVar[tuple[str, ...]] = ()
    # What `python -m bench sweep` may tune: {"train.lr": ("log", 1e-4, 1e-2), "model.d_model": ("choice", [64, 128])}
    search_space: ClassVar[dict[str, tuple]] = {}
    # Validation epochs a sweep's median pruner only records: early scores rank learning rates (how fast a
    # trial starts), not settings. With 1, a SASRec sweep pruned 7 of 12 trials after 1-2 of ~25 epochs.
    prune_after_epochs: ClassVar[int] = 3
    # settings that make `python -m bench check recommender` quick on its 120-item catalogue
    check_overrides: ClassVar[dict] = {}

    @dataclass(frozen=True)
    class Config:
        pass

    @classmethod
    def search_space_for(cls, config: "Recommender.Config") -> dict[str, tuple]:
        """What `sweep` tunes for this config: `search_space`, unless what can be tuned depends on the
        config (a RecBole model's own dropout names, say)."""
        return cls.search_space

    @classmethod
    def settings_in_effect(cls, config: "Recommender.Config") -> dict:
        """The config as a dict, with any settings it leaves to a library's defaults filled in: where a
        sweep's first trial (the suite's own setting) reads its values."""
        from bench.config import to_dict

        return to_dict(config)

    @classmethod
    def check_settings(cls, config: "Recommender.Config", cutoffs: tuple[int, ...]) -> None:
        """Raise ConfigError when these settings cannot serve the protocol's cutoffs (e.g. a beam narrower than
        the largest K). The runner calls it for every job before any work, `--dry-run` included."""

    @classmethod
    def can_sample(cls, config: "Recommender.Config") -> bool:
        """Whether `sample` works with these settings: a suite's `decoding:` variants are run for the
        systems that can (and enter only their run ids)."""
        return False

    @classmethod
    def list_capacity(cls, config: "Recommender.Config") -> int | None:
        """The longest ranked list these settings can give (a beam search: its width); None: any length. The
        runner keeps each user's list of up to 20 items as evidence (bench.evidence)."""
        return None

    def __init__(self, config: "Recommender.Config", context: RunContext = RunContext()):
        self.config = config
        self.context = context

    def fit(self, split: Split, sids: Any, seed: int) -> FitInfo:
        """Train on `split.train` / `split.train_items` (early stopping may use `split.valid`)."""
        raise NotImplementedError

    def recommend(self, examples: Examples, k: int) -> "np.ndarray | Ranked":
        """Top-k distinct item indices per example row, best first: int array [len(examples), k], or a
        `Ranked` holding that array and what the record should keep about this call."""
        raise NotImplementedError

    def sample(self, examples: Examples, k: int, sampling: "Sampling", seed: int) -> "np.ndarray | Ranked":
        """k distinct items per row drawn from the model's distribution at the variant's temperatures
        (`sampling.per_level(levels)`), seeded: a suite's sampled decoding variants (bench.decoding). Asked
        only where `can_sample`; a `Ranked` result's info should say the temperatures used per level."""
        raise NotImplementedError

    def exact_top_k(self, examples: Examples, k: int) -> np.ndarray | None:
        """The exact top-k by scoring every item, for recommenders whose `recommend` is a heuristic search
        (beam search); None for those that rank exactly. The runner compares both on a fixed user sample."""
        return None

    def report(self) -> "dict | DecodingSetup":
        """Fixed facts the record should keep about the fitted model: a function of config and training only,
        never of which `recommend` call came last (that goes in `Ranked.info`). A generative recommender
        returns its `bench.record_types.DecodingSetup` (the leaderboard's setup column reads it)."""
        return {}


def report_dict(report) -> dict:
    """A recommender's report as the record keeps it (a DecodingSetup becomes its fields)."""
    import dataclasses

    return dataclasses.asdict(report) if dataclasses.is_dataclass(report) else dict(report)


def register_recommender(name: str):
    def decorate(cls):
        from bench.errors import PluginError
        from bench.tokenizer import FEATURES

        unknown = [n for n in getattr(cls, "needs", ()) if n not in FEATURES]
        if unknown:
            raise PluginError(f"recommender '{name}' needs unknown input(s) {unknown}; known: {sorted(FEATURES)}")
        return registry.register("recommenders", name, cls)
    return decorate
