from dataclasses import dataclass

import re

import pytest

from bench.config import build, config_hash, parse_set
from bench.errors import BenchError, ConfigError
from bench.suites import load_suite, resolve


@dataclass(frozen=True)
class Inner:
    rate: float = 0.1
    layers: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    steps: int = 3
    flag: bool = False
    inner: Inner = Inner()
    optional: int | None = None


def test_build_coerces_and_nests():
    config = build(Outer, {"steps": 5, "inner": {"rate": 1, "layers": [4]}, "optional": 2})
    assert config == Outer(steps=5, inner=Inner(rate=1.0, layers=(4,)), optional=2)


@pytest.mark.parametrize("values, message", [
    ({"stpes": 1}, "unknown setting 'stpes' (did you mean 'steps'?)"),
    ({"inner": {"rte": 1}}, "unknown setting 'inner.rte' (did you mean 'rate'?)"),
    ({"steps": "many"}, "steps: expected an integer"),
    ({"steps": True}, "steps: expected an integer"),
    ({"flag": "yes"}, "flag: expected true or false"),
    ({"inner": {"layers": ["a"]}}, "inner.layers[0]: expected an integer"),
    ({"optional": "z"}, "optional: expected an integer"),
])
def test_strict_errors(values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(Outer, values)


def test_parse_set():
    assert parse_set(["a.b=3", "c=[1, 2]", "d=text", "e=true"]) == [
        (["a", "b"], 3), (["c"], [1, 2]), (["d"], "text"), (["e"], True)]
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set(["novalue"])


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_suite_overrides_and_strictness():
    suite = load_suite("tiny", parse_set(["protocol.max_history=50", "seeds=[7]"]))
    assert suite.protocol.max_history == 50 and suite.seeds == (7,)
    with pytest.raises(ConfigError, match="did you mean 'max_history'"):
        load_suite("tiny", parse_set(["protocol.max_histroy=5"]))
    with pytest.raises(ConfigError, match="did you mean 'protocol'"):
        load_suite("tiny", parse_set(["protocl.max_history=5"]))
    with pytest.raises(ConfigError, match="unknown suite 'tinny' \\(did you mean 'tiny'\\?\\)"):
        load_suite("tinny")


def test_suite_rejects_unknown_plugins_settings_and_budgets(tmp_path):
    base = "name: t\ndataset: tiny\nrecommenders:\n"
    cases = {
        "  populrity: {}\n": "unknown recommender 'populrity' (did you mean 'popularity'?)",
        "  popularity: {config: {depth: 3}}\n": "unknown setting 'recommenders.popularity.config.depth'",
        "  popularity: {budgets: {fast: {}}}\n": "unknown budget 'fast'",
        "  popularity: {}\nreference: populariti\n": "did you mean 'popularity'",
        "  popularity: {}\npublished: [{name: P, source: S, pairs_with: populariti}]\n":
            "published[0] (P): pairs_with 'populariti' is not a system of this suite (did you mean 'popularity'?)",
        "  popularity: {}\npublished: [{name: P, source: S, metrics: {recall@50: 0.1}}]\n": "published[0] (P):",
        "  popularity: {}\npublished: [{name: P, source: S, metrics: {hits@10: 0.1}}]\n": "published[0] (P):",
    }
    for body, message in cases.items():
        path = tmp_path / "s.yaml"
        path.write_text(base + body)
        with pytest.raises(BenchError, match=re.escape(message)):
            load_suite(str(path))


def test_resolved_suite_lists_full_plugin_configs():
    data = resolve(load_suite("amazon-beauty"), "cpu").as_dict()
    assert data["budget"] == "cpu" and data["protocol"]["max_history"] == 20
    assert set(data["systems"]) >= {"popularity", "random", "rqvae+tiger", "rqvae+tiger-sid-tokens"}
    assert "rkmeans+tiger-sid-tokens" not in data["systems"]  # the ablation runs on rqvae only
    tiger = data["systems"]["rqvae+tiger"]["recommender"]
    assert tiger["plugin"] == "tiger" and tiger["train"]["max_steps"] == 6600 and tiger["encoder_input"] == "item_sum"
    assert data["systems"]["rqvae+tiger-sid-tokens"]["recommender"]["encoder_input"] == "sid_tokens"


def test_a_setting_added_later_keeps_old_run_ids_at_its_default():
    from dataclasses import field

    from bench.config import identity

    @dataclass(frozen=True)
    class Inner:
        width: int = 4
        fresh: bool = field(default=False, metadata={"added": True})

    @dataclass(frozen=True)
    class Outer:
        inner: Inner = Inner()
        rate: float = 0.1

    assert identity(Outer()) == {"inner": {"width": 4}, "rate": 0.1}  # as records made before `fresh` saw it
    assert identity(Outer(Inner(fresh=True))) == {"inner": {"width": 4, "fresh": True}, "rate": 0.1}


def test_a_tokenizer_can_have_its_own_feature_settings(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndataset: tiny\nfeatures: {cf_dim: 32}\ntokenizers:\n  rkmeans: {}\n"
                    "  rkmeans-wide: {plugin: rkmeans, features: {cf_dim: 64, text_model: other-model}}\n"
                    "recommenders:\n  tiger: {}\n")
    resolved = resolve(load_suite(str(path)), "smoke")
    assert resolved.system("rkmeans", "tiger").tokenizer.features.cf_dim == 32
    wide = resolved.system("rkmeans-wide", "tiger").tokenizer.features
    assert (wide.cf_dim, wide.text_model) == (64, "other-model")
    from bench.identity import distinct_tables

    assert len(distinct_tables(resolved)) == 2
    path.write_text(path.read_text().replace("cf_dim: 64", "cf_dims: 64"))
    with pytest.raises(BenchError, match="tokenizers.rkmeans-wide.features.cf_dims"):
        resolve(load_suite(str(path)), "smoke")


def test_set_beats_a_frozen_sweep_result_which_beats_the_budget(monkeypatch, tmp_path):
    import os

    tuned = tmp_path / "tuned" / "tiny" / "random+tiger.smoke.yaml"
    tuned.parent.mkdir(parents=True)
    tuned.write_text("overrides: {recommender: {train: {lr: 0.005, max_steps: 7}}}\n")
    monkeypatch.setenv("SID_BENCH_TUNED", str(tmp_path / "tuned"))
    plain = resolve(load_suite("tiny"), "smoke").system("random", "tiger")
    assert (plain.recommender.config.train.lr, plain.recommender.config.train.max_steps) == (0.005, 7)
    assert plain.tuned and plain.tuned.endswith("random+tiger.smoke.yaml") and os.path.isfile(tuned)
    forced = resolve(load_suite("tiny", parse_set(["recommenders.tiger.budgets.smoke.train.lr=0.007"])), "smoke")
    train = forced.system("random", "tiger").recommender.config.train
    assert (train.lr, train.max_steps) == (0.007, 7)  # --set wins on its key, the tuned file keeps the rest
    assert forced.system("rqvae", "tiger").recommender.config.train.lr == 0.007  # and reaches every system


def test_an_entry_may_keep_some_of_the_suites_seeds():
    from bench.plan import RunOptions, plan

    suite = load_suite("amazon-beauty")
    jobs = plan(suite, RunOptions(tokenizers=("plum", "plum-no-cooccurrence"), recommenders=("tiger",)))
    assert sorted((j.tokenizer, j.seed) for j in jobs) == [("plum", 0), ("plum", 1), ("plum", 2),
                                                           ("plum-no-cooccurrence", 0)]
    ablation = plan(suite, RunOptions(tokenizers=("rqvae",), recommenders=("tiger-sid-tokens",)))
    assert [j.seed for j in ablation] == [0]
    with pytest.raises(ConfigError, match="nothing to run"):  # seed 1 asked of a seed-0-only entry
        plan(suite, RunOptions(tokenizers=("rqvae",), recommenders=("tiger-sid-tokens",), seeds=(1,)))


def test_the_torch_range_is_pyprojects_and_refuses_what_cannot_run():
    """Issue 42: the install takes a range (a preinstalled CUDA torch in it is kept); the code knows the same
    range, refuses an older torch with the fix, and warns on a newer one."""
    from bench.device import TORCH_BEYOND, TORCH_OLDEST, check_torch
    from tests.conftest import REPO

    oldest, beyond = (".".join(map(str, v)) for v in (TORCH_OLDEST, TORCH_BEYOND))
    assert re.findall(r'"(torch[^"]*)"', (REPO / "pyproject.toml").read_text()) == [f"torch>={oldest},<{beyond}"]
    assert check_torch("2.13.0+cpu") is None and check_torch("2.11.0+cu130") is None and check_torch("2.4.0") is None
    with pytest.raises(ConfigError, match=r"older than 2.4.*install torch>=2.4,<2.14"):
        check_torch("2.3.1+cu121")
    assert "newer than the tested range" in check_torch("2.14.1")
    import torch

    assert check_torch(torch.__version__) is None  # the torch this test runs on is in the range


def test_a_suite_that_includes_another_resolves_as_its_long_form(tmp_path):
    """amazon-toys is amazon-beauty less its ablations, on another dataset: the include form resolves to the
    very configurations that the long form (Beauty's file edited by hand) gives."""
    import yaml

    from bench.config import identity
    from bench.suites import suite_dir

    beauty = yaml.safe_load((suite_dir() / "amazon-beauty.yaml").read_text())
    long_form = dict(beauty, name="amazon-toys", description="long form", dataset="amazon-toys",
                     tokenizers={k: beauty["tokenizers"][k] for k in ("random", "title", "rkmeans", "rkmeans-balanced",
                                                                       "rqvae", "letter", "plum", "das")},
                     recommenders={k: beauty["recommenders"][k] for k in ("popularity", "random", "sasrec", "bert4rec",
                                                                           "gru4rec", "tiger")},
                     published=[])
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(long_form, sort_keys=False))
    included, written = load_suite("amazon-toys"), load_suite(str(path))
    assert included.dataset == "amazon-toys" and included.protocol == written.protocol
    assert included.published and included.published[0].metrics["recall@10"] == 0.0712
    for budget in ("smoke", "cpu"):
        a, b = resolve(included, budget), resolve(written, budget)
        assert list(a.systems) == list(b.systems) and len(a.systems) == 13
        for name, system in a.systems.items():
            other = b.systems[name]
            assert identity(system.recommender.config) == identity(other.recommender.config), name
            if system.tokenizer:
                assert identity(system.tokenizer.config) == identity(other.tokenizer.config), name
                assert system.tokenizer.features == other.tokenizer.features, name


def test_include_errors_say_where(tmp_path):
    (tmp_path / "a.yaml").write_text("include: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("include: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_suite(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("include: amazon-beauty\nname: c\ntokenizers: [rqvae, rqvea]\n")
    with pytest.raises(ConfigError, match=re.escape("['rqvea'] not in the included suite amazon-beauty.yaml "
                                                    "(did you mean 'rqvae'?)")):
        load_suite(str(tmp_path / "c.yaml"))
    (tmp_path / "d.yaml").write_text("include: amazon-beuaty\nname: d\n")
    with pytest.raises(ConfigError, match="did you mean 'amazon-beauty'"):
        load_suite(str(tmp_path / "d.yaml"))
    (tmp_path / "e.yaml").write_text("include: amazon-beauty\nname: e\nseeds: [0]\nprotocol: {max_history: 50}\n")
    merged = load_suite(str(tmp_path / "e.yaml"))  # mappings merge key by key, the rest is replaced
    assert merged.seeds == (0,) and merged.protocol.max_history == 50 and merged.protocol.cutoffs == (5, 10)
