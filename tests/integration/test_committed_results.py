"""The committed results stay honest: every record validates, every leaderboard is what its records give."""

import pytest

from bench import records
from tests.conftest import REPO, run_cli

RESULTS = REPO / "results"
SUITES = sorted({p.relative_to(RESULTS / "runs").parts[0] for p in records.find_records(RESULTS)})


PROBES = sorted((RESULTS / "probes").rglob("seed*.json"))  # one-off runs with --set that README statements cite


def test_there_are_committed_results_to_check():
    """The tests below are parametrized over the committed files: an empty results/ would give none, and a pass."""
    assert records.find_records(RESULTS) and [s for s in SUITES if "@" not in s]


@pytest.mark.parametrize("path", records.find_records(RESULTS) + PROBES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_committed_record_is_valid(path):
    record = records.read_record(path)
    records.read_per_user(path, record)  # side file present and unchanged (sha256)


@pytest.mark.slow
@pytest.mark.parametrize("suite", [s for s in SUITES if "@" not in s])
def test_committed_leaderboard_matches_its_records(suite):
    result = run_cli("leaderboard", "--suite", suite, "--check", "--results-dir", str(RESULTS))
    assert result.returncode == 0, result.stderr


def test_the_planner_finds_every_committed_beauty_run_done():
    """A run's identity is defined once (bench.identity): a change that moved any run id would make `run` redo
    or refuse the committed work. `--dry-run` plans every job of the suite against the committed records."""
    import re

    result = run_cli("run", "--suite", "amazon-beauty", "--dry-run", "--results-dir", str(RESULTS))
    assert result.returncode == 0, result.stderr
    done = re.search(r"^(\d+) done, (\d+) to run", result.stdout + result.stderr, re.M)
    assert done and int(done.group(1)) >= 50 and done.group(2) == "0", (result.stdout + result.stderr)[-2000:]
