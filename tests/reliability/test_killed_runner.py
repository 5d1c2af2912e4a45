"""A `run --workers N` runner killed by a signal takes its worker processes with it (they would otherwise
train on, unseen), and the next run finishes the jobs."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from bench import records
from tests.conftest import REPO

ARGS = [sys.executable, "-m", "bench", "run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu",
        "--recommenders", "tiger", "--tokenizers", "random", "--seeds", "0,1", "--workers", "2", "--threads", "1"]


def _workers(runner: psutil.Process) -> list[psutil.Process]:
    out = []
    for child in runner.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_end_with_a_killed_runner_and_the_rerun_finishes(tmp_path, sig):
    results = tmp_path / "results"
    runner = subprocess.Popen(ARGS + ["--results-dir", str(results)], cwd=REPO, env=os.environ,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    workers = []
    while len(workers) < 2 and runner.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = _workers(psutil.Process(runner.pid))
    assert len(workers) == 2, "the runner never started its two workers"
    runner.send_signal(sig)
    runner.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers still running after the runner was killed: {[p.pid for p in alive]}"

    rerun = subprocess.run(ARGS + ["--results-dir", str(results)], cwd=REPO, env=os.environ, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    found = records.find_records(results, "tiny")
    assert len(found) == 2 and all(records.read_verified(path) for path in found)
