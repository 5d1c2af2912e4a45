"""JSON Schema from dataclasses: the record's types are written once, as Python, and its schema follows.

A field's type gives its JSON type (int, float, str, bool, dict, list[X], X | None, Literal[...], a nested
dataclass); a field without a default is required; `field(metadata={"schema": {...}})` adds constraints
(minimum, pattern, ...). A dataclass is a closed object unless its `open_schema` class attribute is True.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

PRIMITIVES = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
              bool: {"type": "boolean"}, dict: {"type": "object"}, list: {"type": "array"}, Any: {}}


def _nullable(schema: dict) -> dict:
    if "type" in schema and "$ref" not in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*kinds, "null"]}
    return {"oneOf": [{"type": "null"}, schema]}


def type_schema(hint, defs: dict) -> dict:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in PRIMITIVES:
        return dict(PRIMITIVES[hint])
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = type_schema(rest[0], defs) if len(rest) == 1 else {"anyOf": [type_schema(a, defs) for a in rest]}
        return _nullable(inner) if type(None) in args else inner
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (list, tuple):
        return {"type": "array", **({"items": type_schema(args[0], defs)} if args else {})}
    if origin is dict:
        return {"type": "object", **({"additionalProperties": type_schema(args[1], defs)} if args else {})}
    if dataclasses.is_dataclass(hint):
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}  # placeholder: a dataclass may refer to itself
            defs[hint.__name__] = object_schema(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    raise TypeError(f"no JSON Schema for {hint!r}")


def object_schema(cls, defs: dict) -> dict:
    hints = typing.get_type_hints(cls)
    properties, required = {}, []
    for f in dataclasses.fields(cls):
        schema = {**type_schema(hints[f.name], defs), **f.metadata.get("schema", {})}
        properties[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    out = {"type": "object", "required": required, "properties": properties}
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    if not getattr(cls, "open_schema", False):
        out["additionalProperties"] = False
    return out


def schema_of(cls, **top: Any) -> dict:
    """The JSON Schema (draft 2020-12) of a dataclass, nested dataclasses under $defs."""
    defs: dict = {}
    body = object_schema(cls, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **top, **body, "$defs": defs}
