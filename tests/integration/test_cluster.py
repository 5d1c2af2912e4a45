"""Issue 19.3: a suite on a real Dask cluster (a scheduler and two workers started here on 127.0.0.1) runs
every job once, writes the records a local run writes, and a worker killed mid-job loses nothing."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import records
from tests.conftest import REPO, run_cli
from tests.reliability.fault_injection import essence

DASK = str(Path(sys.executable).parent / "dask")
TIGER = ["--set", "recommenders.tiger.budgets.smoke.train.max_epochs=6",
         "--set", "recommenders.tiger.budgets.smoke.train.max_steps=600",
         "--set", "recommenders.tiger.budgets.smoke.train.patience=10"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    logs = [open(folder / name, "w") for name in ("scheduler.log", "w1.log", "w2.log")]
    processes = [subprocess.Popen([DASK, "scheduler", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
                                   "--port", "0", "--dashboard-address", ":0"], stdout=logs[0], stderr=logs[0])]
    for deadline in range(100):
        if scheduler_file.is_file() and json.loads(scheduler_file.read_text() or "{}").get("address"):
            break
        time.sleep(0.2)
    for number, log in enumerate(logs[1:], start=1):
        processes.append(subprocess.Popen([DASK, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                                           "--memory-limit", "0", "--name", f"w{number}"], cwd=REPO, stdout=log,
                                          stderr=log))
    address = json.loads(scheduler_file.read_text())["address"]
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=120)
    yield address
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    for log in logs:
        log.close()


def run_args(results, *extra):
    return ["run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--threads", "1", "--seeds", "0,1",
            "--recommenders", "popularity,tiger", "--tokenizers", "random", "--results-dir", str(results), *extra]


def by_system(results) -> dict:
    return {str(p.relative_to(results)): essence(p) for p in records.find_records(results, "tiny")}


@pytest.mark.slow
def test_suite_on_the_cluster_writes_the_local_records_once_each(cluster, tmp_path):
    local = run_cli(*run_args(tmp_path / "local", *TIGER), env_extra={"SID_BENCH_CACHE": str(tmp_path / "c1")})
    assert local.returncode == 0, local.stderr
    remote = run_cli(*run_args(tmp_path / "remote", *TIGER, "--scheduler", cluster),
                     env_extra={"SID_BENCH_CACHE": str(tmp_path / "c2")})
    assert remote.returncode == 0, remote.stderr
    assert "4 job(s) on the Dask cluster" in remote.stderr
    assert len(re.findall(r"\] \S+ seed \d: test ", remote.stderr)) == 4  # every job ran, once
    assert by_system(tmp_path / "remote") == by_system(tmp_path / "local")


@pytest.mark.slow
def test_a_worker_killed_mid_job_loses_nothing(cluster, tmp_path):
    reference = run_cli(*run_args(tmp_path / "local", *TIGER, "--recommenders", "tiger"),
                        env_extra={"SID_BENCH_CACHE": str(tmp_path / "c1")})
    assert reference.returncode == 0, reference.stderr
    results, cache = tmp_path / "remote", tmp_path / "c2"
    client = subprocess.Popen([sys.executable, "-m", "bench", *run_args(results, *TIGER, "--recommenders", "tiger",
                                                                        "--scheduler", cluster)],
                              cwd=REPO, env={**os.environ, "SID_BENCH_CACHE": str(cache)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    killed = None
    for _ in range(1200):  # kill the worker that trains a job, once its first checkpoint exists
        locks = list(results.rglob("*.lock"))
        if locks and list((cache / "work").glob("*/tiger.pt")):
            killed = json.loads(locks[0].read_text())["pid"]
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.1)
    out, err = client.communicate(timeout=600)
    assert killed is not None, err
    assert client.returncode == 0, err
    assert len(re.findall(r"\] \S+ seed \d: test ", err)) == 2, err
    assert by_system(results) == by_system(tmp_path / "local")
