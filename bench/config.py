"""Strict configuration: frozen dataclasses are the schema; YAML and `--set a.b=c` only override them.

Unknown keys and wrong types raise a ConfigError that names the full key and suggests the closest valid one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from typing import Any, Mapping

from bench.errors import ConfigError, did_you_mean, quote
from bench.yamlio import parse_yaml


def parse_set(assignments: list[str]) -> list[tuple[list[str], Any]]:
    """['a.b=3', 'c=[1, 2]'] -> [(['a', 'b'], 3), (['c'], [1, 2])]; values are parsed as YAML."""
    parsed = []
    for text in assignments or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. protocol.max_history=50), got {quote(text)}")
        parsed_value = parse_yaml(value, f"--set {quote(text)}") if value.strip() else ""
        parsed.append((key.strip().split("."), parsed_value))
    return parsed


def comma_list(kind):
    """An argparse type: comma-separated values, each once, in the order given (`--seeds 0,0` is one seed)."""
    return lambda text: tuple(dict.fromkeys(kind(part.strip()) for part in text.split(",") if part.strip()))


def seed_value(text: str) -> int:
    """An argparse type: a seed that numpy, torch and RecBole all accept."""
    import argparse

    if not (text.isdigit() and int(text) < 2 ** 32):
        raise argparse.ArgumentTypeError(f"seed {quote(text)} must be an integer in [0, 2^32)")
    return int(text)


def apply_overrides(tree: dict, overrides: list[tuple[list[str], Any]], valid: Mapping[str, Any]) -> dict:
    """Set each dotted key in a nested dict; the first path segment must be a key of `valid`."""
    tree = json.loads(json.dumps(tree))  # deep copy of plain data
    for path, value in overrides:
        if path[0] not in valid:
            raise ConfigError(f"--set: unknown key '{path[0]}'{did_you_mean(path[0], valid)}")
        node = tree
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set: '{'.'.join(path[:i + 1])}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return tree


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, where: str):
    """Check `value` against the annotation `tp`, converting lists to tuples and ints to floats."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {quote(value)}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {quote(value)} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            value = [value]  # a scalar where a list is expected: a list of one
        args = typing.get_args(tp)
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {quote(value)}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {quote(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {quote(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {quote(value)}")
        if not math.isfinite(value):  # .inf or .nan would train on NaN losses
            raise ConfigError(f"{where}: expected a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {quote(value)}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {quote(value)}")
    return value


def build(cls, values: Mapping[str, Any] | None, where: str = ""):
    """Instantiate dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    values = {} if values is None else values
    if dataclasses.is_dataclass(values) and isinstance(values, cls):
        return values
    prefix = f"{where}." if where else ""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of settings, got {quote(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in values:
        if key not in fields:
            raise ConfigError(f"unknown setting '{prefix}{key}'{did_you_mean(str(key), fields)}")
    kwargs = {key: _coerce(value, hints[key], f"{prefix}{key}") for key, value in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where or cls.__name__}: {err}") from None


def to_dict(config) -> dict:
    """A dataclass as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=list))


def identity(config) -> dict:
    """A config as its run id sees it: `to_dict`, less any field marked `metadata={"added": True}` that holds
    its default. A setting added later whose default keeps the old behaviour thus leaves the ids (and the
    validity) of records made before it existed unchanged; set to anything else, it enters the id."""
    out = to_dict(config)

    def strip(node, values):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if f.metadata.get("added") and value == default:
                values.pop(f.name, None)
            elif dataclasses.is_dataclass(value):
                strip(value, values[f.name])
    strip(config, out)
    return out


def config_hash(data: Any) -> str:
    """Stable short hash of plain data (sorted keys), for cache keys and record ids."""
    if dataclasses.is_dataclass(data):
        data = to_dict(data)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
