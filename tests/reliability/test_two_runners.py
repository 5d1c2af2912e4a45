"""Issue 18.5: two runners started together on one results folder run every job exactly once."""

import os
import re
import subprocess
import sys

import pytest

from bench import records
from tests.conftest import REPO


@pytest.mark.slow
def test_two_runners_racing_on_one_folder_run_every_job_once(tmp_path):
    results = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu",
            "--recommenders", "popularity,random,tiger", "--tokenizers", "random,title", "--seeds", "0,1",
            "--threads", "1", "--results-dir", str(results)]
    runners = [subprocess.Popen(args, cwd=REPO, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [runner.communicate(timeout=600) for runner in runners]
    for runner, (out, err) in zip(runners, outputs):
        assert runner.returncode == 0, err
    ran = [re.findall(r"\] (\S+) seed (\d): test ", out + err) for out, err in outputs]
    jobs = {(system, int(seed)) for system in ("popularity", "random", "random+tiger", "title+tiger")
            for seed in (0, 1)}
    assert sorted(ran[0] + ran[1]) == sorted((s, str(k)) for s, k in jobs)  # each job trained by one runner only
    found = records.find_records(results, "tiny")
    assert len(found) == len(jobs) and all(records.read_verified(path) for path in found)
    assert not list(results.rglob("*.lock"))
