"""The run record's types: one dataclass per part, from which bench/schema/record.schema.json is generated
(`python -m bench.record_types` rewrites it; a test checks the committed file is current).

Records stay plain JSON on disk; these types say what each part holds. `DecodingSetup` is what a generative
recommender reports about how it ranks (the leaderboard's setup column reads it, never raw keys).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

from bench.dataclass_schema import schema_of

# 2: ranked lists, targets, slices and item context in the side file; any registered metric (NAME@K) in the
# summaries, catalogue-level ones included. Version 1 records (recall and ndcg only) stay valid.
SCHEMA_VERSION = 2
HEX16 = {"pattern": "^[0-9a-f]{16}$"}
HEX64 = {"pattern": "^[0-9a-f]{64}$"}
VARIANT_NAME = {"pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"}
METRIC_NAME = {"propertyNames": {"pattern": "^[a-z_]+@[0-9]+$"},
               "additionalProperties": {"type": "number", "minimum": 0}}


def nonnegative(default: Any = MISSING, **extra) -> Any:
    return field(default=default, metadata={"schema": {"minimum": 0, **extra}})


@dataclass
class SuiteRef:
    name: str
    version: int
    budget: Literal["smoke", "cpu", "paper"]


@dataclass
class PluginRef:
    """A plugin as it ran: its entry name, plugin, version and resolved settings."""

    name: str = field(metadata={"schema": {"minLength": 1}})
    version: int = field(metadata={"schema": {"minimum": 1}})
    config: dict
    config_hash: str = field(metadata={"schema": HEX16})
    seed: int | None
    plugin: str = field(default="", metadata={"schema": {"minLength": 1}})
    source: str = ""
    tuned: str = ""  # the frozen sweep file whose settings it ran with
    features: dict = field(default_factory=dict)  # item features it read, each with its hash and text model
    open_schema = True


@dataclass
class Diagnostics:
    """SID diagnostics (bench.quantize.diagnostics): per-level usage, collisions before disambiguation, ..."""

    levels: list[dict]
    collided_share: float
    largest_bucket: int
    unique_prefixes: list
    open_schema = True


@dataclass
class TokenizerRef(PluginRef):
    """The SID table a generative run used, named by its content hash."""

    sid_table_hash: str = field(kw_only=True, metadata={"schema": HEX64})
    diagnostics: Diagnostics = field(kw_only=True)
    features: dict = field(kw_only=True)
    fit_s: float = nonnegative(0.0)
    fit_report: dict = field(default_factory=dict)


@dataclass
class Seeds:
    run: int
    tokenizer: int | None = None
    recommender: int | None = None


@dataclass
class DatasetInfo:
    name: str
    files: dict[str, str] = field(metadata={"schema": {"minProperties": 1, "additionalProperties": {
        "type": "string", **HEX64}}})
    users: int = field(metadata={"schema": {"minimum": 1}})
    items: int = field(metadata={"schema": {"minimum": 1}})
    interactions: int = field(metadata={"schema": {"minimum": 1}})
    order_source: Literal["seq_idx", "timestamp", "file order"]


@dataclass
class ColdSplit:
    """The cold_items split's settings and what it removed (bench.protocol.cold_items)."""

    cold_share: float
    cold_seed: int
    cold_items: int = nonnegative()
    test_target_items: int = nonnegative()
    removed_interactions: int = nonnegative()
    users_left_too_short: int = nonnegative()
    cold_test_users: int = nonnegative()
    warm_test_users: int = nonnegative()


@dataclass
class ProtocolInfo:
    split: str
    ranking: str
    max_history: int = field(metadata={"schema": {"minimum": 1}})
    cutoffs: list[int] = field(metadata={"schema": {"minItems": 1, "items": {"type": "integer", "minimum": 1}}})
    hash: str
    evaluated_users: int = field(metadata={"schema": {"minimum": 1}})
    train_examples: int = nonnegative()
    min_interactions: int = 0
    text_fields: list[str] = field(default_factory=list)
    dropped_users: int = 0
    selection_metric: str = "ndcg@10"
    cold: ColdSplit | None = None  # the cold_items split (absent: leave-one-out)


@dataclass
class DecodingSetup:
    """How a generative recommender ranks: what its encoder reads, the beam, and whether decoding is
    constrained to real items' IDs."""

    encoder_input: Literal["sid_tokens", "item_sum"]
    beam_size: int
    constrained: bool = True
    user_ids: Literal["hashed", "sids"] = "hashed"

    @classmethod
    def from_training(cls, training: dict) -> "DecodingSetup | None":
        """The setup a record's `training` part carries, or None for a system that does not decode."""
        if "encoder_input" not in training:
            return None
        return cls(**{f.name: training[f.name] for f in fields(cls) if f.name in training})


@dataclass
class Training:
    """What training reported (bench.recommender.FitInfo and the plugin's report). Open: a plugin may add
    its own keys (e.g. the best validation score under the selection metric's name)."""

    epochs: int = nonnegative()
    best_epoch: int | None = None
    steps: int = nonnegative(0)
    examples: int = nonnegative(0)
    train_minutes: float = nonnegative(0.0)
    examples_per_s: float = nonnegative(0.0)
    precision: Literal["bf16", "fp32"] = "fp32"
    parameters: int = nonnegative(0)
    curve: list[dict] = field(default_factory=list)
    model: str = ""
    invalid_id_share: float = nonnegative(0.0, maximum=1)
    encoder_input: Literal["sid_tokens", "item_sum"] = "sid_tokens"
    beam_size: int = field(default=1, metadata={"schema": {"minimum": 1}})
    constrained: bool = True
    user_ids: Literal["hashed", "sids"] = "hashed"
    open_schema = True


@dataclass
class Timing:
    fit_s: float = nonnegative()
    total_s: float = nonnegative()
    tokenizer_fit_s: float = nonnegative(0.0)
    valid_s: float = nonnegative(0.0)
    test_s: float = nonnegative(0.0)
    decoding_s: float = nonnegative(0.0)  # the suite's sampled decoding variants, all of them


@dataclass
class Metrics:
    """Validation and test means; sweep trials (validation is their objective) evaluate validation only."""

    valid: dict[str, float] = field(metadata={"schema": {"minProperties": 1, **METRIC_NAME}})
    test: dict[str, float] = field(default_factory=dict, metadata={"schema": {"minProperties": 1, **METRIC_NAME}})
    # generative systems: test metrics at ID level (a colliding twin counts), as papers' evaluators count
    test_id_level: dict[str, float] = field(default_factory=dict, metadata={"schema": METRIC_NAME})
    # cold_items split only: test metrics under TIGER's epsilon rule (bench.evidence.cap_cold), from the test lists
    test_cold_capped: dict[str, float] = field(default_factory=dict, metadata={"schema": METRIC_NAME})
    # cold_items split, generative systems: test metrics under TIGER's retrieval of unseen items by their ID's
    # prefix, then the epsilon rule (bench.evidence.retrieve_by_prefix)
    test_cold_prefix: dict[str, float] = field(default_factory=dict, metadata={"schema": METRIC_NAME})
    # the suite's sampled decoding variants: test metrics per variant, computed from their own lists
    decoding: dict[str, dict[str, float]] = field(default_factory=dict, metadata={"schema": {
        "propertyNames": VARIANT_NAME, "additionalProperties": {"type": "object", "minProperties": 1, **METRIC_NAME}}})


@dataclass
class PerUserRef:
    """The side file of per-user metrics that significance tests pair on, named and sha-checked."""

    file: str = field(metadata={"schema": {"pattern": "\\.npz$"}})
    sha256: str = field(metadata={"schema": HEX64})
    users: int = field(metadata={"schema": {"minimum": 1}})


@dataclass
class Provenance:
    bench_version: str
    git_sha: str | None
    git_dirty: bool | None
    python: str
    packages: dict
    device: str
    open_schema = True


@dataclass
class BeamFidelity:
    """Beam search against exact scoring of every item, on a fixed sample of test users."""

    users: int
    k: int
    same_top_k_share: float
    same_top_k_order_share: float
    mean_overlap: float
    seconds: float = 0.0
    open_schema = True  # exact_/beam_/_lost values per metric at K


@dataclass
class SampledDecoding:
    """How one sampled decoding variant ran: the suite's temperatures, those used per SID level, its seed."""

    temperature: list[float] = field(metadata={"schema": {"minItems": 1, "items": {"type": "number",
                                                                                   "exclusiveMinimum": 0}}})
    seed: int = field(metadata={"schema": {"minimum": 0}})
    seconds: float = nonnegative()
    temperatures: list[float] = field(default_factory=list)
    open_schema = True


@dataclass
class Record:
    """One record per (suite, budget, tokenizer, recommender, seed); per-user metrics live in the side file
    named by per_user.file."""

    schema_version: Literal[1, 2]
    run_id: str = field(metadata={"schema": HEX16})
    created_at: str = field(metadata={"schema": {"format": "date-time"}})
    suite: SuiteRef
    system: str = field(metadata={"schema": {"minLength": 1}})
    tokenizer: TokenizerRef | None
    recommender: PluginRef
    seeds: Seeds
    dataset: DatasetInfo
    protocol: ProtocolInfo
    training: Training
    timing: Timing
    metrics: Metrics
    per_user: PerUserRef
    provenance: Provenance
    beam_fidelity: BeamFidelity | None = None
    decoding: dict[str, SampledDecoding] = field(default_factory=dict, metadata={"schema": {
        "propertyNames": VARIANT_NAME}})


def record_schema() -> dict:
    return schema_of(Record, **{"$id": f"sid-bench/record/{SCHEMA_VERSION}", "title": "SID Bench run record"})


def schema_text() -> str:
    return json.dumps(record_schema(), indent=1) + "\n"


if __name__ == "__main__":  # python -m bench.record_types: rewrite the committed schema file
    from bench.paths import PACKAGE_DIR

    (PACKAGE_DIR / "schema" / "record.schema.json").write_text(schema_text())
    print("wrote bench/schema/record.schema.json")
