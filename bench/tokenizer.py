"""The tokenizer contract: an item tokenizer maps every item to a short code sequence, its semantic ID.

```python
@register_tokenizer("rkmeans")
class ResidualKMeans(ItemTokenizer):
    version = 1                       # bump when the same config would give different IDs
    needs = ("text_embeddings",)      # what the runner computes and hands over (see FEATURES)

    @dataclass(frozen=True)
    class Config:
        levels: int = 3

    def fit(self, inputs: TokenizerInputs, seed: int) -> SIDTable: ...
```

`fit` sees only `TokenizerInputs`, never the split: collaborative inputs are built from the training part,
so a tokenizer cannot reach validation or test targets.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench import registry
from bench.errors import PluginError

@dataclass(frozen=True)
class FeatureSpec:
    """One input a tokenizer may declare in `needs`: what it is, the function that builds it, whether it is
    built from the training part only (tests/unit/test_features.py checks every such one), and what signal it
    carries: an item's content, who consumed what (collaborative), or how often (popularity). The leaderboard
    tells collaborative tokenizers from content-only ones by it."""

    doc: str
    builder: str              # "module:function(dataset, split, feature_config, device, cache) -> (value, info)"
    train_only: bool = False
    signal: str = "content"   # "content", "collaborative" or "popularity"

    def build(self, dataset, split, config, device: str, cache):
        import importlib

        module, _, function = self.builder.partition(":")  # imported on first use: `ls` never loads torch
        return getattr(importlib.import_module(module), function)(dataset, split, config, device, cache)


# Adding a feature: one entry here and its builder; nothing else changes.
FEATURES = {
    "titles": FeatureSpec("cleaned item titles (str per item; the item text where an item has no title)",
                          "bench.features.text:build_titles"),
    "text": FeatureSpec("item text from the protocol's template (title, brand, categories, price)",
                        "bench.features.text:build_text"),
    "text_embeddings": FeatureSpec("float32 [n_items, d] sentence embeddings of the item text",
                                   "bench.features.embeddings:build_text_embeddings"),
    "categories": FeatureSpec("category paths per item (tuple of tuples of str)",
                              "bench.features.text:build_categories"),
    "user_histories": FeatureSpec("training sequences per user (Histories: CSR offsets and items)",
                                  "bench.features.collaborative:build_user_histories", train_only=True,
                                  signal="collaborative"),
    "cooccurrence": FeatureSpec("int32 [n_pairs, 2] item pairs consumed close together by a user",
                                "bench.features.collaborative:build_cooccurrence", train_only=True,
                                signal="collaborative"),
    "train_item_counts": FeatureSpec("int32 [n_items] training interactions per item (0: no training sequence holds "
                                     "it, as for a cold item)", "bench.features.collaborative:build_train_item_counts",
                                     train_only=True, signal="popularity"),
    "cf_embeddings": FeatureSpec("float32 [n_items, d] collaborative item embeddings (SASRec on the training part)",
                                 "bench.features.cf_embeddings:build_cf_embeddings", train_only=True,
                                 signal="collaborative"),
}


@dataclass(frozen=True)
class Histories:
    """Each user's training sequence, CSR: items[offsets[r]:offsets[r + 1]] for row r, the dataset user
    `users[r]` (of `n_users`; users with no row have no training history)."""

    offsets: np.ndarray
    items: np.ndarray
    users: np.ndarray | None = None
    n_users: int = 0


class TokenizerInputs:
    """The item features a tokenizer declared in `needs`; asking for anything else is an error."""

    def __init__(self, n_items: int, **features: Any):
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise PluginError(f"unknown tokenizer input(s) {sorted(unknown)}; known: {sorted(FEATURES)}")
        self.n_items = n_items
        self._features = features

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        features = self.__dict__.get("_features", {})
        if name in features:
            return features[name]
        if name in FEATURES:
            raise PluginError(f"tokenizer input '{name}' was not declared: add it to the tokenizer's `needs`")
        raise AttributeError(name)

    @property
    def provided(self) -> tuple[str, ...]:
        return tuple(sorted(self._features))


@dataclass(frozen=True, eq=False)
class SIDTable:
    """Semantic IDs of every item: int codes [n_items, n_levels] and the vocabulary size of each level.

    Distinct items always have distinct rows. Fixed-length tables may end with a disambiguation level
    (`dedup`), added by the shared collision step. Variable-length tables (titles) pad every row with
    `end_code` after its last token, so no ID is a prefix of another.
    """

    codes: np.ndarray
    vocab_sizes: tuple[int, ...]
    end_code: int | None = None
    dedup: bool = False  # fixed length: last level disambiguates; variable: codes > end_code do
    collided_items: int = 0  # items sharing their semantic codes with another item before disambiguation
    # Optional user semantic IDs (DAS): codes [n_users, levels] per dataset user, users may share one;
    # a recommender may read them instead of a hashed user token
    user_codes: np.ndarray | None = None
    user_vocab_sizes: tuple[int, ...] = ()

    def __post_init__(self):
        raw = np.asarray(self.codes)
        if raw.dtype.kind == "f":  # whole floats are fine; never truncate silently
            if not np.isfinite(raw).all():
                raise PluginError("SIDTable: codes contain NaN or inf")
            if (raw != np.round(raw)).any():
                raise PluginError("SIDTable: codes must be integers, got fractional values")
        elif raw.dtype.kind not in "iu":
            raise PluginError(f"SIDTable: codes must be integers, got {raw.dtype}")
        if raw.size and not (raw.min() >= 0 and raw.max() < 2 ** 31):  # the int32 cast below would wrap them
            raise PluginError(f"SIDTable: codes must lie in [0, 2^31), got values in [{raw.min()}, {raw.max()}]")
        codes = np.ascontiguousarray(raw, dtype=np.int32)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in self.vocab_sizes))
        codes.setflags(write=False)
        if codes.ndim != 2 or codes.shape[1] != len(self.vocab_sizes) or codes.shape[1] == 0:
            raise PluginError(f"SIDTable: codes {codes.shape} do not match {len(self.vocab_sizes)} vocabulary sizes")
        low, high = codes.min(axis=0), codes.max(axis=0)
        for level, (lo, hi, size) in enumerate(zip(low, high, self.vocab_sizes)):
            if lo < 0 or hi >= size:
                raise PluginError(f"SIDTable: level {level} has codes in [{lo}, {hi}], outside [0, {size})")
        if self.end_code is not None:
            ended = codes == self.end_code
            if not ended[:, -1].all():
                raise PluginError("SIDTable: every variable-length row must end with the end code")
            first_end = ended.argmax(axis=1)
            after = np.arange(codes.shape[1])[None, :] >= first_end[:, None]
            if not (ended == after).all():
                raise PluginError("SIDTable: after the end code a row may hold only end codes")
        if len(np.unique(codes, axis=0)) != len(codes):
            raise PluginError("SIDTable: two items share a semantic ID; resolve collisions "
                              "(bench.quantize.collisions) before building the table")
        object.__setattr__(self, "user_vocab_sizes", tuple(int(v) for v in self.user_vocab_sizes))
        if self.user_codes is not None:
            raw_users = np.asarray(self.user_codes)
            if raw_users.size and not (raw_users.min() >= 0 and raw_users.max() < 2 ** 31):
                raise PluginError("SIDTable: user codes must lie in [0, 2^31)")
            users = np.ascontiguousarray(raw_users, dtype=np.int32)
            users.setflags(write=False)
            object.__setattr__(self, "user_codes", users)
            if users.ndim != 2 or users.shape[1] != len(self.user_vocab_sizes) or users.shape[1] == 0:
                raise PluginError(f"SIDTable: user codes {users.shape} do not match "
                                  f"{len(self.user_vocab_sizes)} user vocabulary sizes")
            if len(users) and ((users < 0).any() or (users >= np.array(self.user_vocab_sizes)).any()):
                raise PluginError(f"SIDTable: user codes outside their vocabularies {self.user_vocab_sizes}")
        elif self.user_vocab_sizes:
            raise PluginError("SIDTable: user vocabulary sizes without user codes")

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]

    @property
    def n_levels(self) -> int:
        return self.codes.shape[1]

    @property
    def variable_length(self) -> bool:
        return self.end_code is not None

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per ID, the end code included for variable-length tables."""
        if self.end_code is None:
            return np.full(self.n_items, self.n_levels, dtype=np.int32)
        return ((self.codes == self.end_code).argmax(axis=1) + 1).astype(np.int32)

    def semantic_codes(self) -> np.ndarray:
        """The codes without disambiguation: what the tokenizer itself produced."""
        if self.end_code is not None:
            return np.where(self.codes > self.end_code, self.end_code, self.codes) if self.dedup else self.codes
        return self.codes[:, :-1] if self.dedup else self.codes

    def semantic_groups(self) -> np.ndarray:
        """[n_items] the index of each item's semantic ID: colliding items (twins) share one."""
        return np.unique(self.semantic_codes(), axis=0, return_inverse=True)[1].reshape(-1)

    def prefix_groups(self) -> np.ndarray:
        """[n_items] the index of each item's ID less its last code: TIGER's retrieval prefix for unseen items
        (its first three of four codes). Fixed length: the first L-1 codes (the semantic codes where the last
        level disambiguates). Variable length: the tokens before the last one that precedes the end code."""
        if self.end_code is None:
            prefixes = self.codes[:, :-1]
        else:
            prefixes = self.codes.copy()
            prefixes[np.arange(self.n_items), self.lengths - 2] = self.end_code  # lengths count the end code
        return np.unique(prefixes, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int32)

    @property
    def has_user_ids(self) -> bool:
        return self.user_codes is not None

    def hash(self) -> str:
        digest = hashlib.sha256(self.codes.tobytes())
        digest.update(json.dumps(self._meta(), sort_keys=True).encode())
        if self.user_codes is not None:  # item-only tables keep the hash they always had
            digest.update(self.user_codes.tobytes())
        return digest.hexdigest()

    def _meta(self) -> dict:
        meta = {"vocab_sizes": list(self.vocab_sizes), "end_code": self.end_code, "dedup": self.dedup,
                "collided_items": self.collided_items, "format": 1}
        if self.user_codes is not None:
            meta["user_vocab_sizes"] = list(self.user_vocab_sizes)
        return meta

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        users = {} if self.user_codes is None else {"user_codes": self.user_codes}
        np.savez_compressed(buffer, codes=self.codes, meta=np.array(json.dumps(self._meta())), **users)
        return buffer.getvalue()

    def save(self, path: Path) -> None:
        from bench.io import atomic_write_bytes

        atomic_write_bytes(Path(path), self.to_bytes())

    @classmethod
    def load(cls, path_or_bytes) -> SIDTable:
        source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
        with np.load(source, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            codes = data["codes"]
            users = data["user_codes"] if "user_codes" in data.files else None
        return cls(codes=codes, vocab_sizes=tuple(meta["vocab_sizes"]), end_code=meta["end_code"],
                   dedup=meta["dedup"], collided_items=meta["collided_items"], user_codes=users,
                   user_vocab_sizes=tuple(meta.get("user_vocab_sizes", ())))

    def __eq__(self, other) -> bool:
        if not (isinstance(other, SIDTable) and self._meta() == other._meta()):
            return False
        same_users = (self.user_codes is None) == (other.user_codes is None) and (
            self.user_codes is None or np.array_equal(self.user_codes, other.user_codes))
        return same_users and np.array_equal(self.codes, other.codes)


class ItemTokenizer:
    name: ClassVar[str] = "?"
    version: ClassVar[int] = 1
    needs: ClassVar[tuple[str, ...]] = ()
    # Config overrides for `python -m bench check tokenizer` on its 300-item catalogue (e.g. fewer epochs).
    check_overrides: ClassVar[dict] = {}
    # What `python -m bench sweep` may tune, as for recommenders: {"codebook_size": ("choice", [128, 256])}
    search_space: ClassVar[dict[str, tuple]] = {}
    # False for a method with no randomness (title IDs): the contract check then wants the same IDs for
    # another seed; True: another seed must give other IDs (a seed that is silently ignored is a bug)
    seed_dependent: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Config:
        pass

    @classmethod
    def search_space_for(cls, config: "ItemTokenizer.Config") -> dict[str, tuple]:
        """What `sweep` tunes for this config (as for recommenders): `search_space` by default."""
        return cls.search_space

    def __init__(self, config: ItemTokenizer.Config, device: str = "cpu"):
        self.config = config
        self.device = device

    def fit(self, inputs: TokenizerInputs, seed: int) -> SIDTable:
        raise NotImplementedError

    def report(self) -> dict:
        """What fitting wants kept in the record (epochs, why training stopped, ...); JSON-serialisable."""
        return {}


def register_tokenizer(name: str):
    def decorate(cls):
        unknown = [n for n in getattr(cls, "needs", ()) if n not in FEATURES]
        if unknown:
            raise PluginError(f"tokenizer '{name}' needs unknown input(s) {unknown}; known: {sorted(FEATURES)}")
        return registry.register("tokenizers", name, cls)
    return decorate
