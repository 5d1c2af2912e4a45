"""The evaluation protocol: a split from the registry (`SPLITS`), truncated histories, sliding-window training
examples, item text.

Per user, items in chronological order (seq_idx when the file has it, else a stable sort by timestamp):
the last item is the test target, the second last the validation target, the rest is training. Every
prefix of a training sequence predicts its next item. Evaluation ranks all items (no sampled negatives,
no masking of history items) and is item level.

- `leave_one_out`: exactly that.
- `cold_items` (after TIGER's unseen items): a seeded share of the distinct test-target items is cold; every
  interaction with a cold item is removed from each user's sequence except where it is the user's test target,
  then leave-one-out as above. Cold items are never seen in training, validation or any history; their content
  (text) stays known, as it would be at inference. Users left too short are counted, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from bench.data import Dataset, ItemMeta
from bench.errors import ConfigError, DatasetError, LeakageError

TEXT_FIELDS = ("title", "brand", "categories", "price", "description")
PAD = -1


@dataclass(frozen=True)
class SplitConfig:
    """Which split of `SPLITS` and its settings (frozen per suite: every run and seed sees the same split)."""

    name: Literal["leave_one_out", "cold_items"] = "leave_one_out"
    cold_share: float = 0.05  # cold_items: the share of the distinct test-target items made cold (TIGER: 5%)
    cold_seed: int = 0  # cold_items: which ones; a setting of the split, never a run's seed

    def __post_init__(self):
        if not 0 < self.cold_share < 1:
            raise ConfigError(f"protocol.split.cold_share must lie in (0, 1), got {self.cold_share}")
        if self.name == "leave_one_out" and (self.cold_share, self.cold_seed) != (0.05, 0):
            raise ConfigError("protocol.split: cold_share and cold_seed are settings of the cold_items split; "
                              "set name: cold_items or leave them out")


@dataclass(frozen=True)
class ProtocolConfig:
    max_history: int = 20  # TIGER, LETTER, GRID use 20; RecBole defaults to 50
    min_interactions: int = 3  # users with fewer cannot give train + valid + test items and are left out
    cutoffs: tuple[int, ...] = (5, 10)
    text_fields: tuple[str, ...] = ("title", "brand", "categories", "price")  # TIGER's item text
    # added after the first records; at its default (leave-one-out) it leaves every run id as it was
    split: SplitConfig = field(default_factory=SplitConfig, metadata={"added": True})

    def __post_init__(self):
        if self.max_history < 1:
            raise ConfigError(f"protocol.max_history must be >= 1, got {self.max_history}")
        if self.min_interactions < 3:
            raise ConfigError("protocol.min_interactions must be >= 3 (one train, one valid, one test item)")
        if not self.cutoffs or min(self.cutoffs) < 1:
            raise ConfigError(f"protocol.cutoffs must be positive integers, got {list(self.cutoffs)}")
        unknown = [f for f in self.text_fields if f not in TEXT_FIELDS]
        if unknown:
            raise ConfigError(f"protocol.text_fields: unknown field(s) {unknown}; choose from {list(TEXT_FIELDS)}")


@dataclass(frozen=True)
class Examples:
    """Histories and their targets, one row per example; histories left-aligned, padded with -1."""

    users: np.ndarray  # int32 [n]
    history: np.ndarray  # int32 [n, max_history]
    lengths: np.ndarray  # int32 [n]
    targets: np.ndarray  # int32 [n]

    def __len__(self) -> int:
        return len(self.targets)

    def select(self, rows) -> "Examples":
        return Examples(self.users[rows], self.history[rows], self.lengths[rows], self.targets[rows])

    def without_targets(self) -> "Examples":
        """The same rows with every target replaced by -1: what `recommend` sees (the runner scores)."""
        return Examples(self.users, self.history, self.lengths, np.full_like(self.targets, PAD))


class HeldOut:
    """Where a recommender's split has its test part: the runner holds test targets, and any use of
    them during training is an error (Cornac's `fit(train_set, val_set)` never sees test either)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise LeakageError(f"the test split is held by the runner: a recommender's fit may use `train_*` and "
                           f"`valid`, never `test` (tried to read test.{name})")

    def __len__(self):
        raise LeakageError("the test split is held by the runner: a recommender's fit never sees it")

    def __reduce__(self):  # picklable for worker processes
        return (HeldOut, ())


@dataclass(frozen=True)
class Split:
    """Everything a recommender may learn from (`train_*`) and the two evaluation sets."""

    dataset: str
    n_items: int
    config: ProtocolConfig
    users: np.ndarray  # int32, evaluated users (dataset user indices)
    train_offsets: np.ndarray  # int64 [len(users) + 1], CSR over train_items
    train_items: np.ndarray  # int32, each evaluated user's training sequence
    train: Examples = field(repr=False)
    valid: Examples = field(repr=False)
    test: Examples = field(repr=False)  # a HeldOut inside a recommender's fit
    dropped_users: int = 0
    n_users: int = 0  # the dataset's users, evaluated or not (user indices run below it)
    cold_items: np.ndarray | None = field(default=None, repr=False)  # cold_items: sorted item indices
    cold_report: dict = field(default_factory=dict)  # cold_items: what was removed, and from whom

    @property
    def test_is_cold(self) -> np.ndarray:
        """bool [test users]: whose test target is a cold item (all False without cold items)."""
        if self.cold_items is None:
            return np.zeros(len(self.users), dtype=bool)
        return np.isin(self.test.targets if self.has_test else np.zeros(0, np.int32), self.cold_items)

    @property
    def has_test(self) -> bool:
        return not isinstance(self.test, HeldOut)

    def for_fit(self) -> "Split":
        """This split as a recommender's `fit` gets it: training and validation, test held out."""
        return replace(self, test=HeldOut())

    def train_sequence(self, row: int) -> np.ndarray:
        return self.train_items[self.train_offsets[row]:self.train_offsets[row + 1]]


def _windows(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """items[max(start, end - width):end] for each row, left-aligned into a [n, width] matrix padded with PAD."""
    begin = np.maximum(starts, ends - width)
    lengths = (ends - begin).astype(np.int32)
    index = begin[:, None] + np.arange(width)[None, :]
    inside = np.arange(width)[None, :] < lengths[:, None]
    history = np.where(inside, items[np.minimum(index, len(items) - 1)], PAD).astype(np.int32)
    return history, lengths


def make_split(dataset: Dataset, config: ProtocolConfig = ProtocolConfig()) -> Split:
    """The split that `config.split` names, from the registry."""
    return SPLITS[config.split.name](dataset, config)


def recorded_split(protocol_info: dict) -> dict | None:
    """The split settings a record's protocol section holds, as `protocol.split` would give them (None:
    leave-one-out, which records by leaving them out)."""
    cold = protocol_info.get("cold")
    return cold and {"name": "cold_items", "cold_share": cold["cold_share"], "cold_seed": cold["cold_seed"]}


def describe_split(split: Split) -> str:
    """How the split was made, in words, as records and leaderboards print it."""
    if split.config.split.name == "leave_one_out":
        return "leave-one-out (test = last item, validation = second last)"
    report = split.cold_report
    return (f"cold items: {report['cold_items']:,} of the {report['test_target_items']:,} distinct test-target items "
            f"({split.config.split.cold_share:.0%}, seed {split.config.split.cold_seed}) never seen in training, "
            f"validation or histories ({report['removed_interactions']:,} interactions removed); "
            f"{report['cold_test_users']:,} test users with a cold target; then leave-one-out")


def leave_one_out(dataset: Dataset, config: ProtocolConfig = ProtocolConfig()) -> Split:
    """Leave-one-out split with every-prefix training examples (vectorised; no per-user Python loop)."""
    lengths = dataset.sequence_lengths
    keep = np.flatnonzero(lengths >= config.min_interactions).astype(np.int32)
    if len(keep) == 0:
        raise DatasetError(f"{dataset.name}: no user has the {config.min_interactions} interactions that "
                           "leave-one-out needs (one train, one validation, one test item)")
    starts = dataset.user_offsets[keep]
    ends = dataset.user_offsets[keep + 1]
    n_train = (ends - starts - 2).astype(np.int64)
    width = config.max_history

    # Training sequences (all but the last two items) as their own CSR arrays.
    train_offsets = np.concatenate([[0], np.cumsum(n_train)]).astype(np.int64)
    gather = np.repeat(starts - train_offsets[:-1], n_train) + np.arange(train_offsets[-1])
    train_items = dataset.items[gather].astype(np.int32)

    # Training examples: for a training sequence t_0..t_{n-1}, each t_j (j >= 1) predicted from t_<j.
    per_user = np.maximum(n_train - 1, 0)
    row_user = np.repeat(np.arange(len(keep)), per_user)
    j = np.arange(per_user.sum()) - np.repeat(np.cumsum(per_user) - per_user, per_user) + 1
    ex_start = train_offsets[:-1][row_user]
    history, hist_len = _windows(train_items, ex_start, ex_start + j, width)
    train = Examples(keep[row_user], history, hist_len, train_items[ex_start + j])

    # Validation: history = training sequence; test: history = training sequence + validation item.
    v_hist, v_len = _windows(dataset.items, starts, ends - 2, width)
    valid = Examples(keep.copy(), v_hist, v_len, dataset.items[ends - 2].astype(np.int32))
    t_hist, t_len = _windows(dataset.items, starts, ends - 1, width)
    test = Examples(keep.copy(), t_hist, t_len, dataset.items[ends - 1].astype(np.int32))

    for examples in (train, valid, test):
        for array in (examples.users, examples.history, examples.lengths, examples.targets):
            array.setflags(write=False)
    return Split(dataset=dataset.name, n_items=dataset.n_items, config=config, users=keep,
                 train_offsets=train_offsets, train_items=train_items, train=train, valid=valid, test=test,
                 dropped_users=int(len(lengths) - len(keep)), n_users=int(len(lengths)))


def _format_field(meta: ItemMeta, name: str) -> str | None:
    value = getattr(meta, name)
    if name == "categories":
        return " | ".join(" > ".join(path) for path in value) or None
    if name == "price":
        return None if value is None else f"${value:.2f}"
    return value


def item_text(meta: ItemMeta | None, fields: tuple[str, ...] = ProtocolConfig.text_fields) -> str:
    """'Title: ...; Brand: ...; Categories: A > B; Price: $5.04' over the fields an item has (entities decoded)."""
    if meta is None:
        return ""
    parts = []
    for name in fields:
        value = _format_field(meta, name)
        if value:
            parts.append(f"{name.capitalize()}: {value}")
    return "; ".join(parts)


def cold_items(dataset: Dataset, config: ProtocolConfig) -> Split:
    """TIGER's unseen-item protocol: a seeded share of the distinct test-target items is cold; each user's
    sequence loses every cold item except a cold test target, then leave-one-out. A user whose sequence falls
    below `min_interactions` is left out and counted (`cold_report['users_left_too_short']`)."""
    lengths = dataset.sequence_lengths
    eligible = np.flatnonzero(lengths >= config.min_interactions)
    last = dataset.items[dataset.user_offsets[eligible + 1] - 1]
    targets = np.unique(last)
    rng = np.random.default_rng(config.split.cold_seed)
    n_cold = max(1, int(round(config.split.cold_share * len(targets))))
    cold = np.sort(rng.choice(targets, n_cold, replace=False)).astype(np.int32)
    is_last = np.zeros(len(dataset.items), dtype=bool)
    is_last[dataset.user_offsets[1:][lengths > 0] - 1] = True
    keep = ~np.isin(dataset.items, cold) | is_last
    owner = np.repeat(np.arange(dataset.n_users), lengths)
    counts = np.bincount(owner[keep], minlength=dataset.n_users)
    filtered = replace(dataset, items=dataset.items[keep], user_offsets=np.concatenate([[0], np.cumsum(counts)]),
                       timestamps=None if dataset.timestamps is None else dataset.timestamps[keep])
    split = leave_one_out(filtered, config)
    too_short = int(((lengths >= config.min_interactions) & (counts < config.min_interactions)).sum())
    test_cold = np.isin(split.test.targets, cold)
    report = {"cold_items": int(len(cold)), "test_target_items": int(len(targets)),
              "removed_interactions": int((~keep).sum()), "users_left_too_short": too_short,
              "cold_test_users": int(test_cold.sum()), "warm_test_users": int((~test_cold).sum())}
    cold.setflags(write=False)
    return replace(split, dataset=dataset.name, cold_items=cold, cold_report=report)


SPLITS = {"leave_one_out": leave_one_out, "cold_items": cold_items}
