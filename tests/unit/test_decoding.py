"""Sampled decoding variants (bench.decoding): what a suite may declare, and how each variant is seeded."""

import pytest

from bench.decoding import Sampling, parse_variants, variant_seed
from bench.errors import ConfigError


def test_variants_parse_scalars_and_lists_and_repeat_the_last_temperature():
    variants = parse_variants({"t1": {"temperature": 1}, "hybrid": {"temperature": [2.0, 0.5]}})
    assert list(variants) == ["t1", "hybrid"]
    assert variants["t1"].per_level(3) == (1.0, 1.0, 1.0)
    assert variants["hybrid"].per_level(4) == (2.0, 0.5, 0.5, 0.5)
    assert variants["hybrid"].per_level(1) == (2.0,)
    assert parse_variants(None) == {}


@pytest.mark.parametrize("data, message", [
    ({"T1": {"temperature": 1.0}}, "variant name"),            # upper case
    ({"a.b": {"temperature": 1.0}}, "variant name"),           # a '.' would split the side file's keys
    ({"beam": {"temperature": 1.0}}, "variant name"),          # the default decoding's name
    ({"t1": {"temperature": 0}}, r"must be a number in \(0"),
    ({"t1": {"temperature": -1.0}}, r"must be a number in \(0"),
    ({"t1": {"temperature": float("nan")}}, r"must be a number in \(0"),
    ({"t1": {"temperature": []}}, "at least one value"),
    ({"t1": {"temperature": "hot"}}, r"must be a number in \(0"),
    ({"t1": {"temperature": True}}, r"must be a number in \(0"),
    ({"t1": {"temprature": 1.0}}, "expected {temperature"),
    ([1.0, 2.0], "map each variant's name"),
])
def test_bad_variants_are_refused_with_where_and_why(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_variants(data)


def test_each_variant_has_its_own_seed_from_the_run_seed_and_its_name():
    assert variant_seed(0, "t1") == variant_seed(0, "t1")
    assert len({variant_seed(seed, name) for seed in (0, 1, 2) for name in ("t1", "t2", "hybrid")}) == 9
    assert 0 <= variant_seed(2 ** 32 - 1, "t1") < 2 ** 31


def test_a_sampling_setting_is_frozen_plain_data():
    sampling = Sampling(temperature=(1.5, 1))
    assert sampling.temperature == (1.5, 1.0) and sampling.as_dict() == {"temperature": [1.5, 1.0]}
    with pytest.raises(AttributeError):
        sampling.temperature = (2.0,)
