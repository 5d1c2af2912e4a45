"""Every registered tokenizer passes the plugin contract (the checks of `python -m bench check tokenizer`)."""

import re

import numpy as np
import pytest

from bench import registry
from bench.cache import Cache
from bench.checks import check_tokenizer
from bench.tokenizer import ItemTokenizer
from tests.conftest import REPO, run_cli


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return Cache(tmp_path_factory.mktemp("features"))  # one embedding model load for the whole module


SLOW_CONTRACTS = ("das", "letter")  # 27 s and 12 s here: outside the quick loop, inside CI


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CONTRACTS else n
                                  for n in sorted(registry.available("tokenizers"))])
def test_tokenizer_contract(name, shared_cache):
    results = check_tokenizer(name, cache=shared_cache)
    failed = [(check, detail) for check, passed, detail in results if not passed]
    assert not failed and len(results) >= 7


def test_balanced_rkmeans_contract(shared_cache):
    results = check_tokenizer("rkmeans", {"balanced": True, "codebook_size": 16}, cache=shared_cache)
    assert all(passed for _, passed, _ in results)


def doc_plugin() -> str:
    text = (REPO / "docs" / "adding-a-tokenizer.md").read_text()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


@pytest.mark.slow
def test_documented_plugin_is_short_found_checked_and_run(tmp_path):
    code = doc_plugin()
    assert len(code.strip().splitlines()) < 40
    plugin = tmp_path / "lsh.py"
    plugin.write_text(code)
    listed = run_cli("--plugin", str(plugin), "ls", "tokenizers")
    assert listed.returncode == 0 and "lsh" in listed.stdout, listed.stderr
    checked = run_cli("--plugin", str(plugin), "check", "tokenizer", "lsh")
    assert checked.returncode == 0 and "9/9 checks passed" in checked.stdout, checked.stdout + checked.stderr
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndataset: tiny\ntokenizers:\n  lsh: {config: {bits: 4}}\nrecommenders:\n"
                     "  popularity: {}\n")
    fitted = run_cli("--plugin", str(plugin), "tokenize", "--suite", str(suite), "--device", "cpu")
    assert fitted.returncode == 0, fitted.stderr
    assert re.search(r"\| lsh\s+\| 0\s+\| 3", fitted.stdout), fitted.stdout


def test_a_failing_plugin_is_reported_not_hidden(tmp_path):
    plugin = tmp_path / "dup.py"
    plugin.write_text(
        "import numpy as np\nfrom bench.tokenizer import ItemTokenizer, SIDTable, register_tokenizer\n"
        "@register_tokenizer('all-same')\nclass AllSame(ItemTokenizer):\n"
        "    def fit(self, inputs, seed):\n        return SIDTable(np.zeros((inputs.n_items, 2)), (1, 1))\n")
    result = run_cli("--plugin", str(plugin), "check", "tokenizer", "all-same")
    assert result.returncode == 1 and "Traceback" not in result.stderr  # a failed check, not a crash
    assert "FAIL  returns a valid SIDTable" in result.stdout and "share a semantic ID" in result.stdout


@pytest.mark.parametrize("body, message", [
    ("return [[0]] * inputs.n_items", "tokenizer 'bad' returned list, not a SIDTable"),
    ("return SIDTable(np.arange(5)[:, None], (5,))", "tokenizer 'bad' gave 5 IDs for 120 items"),
    ("return SIDTable(np.arange(inputs.n_items)[:, None] / 2, (inputs.n_items,))",
     "tokenizer 'bad': SIDTable: codes must be integers, got fractional values"),
])
def test_a_broken_plugin_is_one_clear_error_in_tokenize(tmp_path, body, message):
    plugin = tmp_path / "bad.py"
    plugin.write_text("import numpy as np\nfrom bench.tokenizer import ItemTokenizer, SIDTable, register_tokenizer\n"
                      "@register_tokenizer('bad')\nclass Bad(ItemTokenizer):\n"
                      f"    def fit(self, inputs, seed):\n        {body}\n")
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndataset: tiny\nseeds: [0]\ntokenizers:\n  bad: {}\nrecommenders:\n  popularity: {}\n")
    result = run_cli("--plugin", str(plugin), "tokenize", "--suite", str(suite), "--results-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


class _Repeats(ItemTokenizer):
    """Two items share an ID: the contract must say so (not crash the check)."""

    def fit(self, inputs, seed):
        from bench.tokenizer import SIDTable

        codes = np.arange(inputs.n_items)[:, None] % 100
        return SIDTable(codes, (inputs.n_items,))


class _IgnoresSeed(_Repeats):
    """Claims to be seeded, but the seed changes nothing."""

    search_space = {"levels": ("int", 1, 4)}  # and tunes a setting it does not have

    def fit(self, inputs, seed):
        from bench.tokenizer import SIDTable

        return SIDTable(np.arange(inputs.n_items)[:, None], (inputs.n_items,))


def test_the_contract_reports_what_a_broken_tokenizer_does(registered):
    registered("tokenizers", "repeats", _Repeats)
    results = {check: (passed, detail) for check, passed, detail in check_tokenizer("repeats")}
    passed, detail = results["returns a valid SIDTable (codes in range, rows unique)"]
    assert not passed and "share a semantic ID" in detail
    registered("tokenizers", "ignores-seed", _IgnoresSeed)
    results = {check: passed for check, passed, _ in check_tokenizer("ignores-seed")}
    assert not results["the seed matters as declared"] and not results["search_space keys are settings"]
    assert results["returns a valid SIDTable (codes in range, rows unique)"]


class _CountsEverything(ItemTokenizer):
    """Deliberately leaky: codes from every interaction of the dataset, the cold items' and test's included."""

    needs = ("leaky_counts",)
    seed_dependent = False

    def fit(self, inputs, seed):
        from bench.quantize.collisions import disambiguate

        counts = np.asarray(inputs.leaky_counts)
        return disambiguate(np.stack([np.minimum(counts, 15), counts % 7], axis=1), (16, 7))


def _leaky_counts(dataset, split, config, device, cache):
    return np.bincount(dataset.items, minlength=dataset.n_items), {}


def test_a_tokenizer_that_reads_a_cold_items_interactions_fails_the_contract(registered, monkeypatch):
    """The cold-items case of the contract catches a plugin whose input comes from the whole dataset rather than
    the split's training part (here through a feature built from `dataset.items`)."""
    from bench import tokenizer as tokenizer_module
    from bench.tokenizer import FeatureSpec

    monkeypatch.setitem(tokenizer_module.FEATURES, "leaky_counts", FeatureSpec(
        "every interaction, test and cold items too", f"{__name__}:_leaky_counts", train_only=True))
    registered("tokenizers", "counts-everything", _CountsEverything)
    results = {check: passed for check, passed, _ in check_tokenizer("counts-everything")}
    assert results["cold items: a valid, unique ID for every item"]
    assert not results["a cold item's interactions change nothing"]
    assert not results["no access to validation or test interactions"]
