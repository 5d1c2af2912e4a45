"""Issue 37: every YAML input (suites, tuned files, --set values) is read as plain, bounded data."""

import pytest
import yaml

from bench.errors import ConfigError
from bench.suites import available_suites
from bench.yamlio import parse_yaml


@pytest.mark.parametrize("name", sorted(available_suites()))
def test_the_shipped_suites_read_as_pyyaml_reads_them(name):
    path = available_suites()[name]
    assert parse_yaml(path.read_text(), str(path)) == yaml.safe_load(path.read_text())


def test_merge_keys_and_aliases_still_work_and_explicit_keys_win():
    data = parse_yaml("base: &b {lr: 1, steps: 2}\nrun: {<<: *b, lr: 3}\n", "f")
    assert data["run"] == {"lr": 3, "steps": 2}


def test_dates_stay_strings():
    assert parse_yaml("when: 2026-12-06\n", "f") == {"when": "2026-12-06"}


@pytest.mark.parametrize("text, message", [
    ("a: 1\nb: {c: 1, c: 2}\n", "f:2: the key 'c' appears twice"),
    ("a: !!python/tuple [1, 2]\n", "tag 'tag:yaml.org,2002:python/tuple' is not allowed"),
    ("a: !!timestamp 2026-12-06\n", "tag 'tag:yaml.org,2002:timestamp' is not allowed"),
    ("a: [" * 150 + "]" * 150 + "\n", "nested more than 100 levels deep"),
    ("a: {\n", "f:2: not valid YAML"),
])
def test_what_is_refused_names_the_line(text, message):
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "f")
    assert message in str(info.value)
