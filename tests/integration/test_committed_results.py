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
