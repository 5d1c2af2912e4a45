"""The leaderboard on hand-made records with known per-user values: means, Δ, the paired test with Holm's
correction, the bootstrap interval, and which records it leaves out."""

import copy
import json
import math

import numpy as np
import pytest

from bench import records
from bench.leaderboard import build_tables
from bench.suites import load_suite
from tests.conftest import REPO

TEMPLATE = json.loads((REPO / "results/runs/tiny/smoke/popularity/seed0.json").read_text())
SUITE = """
name: hand
dataset: tiny
seeds: [0, 1]
reference: base
recommenders:
  base: {plugin: popularity}
  better: {plugin: popularity}
"""
# per user (4 users), seeds 0 and 1; hits at rank 1, so recall@k = ndcg@k = the same 0/1 value
HITS = {"base": ([0, 0, 0, 1], [0, 0, 0, 1]), "better": ([1, 0, 0, 1], [1, 0, 1, 1])}


def write(results, system, seed, hits, version=None, users=range(4)):
    record = copy.deepcopy(TEMPLATE)
    record["system"], record["seeds"] = system, {"run": seed, "tokenizer": None, "recommender": seed}
    record["suite"]["name"], record["recommender"]["name"] = "hand", system
    record["recommender"]["plugin"] = "popularity"
    if version is not None:
        record["recommender"]["version"] = version
    values = np.asarray(hits, dtype=np.float32)
    metrics = {m: float(values.mean()) for m in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")}
    record["metrics"] = {"valid": metrics, "test": metrics}
    record["per_user"] = {"users": 4}
    per_user = {"users": np.asarray(users, dtype=np.int32)}
    per_user.update({f"{part}.{m}": values for part in ("valid", "test") for m in metrics})
    records.write_run(records.record_path(results, "hand", "smoke", system, seed), record, per_user)


@pytest.fixture
def board(tmp_path):
    suite_file = tmp_path / "hand.yaml"
    suite_file.write_text(SUITE)
    for system, seeds in HITS.items():
        for seed, hits in enumerate(seeds):
            write(tmp_path, system, seed, hits)
    write(tmp_path, "better", 2, [1, 1, 1, 1], version=99)  # another plugin version: must not be averaged in
    markdown, table_csv, excluded = build_tables(load_suite(str(suite_file)), tmp_path, None)
    rows = {row.split(",")[1]: row.split(",") for row in table_csv.splitlines()[1:]}
    header = table_csv.splitlines()[0].split(",")
    return markdown, {name: dict(zip(header, row)) for name, row in rows.items()}, excluded


def t_cdf_df3(t: float) -> float:
    """Student's t CDF with 3 degrees of freedom, in closed form (independent of scipy)."""
    x = t / math.sqrt(3)
    return 0.5 + (x / (1 + x * x) + math.atan(x)) / math.pi


def test_means_and_spread_over_seeds(board):
    markdown, rows, _ = board
    assert float(rows["better"]["ndcg@10_mean"]) == pytest.approx(0.625)  # seeds .50 and .75
    assert float(rows["better"]["ndcg@10_std"]) == pytest.approx(0.25 / math.sqrt(2), abs=1e-6)
    assert rows["better"]["seeds"] == "2" and "| better " in markdown and "0.6250 ± 0.1768" in markdown
    assert float(rows["base"]["ndcg@10_mean"]) == pytest.approx(0.25)


def test_difference_paired_test_with_holm_and_interval(board):
    markdown, rows, _ = board
    # per-user means over seeds: better [1, 0, .5, 1], base [0, 0, 0, 1]; differences [1, 0, .5, 0]
    d = np.array([1.0, 0.0, 0.5, 0.0])
    t = d.mean() / (d.std(ddof=1) / 2)
    p = 2 * (1 - t_cdf_df3(t))
    assert float(rows["better"]["ndcg@10_diff"]) == pytest.approx(0.375)
    assert "+150.0%" in markdown  # relative Δ: .375 / .25
    # two comparisons (N@10, R@10) with equal raw p: Holm multiplies the smaller by 2, the larger by 1, then
    # enforces monotonicity, so both are 2p
    assert float(rows["better"]["ndcg@10_p_holm"]) == pytest.approx(2 * p, rel=1e-3)
    assert float(rows["better"]["recall@10_p_holm"]) == pytest.approx(2 * p, rel=1e-3)
    low, high = float(rows["better"]["ndcg@10_ci_low"]), float(rows["better"]["ndcg@10_ci_high"])
    assert 0.0 <= low < 0.375 < high <= 1.0  # a bootstrap of the mean of d stays inside [min d, max d]


def test_a_seed_of_another_plugin_version_is_left_out(board):
    markdown, rows, excluded = board
    assert [(p.name, reason) for p, reason in excluded] == [
        ("seed2.json", "superseded: recommender 'popularity' version 99 (current 1)")]
    assert rows["better"]["seeds"] == "2"


def test_other_settings_are_left_out_and_a_dirty_tree_is_marked(tmp_path):
    suite_file = tmp_path / "hand.yaml"
    suite_file.write_text(SUITE)
    write(tmp_path, "base", 0, [0, 0, 0, 1])
    write(tmp_path, "better", 0, [1, 0, 0, 1])
    path = records.record_path(tmp_path, "hand", "smoke", "better", 1)
    write(tmp_path, "better", 1, [1, 1, 1, 1])
    record = json.loads(path.read_text())  # the same seed made with a setting the suite no longer has
    record["recommender"]["config"], record["recommender"]["config_hash"] = {"top": 5}, "0123456789abcdef"
    path.write_text(json.dumps(record))
    dirty = records.record_path(tmp_path, "hand", "smoke", "base", 0)
    record = json.loads(dirty.read_text())
    record["provenance"]["git_dirty"] = True
    dirty.write_text(json.dumps(record))
    markdown, _, excluded = build_tables(load_suite(str(suite_file)), tmp_path, None)
    assert [(p.parent.name, p.name) for p, _ in excluded] == [("better", "seed1.json")]
    assert "settings differ from the suite's current ones (top)" in excluded[0][1]
    assert "| base † " in markdown and "uncommitted changes" in markdown


def test_time_by_stage_counts_each_shared_stage_once():
    from bench.leaderboard import time_by_stage

    def record(tokenizer, seed, fit, plugin="tiger", text_hash="t1"):
        timing = {"fit_s": fit, "valid_s": 1.0, "test_s": 2.0, "total_s": fit + 3.0}
        tok = None if tokenizer is None else {
            "name": tokenizer, "seed": seed, "fit_s": 100.0,
            "features": {"text_embeddings": {"hash": text_hash, "seconds": 0.1, "embed_seconds": 50.0}}}
        return {"timing": timing, "tokenizer": tok, "recommender": {"plugin": plugin}, "beam_fidelity": {"seconds": 4.0}}

    systems = {"rqvae+tiger": [record("rqvae", 0, 1000.0), record("rqvae", 1, 1000.0)],
               "rqvae+tiger-sid-tokens": [record("rqvae", 0, 3000.0)],  # the same table as the first record
               "title+tiger": [record("title", 0, 500.0, text_hash="t2")],
               "sasrec": [{**record(None, 0, 700.0, plugin="recbole"), "beam_fidelity": None}],
               # resumed before fit_s counted earlier processes: its training minutes hold the whole fit
               "random+tiger": [{**record("random", 0, 2.0), "training": {"train_minutes": 10.0}}]}
    stages = time_by_stage(systems)
    assert stages["SID fits"] == 400.0  # rqvae seeds 0 and 1, title seed 0, random seed 0
    assert stages["text embeddings"] == 100.0  # two distinct embeddings, 50 s each
    assert stages["generative training"] == 5500.0 + 600.0
    assert stages["generative evaluation"] == 5 * 7.0
    assert stages["RecBole training"] == 700.0 and stages["RecBole evaluation"] == 3.0


def test_published_rows_stand_beside_our_paired_system():
    from bench.leaderboard.published import published_table as _published_table
    from bench.suites import PublishedRow

    def record(seed, recall, ndcg):
        return {"seeds": {"run": seed}, "metrics": {"test": {"recall@10": recall, "ndcg@10": ndcg}}}

    systems = {"rqvae+tiger": [record(0, 0.06, 0.03), record(1, 0.07, 0.04)]}
    published = (PublishedRow("TIGER", "paper", {"recall@10": 0.065, "ndcg@10": 0.035}, "rqvae+tiger", "note"),
                 PublishedRow("RPG", "paper", {"recall@10": 0.08}),
                 PublishedRow("LETTER", "paper", {"ndcg@10": 0.036}, "letter+tiger"))
    lines = "\n".join(_published_table(published, systems, ["recall@10", "ndcg@10"])).splitlines()
    tiger, rpg, letter = (next(line for line in lines if line.startswith(f"| {name} ")) for name in
                          ("TIGER", "RPG", "LETTER"))
    assert "rqvae+tiger (2 seeds)" in tiger and "0.0650" in tiger and "100% / 100%" in tiger and "paper; note" in tiger
    assert "rqvae" not in rpg and "%" not in rpg  # nothing of ours to set beside it
    assert "letter+tiger (no record)" in letter
    assert _published_table((), systems, ["recall@10"]) == []


def test_a_variant_is_tested_against_the_system_it_changes_on_the_seeds_both_have(tmp_path):
    """An ablation entry (`plugin:` naming another entry's plugin) gets its own row against that system, on
    its own seeds only: seed 0 of the base here (N@10 .25), not the mean of its two seeds (.625)."""
    suite_file = tmp_path / "hand.yaml"
    suite_file.write_text("name: hand\ndataset: tiny\nseeds: [0, 1]\nreference: popularity\nrecommenders:\n"
                          "  popularity: {}\n  popularity-variant: {plugin: popularity, seeds: [0]}\n"
                          "  other: {plugin: popularity}\n")
    write(tmp_path, "popularity", 0, [0, 0, 0, 1])
    write(tmp_path, "popularity", 1, [1, 1, 1, 1])
    write(tmp_path, "popularity-variant", 0, [1, 0, 1, 1])
    write(tmp_path, "other", 0, [1, 1, 1, 1])
    markdown, _, _ = build_tables(load_suite(str(suite_file)), tmp_path, None)
    table = markdown.split("Variants against")[1].split("\n\n")[1].splitlines()[2:]
    rows = {cells[0]: cells for cells in ([cell.strip() for cell in line.strip("|").split("|")] for line in table)}
    assert set(rows) == {"popularity-variant", "other"}  # the base itself is no variant
    assert rows["popularity-variant"][:6] == ["popularity-variant", "popularity", "0", "0.7500", "0.2500", "+200.0%"]

    def p_of(d):  # two-sided paired t-test, 4 users
        return 2 * (1 - t_cdf_df3(d.mean() / (d.std(ddof=1) / 2)))

    p_variant, p_other = p_of(np.array([1.0, 0, 1, 0])), p_of(np.array([1.0, 1, 1, 0]))  # differences on seed 0
    # Holm over the table's four tests (two variants x N@10 and R@10, equal within a variant): sorted
    # p_other, p_other, p_variant, p_variant, multiplied by 4, 3, 2, 1 and made monotone
    assert float(rows["popularity-variant"][7]) == pytest.approx(max(4 * p_other, 2 * p_variant), rel=1e-3)
    assert rows["other"][:3] == ["other", "popularity", "0"]


def test_systems_evaluated_on_different_users_are_one_clear_error(tmp_path):
    from bench.errors import BenchError

    suite_file = tmp_path / "hand.yaml"
    suite_file.write_text(SUITE)
    write(tmp_path, "base", 0, [0, 0, 0, 1])
    write(tmp_path, "better", 0, [1, 0, 0, 1], users=[0, 1, 2, 5])  # another protocol's users
    with pytest.raises(BenchError, match="better and base were evaluated on different users"):
        build_tables(load_suite(str(suite_file)), tmp_path, None)


def test_the_leaderboard_stands_on_records_not_on_the_engine():
    """Issue 43.6: importing the leaderboard pulls in neither the runner, the tokenize command nor torch."""
    import subprocess
    import sys

    code = ("import sys, bench.leaderboard; print(sorted(m for m in sys.modules if m in "
            "('bench.runner', 'bench.tokenizing', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
