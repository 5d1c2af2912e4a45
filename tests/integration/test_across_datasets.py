"""The cross-dataset leaderboard: per-dataset ranks, Kendall's τ between datasets, mean rank, a figure; from the
records alone, and checked byte for byte as every leaderboard."""

import math

import pytest

from bench.leaderboard.across import agreement, judge_of, ranks, shared_ranks
from bench.suites import load_suite
from tests.conftest import run_cli


def test_ranks_and_kendalls_tau():
    assert ranks({"a": 0.3, "b": 0.1, "c": 0.3}) == {"a": 1.5, "b": 3.0, "c": 1.5}
    n, tau, p = agreement({"a": 3, "b": 2, "c": 1, "d": 0}, {"a": 30, "b": 20, "c": 10, "d": 0, "e": 5})
    assert n == 4 and tau == pytest.approx(1.0) and p == pytest.approx(2 / 24)  # exact: 1 of 24 orders each way
    n, tau, _ = agreement({"a": 3, "b": 2, "c": 1}, {"a": 1, "b": 2, "c": 3})
    assert tau == pytest.approx(-1.0)
    assert math.isnan(agreement({"a": 1, "b": 2}, {"a": 1, "b": 2})[1])  # two systems: no τ
    assert judge_of(load_suite("amazon-beauty")) == "tiger"  # not an ablation entry that pairs with a few
    # ranks count only the systems every dataset has: c, missing on y, would push b down on x alone
    assert shared_ranks({"x": {"a": 3, "b": 1, "c": 2}, "y": {"a": 1, "b": 2}}) == {"x": {"a": 1, "b": 2},
                                                                                    "y": {"a": 2, "b": 1}}


@pytest.mark.slow
def test_two_suites_give_a_cross_dataset_table(tmp_path):
    other = tmp_path / "tiny-other.yaml"
    other.write_text("include: tiny\nname: tiny-other\nseeds: [5]\n")
    for suite in ("tiny", str(other)):
        result = run_cli("run", "--suite", suite, "--budget", "smoke", "--device", "cpu", "--seeds",
                         "0" if suite == "tiny" else "5", "--recommenders", "popularity,random,tiger",
                         "--tokenizers", "random,title,rqvae", "--results-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
    board = run_cli("leaderboard", "--suite", f"tiny,{other}", "--results-dir", str(tmp_path))
    assert board.returncode == 0, board.stderr
    text = (tmp_path / "leaderboards" / "tiny+tiny-other.md").read_text()
    assert "## Budget `smoke`" in text and "### Tokenizers through `tiger`: rank per dataset" in text
    assert "| tiny vs tiny-other " in text and "Kendall τ" in text
    for system in ("popularity", "random", "random+tiger", "title+tiger", "rqvae+tiger"):
        assert f"| {system} " in text
    assert (tmp_path / "leaderboards" / "tiny+tiny-other.smoke.tiny-vs-tiny-other.png").stat().st_size > 1000
    check = run_cli("leaderboard", "--suite", f"tiny,{other}", "--results-dir", str(tmp_path), "--check")
    assert check.returncode == 0, check.stderr
    (tmp_path / "leaderboards" / "tiny+tiny-other.md").write_text(text.replace("tiger", "tigre", 1))
    stale = run_cli("leaderboard", "--suite", f"tiny,{other}", "--results-dir", str(tmp_path), "--check")
    assert stale.returncode != 0 and "differs from the records" in stale.stderr
