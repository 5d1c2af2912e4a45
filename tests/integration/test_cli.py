"""The command line as a user meets it: help with examples, clear errors, never a bare traceback."""

import re

import pytest

from tests.conftest import REPO, run_cli


@pytest.mark.parametrize("command", ["run", "sweep", "data", "ls", "leaderboard", "check", "tokenize", "perf"])
def test_every_command_has_help_with_examples(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "examples:" in result.stdout


def test_malformed_dataset_folder_gets_all_its_problems():
    result = run_cli("data", "validate", "tests/fixtures/broken-dataset")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "interactions.csv:3: unparsable timestamp 'yesterday'" in result.stderr
    assert "interactions.csv:4: duplicate interaction (user 'u1', item 'i1'), first on line 2" in result.stderr
    assert "interactions.csv:5: 2 field(s), the header has 3" in result.stderr
    assert "items.jsonl:5: invalid JSON" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "--suite", "tinny"], "unknown suite 'tinny' (did you mean 'tiny'?)"),
    (["run", "--suite", "tiny", "--recommenders", "populartiy"], "did you mean 'popularity'?"),
    (["run", "--suite", "tiny", "--set", "protocol.cutofs=[5]"], "did you mean 'cutoffs'?"),
    (["run", "--suite", "tiny", "--budget", "huge"], "--budget must be auto or one of smoke, cpu, paper"),
    (["run", "--suite", "tiny", "--dataset-path", "no/such/folder"], "not a folder"),
    (["data", "stats", "amazon-beuty"], "did you mean 'amazon-beauty'?"),
    (["--plugin", "no/such/plugin.py", "ls", "recommenders"], "plugin file not found"),
    (["check", "record", "README.md"], "cannot read the record"),
    (["run", "--suite", "tiny", "--recommenders", "popularity", "--set", "protocol.cutoffs=[10,200]"],
     "K = 200 exceeds the 120 items of tiny"),
    (["run", "--suite", "tiny", "--seeds", "-1"], "seed '-1' must be an integer in [0, 2^32)"),
    (["run", "--suite", "tiny", "--seeds", str(2 ** 64)], "must be an integer in [0, 2^32)"),
    (["run", "--suite", "tiny", "--seeds", "0, x"], "seed 'x' must be an integer"),
])
def test_errors_are_one_clear_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_unwritable_results_folder_is_found_before_any_work(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--recommenders", "popularity", "--results-dir",
                     str(blocked / "results"))
    assert result.returncode == 2 and "the results folder" in result.stderr and "cannot be written" in result.stderr
    assert "Traceback" not in result.stderr and "data: loading" not in result.stderr


def test_a_repeated_seed_plans_its_jobs_once():
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--recommenders", "popularity", "--seeds", "0,0",
                     "--dry-run")
    assert result.returncode == 0 and result.stdout.count("popularity seed 0") == 1, result.stdout


def test_dry_run_prints_resolved_config_and_jobs():
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--set", "protocol.max_history=7", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "max_history: 7" in result.stdout and "budget: smoke" in result.stdout
    assert "jobs (12, under " in result.stdout and "random seed 1" in result.stdout and "title+tiger seed 0" in result.stdout


def test_data_stats_amazon_beauty():
    result = run_cli("data", "stats", "amazon-beauty")
    assert result.returncode == 0, result.stderr
    for figure in ("22,363", "12,101", "198,502", "mean 8.88", "title 99.9%"):
        assert figure in result.stdout


def test_user_dataset_runs_through_the_same_suite(tmp_path):
    from bench.data.synthetic import write_synthetic

    folder = write_synthetic(tmp_path / "my-shop", n_users=40, n_items=30)
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--dataset-path", str(folder),
                     "--recommenders", "popularity", "--seeds", "0")
    assert result.returncode == 0, result.stderr
    assert "40 users, 30 items" in result.stderr
    assert re.search(r"runs/tiny@my-shop-[0-9a-f]{8}\b", result.stdout)
    board = run_cli("leaderboard", "--suite", "tiny", "--dataset-path", str(folder))  # issue 18.8
    assert board.returncode == 0, board.stderr
    assert "# Leaderboard: tiny@my-shop-" in board.stdout and "| popularity " in board.stdout
    assert "40 users, 30 items" in board.stdout
    check = run_cli("leaderboard", "--suite", "tiny", "--dataset-path", str(folder), "--check")
    assert check.returncode == 0, check.stderr


def test_a_recbole_atomic_folder_runs_with_no_conversion_step(tmp_path):
    """ml-100k as the RecBole wheel ships it (NAME.inter, NAME.item, and files we do not read) runs popularity."""
    from tests.unit.test_atomic_files import ml_100k

    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--dataset-path", str(ml_100k()),
                     "--recommenders", "popularity", "--seeds", "0", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "943 users, 1,682 items, 100,000 interactions" in result.stderr
    assert "RecBole atomic files; each user's order: timestamp" in result.stderr
    assert re.search(r"popularity seed 0: test recall@5=0\.0\d+", result.stderr)


def readme_plugin() -> str:
    text = (REPO / "README.md").read_text()
    return re.search(r"```python\n(from dataclasses import dataclass.*?)```", text, re.S).group(1)


def test_readme_plugin_example_is_found_checked_and_run(tmp_path):
    plugin = tmp_path / "last_item_popular.py"
    plugin.write_text(readme_plugin())
    listed = run_cli("--plugin", str(plugin), "ls", "recommenders")
    assert listed.returncode == 0 and "last-item-popular" in listed.stdout
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndataset: tiny\nseeds: [0]\nrecommenders:\n  last-item-popular: {config: {pool: 30}}\n")
    ran = run_cli("--plugin", str(plugin), "run", "--suite", str(suite), "--budget", "smoke", "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    suite.write_text("name: s\ndataset: tiny\nrecommenders:\n  last-item-popular: {config: {pol: 30}}\n")
    bad = run_cli("--plugin", str(plugin), "run", "--suite", str(suite))
    assert bad.returncode == 2 and "did you mean 'pool'?" in bad.stderr


def test_perf_data_writes_a_report(tmp_path):
    result = run_cli("perf", "data", "--dataset", "tiny", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "perf" / "data.json").is_file() and "metrics_users_per_s" in result.stdout


@pytest.mark.slow
def test_other_cutoffs_and_selection_metric_run_through_the_leaderboard(tmp_path):
    sets = ["--set", "protocol.cutoffs=[10, 20]", "--set", "selection_metric=recall@20"]
    ran = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--seeds", "0", "--recommenders", "popularity,random",
                  "--results-dir", str(tmp_path), *sets)
    assert ran.returncode == 0, ran.stderr
    board = run_cli("leaderboard", "--suite", "tiny", "--results-dir", str(tmp_path), *sets)
    assert board.returncode == 0, board.stderr
    assert "| R@10 " in board.stdout and "| N@20 " in board.stdout and "R@5" not in board.stdout
    assert "Δ R@20 vs popularity" in board.stdout and "in R@20" in board.stdout
    plain = run_cli("leaderboard", "--suite", "tiny", "--results-dir", str(tmp_path))  # the suite's own cutoffs
    assert plain.returncode == 0 and "protocol differs from the suite's (cutoffs, selection_metric)" in plain.stdout
    bad = run_cli("run", "--suite", "tiny", "--dry-run", "--set", "selection_metric=ndcg@50")
    assert bad.returncode == 2 and "needs cutoff 50 in protocol.cutoffs" in bad.stderr
