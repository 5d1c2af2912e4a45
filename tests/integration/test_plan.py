"""Issue 43.1: `run` and `run --dry-run` share one planning function (bench.plan.prepare): the jobs a dry run
lists are the jobs a run then runs, and a dry run writes nothing."""

import re

import pytest

from bench import records
from tests.conftest import run_cli

SELECT = ("--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders", "popularity,random,tiger",
          "--tokenizers", "random", "--seeds", "0,1")


@pytest.mark.slow
def test_a_dry_run_lists_exactly_the_jobs_a_run_runs(tmp_path):
    dry = run_cli("run", *SELECT, "--results-dir", str(tmp_path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = set(re.findall(r"^  (\S+) seed (\d+): to run", dry.stdout, re.M))
    assert len(listed) == 6 and not (tmp_path / "runs").exists()  # nothing written
    done = run_cli("run", *SELECT, "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    ran = {(r["system"], str(r["seeds"]["run"])) for r in map(records.read_record, records.find_records(tmp_path))}
    assert ran == listed
    again = run_cli("run", *SELECT, "--results-dir", str(tmp_path), "--dry-run")
    assert set(re.findall(r"^  (\S+) seed (\d+): done", again.stdout, re.M)) == listed
