"""Sampled decoding variants: how a suite asks every generative system for diverse lists as well as its beam.

TIGER (Rajput et al. 2023) trades accuracy for diversity by temperature sampling at decoding time. A suite
names a few settings; each generative run then also decodes test users by sampling (bench.seq2seq.beam.
sample_search: K distinct real items, one temperature per SID level), on the same trained model, so that one
training run gives an accuracy-vs-diversity curve. Each variant's ranked lists, metrics and seed go into the
record beside the beam's, which stays the headline.

```yaml
decoding:
  t1: {temperature: 1.0}          # every level at T = 1
  hybrid: {temperature: [2.0, 0.5]}  # level 1 at T = 2, deeper levels at 0.5 (the last value repeats)
```
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bench.errors import ConfigError, quote

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # one component of a side-file key: no '.'
MAX_TEMPERATURE = 100.0


@dataclass(frozen=True)
class Sampling:
    """Temperatures for SID levels 1, 2, ...; the last one holds for every deeper level."""

    temperature: tuple[float, ...] = (1.0,)

    def __post_init__(self):
        values = self.temperature if isinstance(self.temperature, (tuple, list)) else (self.temperature,)
        if not values:
            raise ConfigError("temperature: give at least one value")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 < value <= MAX_TEMPERATURE:
                raise ConfigError(f"temperature {quote(value)} must be a number in (0, {MAX_TEMPERATURE:g}]")
        object.__setattr__(self, "temperature", tuple(float(v) for v in values))

    def per_level(self, levels: int) -> tuple[float, ...]:
        """One temperature for each of `levels` SID levels."""
        return tuple(self.temperature[min(i, len(self.temperature) - 1)] for i in range(levels))

    def as_dict(self) -> dict:
        return {"temperature": list(self.temperature)}


def parse_variants(data, where: str = "decoding") -> dict[str, Sampling]:
    """A suite's `decoding:` mapping -> {name: Sampling}; names become side-file keys and table rows."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: map each variant's name to its settings, e.g. {{t1: {{temperature: 1.0}}}}")
    out = {}
    for name, settings in data.items():
        if not isinstance(name, str) or not NAME.fullmatch(name) or name == "beam":
            raise ConfigError(f"{where}: variant name {quote(name)} must be 1-40 lower-case letters, digits, '_' or "
                              "'-', starting with a letter or digit ('beam' is the default decoding's name)")
        if isinstance(settings, Sampling):
            out[name] = settings
            continue
        if not isinstance(settings, Mapping) or set(settings) - {"temperature"}:
            unknown = sorted(set(settings) - {"temperature"}) if isinstance(settings, Mapping) else settings
            raise ConfigError(f"{where}.{name}: expected {{temperature: T or [T1, T2, ...]}}, got {quote(unknown)}")
        try:
            out[name] = Sampling(**settings)
        except ConfigError as err:
            raise ConfigError(f"{where}.{name}.{err}") from None
    return out


def identity(variants: Mapping[str, Sampling]) -> dict:
    """What a run id sees of the variants (plain data, in the suite's order)."""
    return {name: variant.as_dict() for name, variant in variants.items()}


def variant_seed(run_seed: int, name: str) -> int:
    """A variant's own sampling seed: a function of the run's seed and the variant's name only, so adding a
    variant leaves every other variant's draws unchanged."""
    digest = hashlib.sha256(f"{run_seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
