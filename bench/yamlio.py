"""Reading suite, tuned and `--set` YAML as plain data, bounded: the one door every YAML input comes through.

PyYAML's safe loader still lets a small file do harm or mean two things: a key written twice keeps the last
value without a word, an alias bomb of under 1 KB expands to billions of nodes when anything walks it, and
dates, sets and bytes arrive as Python objects that the strict config layer then trips over. Here a key may
appear once, aliases may expand to at most MAX_NODES nodes, dates stay the strings they are written as, and
only JSON's types (mappings, lists, strings, numbers, booleans, null) are accepted, each refusal naming the
file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import ConfigError, quote

MAX_BYTES = 1 << 20     # a suite is a few KB; a megabyte is no suite
MAX_NODES = 100_000     # after alias expansion (amazon-beauty.yaml: about 1,000)
# JSON's types, and the merge key `<<` (explicit keys after it override what it merges, as YAML says)
PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null", "merge")}


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: `2026-01-01` is a string, as JSON would have it."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _check_node(node: yaml.Node, where: str) -> None:
    """Plain tags only, no key twice in one mapping, and at most MAX_NODES nodes once aliases are expanded
    (counted on the node graph with memoisation, so counting a bomb costs as little as reading it)."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if depth > 100:
            raise ConfigError(f"{where}:{n.start_mark.line + 1}: nested more than 100 levels deep")
        if n.tag not in PLAIN_TAGS:
            raise ConfigError(f"{where}:{n.start_mark.line + 1}: the tag {quote(n.tag)} is not allowed; a suite "
                              "holds only mappings, lists, strings, numbers, booleans and null")
        total = 1
        if isinstance(n, yaml.MappingNode):
            seen: dict = {}
            for key, value in n.value:
                label = key.value if isinstance(key, yaml.ScalarNode) else id(key)
                if label in seen:
                    raise ConfigError(f"{where}:{key.start_mark.line + 1}: the key {quote(label)} appears twice "
                                      f"in one mapping (first on line {seen[label]}); keep one")
                seen[label] = key.start_mark.line + 1
                total += size(key, depth + 1) + size(value, depth + 1)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in n.value)
        if total > MAX_NODES:
            raise ConfigError(f"{where}:{n.start_mark.line + 1}: expands to more than {MAX_NODES:,} values "
                              "(aliases that repeat aliases?); a suite is far smaller")
        sizes[id(n)] = total
        return total

    size(node, 0)


def parse_yaml(text: str, where: str) -> Any:
    """`text` as plain data, or a ConfigError naming `where` and the line."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text):,} characters; YAML inputs here are at most {MAX_BYTES:,}")
    try:
        node = yaml.compose(text, Loader=_PlainLoader)
        if node is None:
            return None
        _check_node(node, where)
        loader = _PlainLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}{line}: not valid YAML ({quote(problem, 200)})") from None


def read_yaml(path: Path) -> Any:
    """A YAML file as plain data; unreadable, oversized, non-UTF-8 or unsafe files get a ConfigError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; YAML inputs here are at most {MAX_BYTES:,}")
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the file ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[err.start]:02x}); save the file as "
                          "UTF-8") from None
    return parse_yaml(text, str(path))
