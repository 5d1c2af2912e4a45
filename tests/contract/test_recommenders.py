"""Every registered recommender passes the plugin contract (the checks of `python -m bench check recommender`),
and the contract catches a recommender that reaches for test targets."""

import numpy as np
import pytest

from bench import registry
from bench.checks import check_recommender
from bench.recommender import FitInfo, Recommender


@pytest.mark.parametrize("name", sorted(registry.available("recommenders")))
def test_recommender_contract(name):
    results = check_recommender(name)
    failed = [(check, detail) for check, passed, detail in results if not passed]
    assert not failed and len(results) >= 6


class _PeeksInFit(Recommender):
    """Popularity of the test targets: the leak the runner must make impossible."""

    def fit(self, split, sids, seed):
        self.ranking = np.argsort(-np.bincount(split.test.targets, minlength=split.n_items), kind="stable")
        return FitInfo()

    def recommend(self, examples, k):
        return np.broadcast_to(self.ranking[:k], (len(examples), k)).copy()


class _PeeksInRecommend(Recommender):
    """Puts each example's own target first."""

    def fit(self, split, sids, seed):
        self.n_items = split.n_items
        return FitInfo()

    def recommend(self, examples, k):
        rest = np.tile(np.arange(k, dtype=np.int64), (len(examples), 1))
        return np.concatenate([examples.targets[:, None].astype(np.int64), rest[:, :k - 1]], axis=1)


def test_a_recommender_that_reads_test_targets_in_fit_fails(registered):
    registered("recommenders", "peeks-in-fit", _PeeksInFit)
    results = dict((check, (passed, detail)) for check, passed, detail in check_recommender("peeks-in-fit"))
    passed, detail = results["fits without the test split"]
    assert not passed and "held by the runner" in detail


def test_a_recommender_that_reads_targets_in_recommend_gets_none(registered):
    registered("recommenders", "peeks-in-recommend", _PeeksInRecommend)
    results = dict((check, passed) for check, passed, _ in check_recommender("peeks-in-recommend"))
    assert not results["returns k distinct real items"]  # the targets it sees are -1, never the real ones


def test_documented_plugin_is_short_checked_and_run(tmp_path):
    import re

    from tests.conftest import REPO, run_cli

    text = (REPO / "docs" / "adding-a-recommender.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) < 40
    plugin = tmp_path / "markov.py"
    plugin.write_text(code)
    checked = run_cli("--plugin", str(plugin), "check", "recommender", "markov")
    assert checked.returncode == 0 and "7/7 checks passed" in checked.stdout, checked.stdout + checked.stderr
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndataset: tiny\nseeds: [0]\nrecommenders:\n  markov: {}\n  popularity: {}\n")
    ran = run_cli("--plugin", str(plugin), "run", "--suite", str(suite), "--budget", "smoke", "--device", "cpu",
                  "--results-dir", str(tmp_path / "results"))
    assert ran.returncode == 0, ran.stderr
    assert re.search(r"markov seed 0: test recall@5=0\.\d+", ran.stderr), ran.stderr
