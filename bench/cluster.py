"""Suites on a Dask distributed cluster: `run --scheduler tcp://HOST:PORT`.

The shared stages (every SID table the jobs need) run first, in this process, into the cache; then each job
is one task that plans, trains and writes its own record atomically, exactly as a local run does. Workers
must see the same results and cache folders (one machine, or a shared filesystem) and have the project
installed. A worker that dies loses only the job it was running: the scheduler gives that task to another
worker, which takes over the dead worker's stale job lock and resumes from the job's last checkpoint. Jobs
with a record are skipped, as in a local run, so a whole run can also be started again.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from bench import registry
from bench.errors import BenchError
from bench.paths import cache_dir
from bench.progress import log


def _cluster_job(job, suite, budget: str, device: str, dataset_path: str | None, results_dir: Path, replace: str,
                 threads: int | None, slots: dict, environment: dict, plugin_files: list[str]):
    """One job on a worker: the client's cache folder, git state and one-off plugins, then the local path.
    Threads: --threads, or this machine's cores divided by the task slots the cluster has on it."""
    import torch
    from distributed import get_worker

    from bench import provenance
    from bench.executors import worker_job

    if not threads:
        host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
        threads = max(1, (os.cpu_count() or 1) // slots.get(host, 1))

    os.environ.update(environment)
    provenance.git_state.cache_clear()  # a long-lived worker serves runs of other checkouts too
    for path in plugin_files:
        if Path(path) not in registry.loaded_plugin_files():
            registry.load_plugin_file(path)
    torch.set_num_threads(threads)
    return worker_job(job, suite, budget, device, dataset_path, results_dir, replace, threads)


def _slots_per_host(client) -> dict:
    """{host: task slots (worker threads) the cluster has there}."""
    workers = client.scheduler_info()["workers"].values()
    if not workers:
        raise BenchError("the Dask cluster has no workers: start some with `dask worker SCHEDULER_ADDRESS`")
    slots = Counter()
    for worker in workers:
        slots[worker["host"]] += worker["nthreads"]
    return dict(slots)


def run_on_cluster(address: str, jobs, prepared, options, device: str, report) -> list[Path]:
    """Every job as a task of the Dask cluster at `address`; `report(job, path, record)` hears each as it
    finishes."""
    from distributed import Client, as_completed

    from bench.executors import collect, fit_shared_tables

    resolved, results_dir = prepared.resolved, prepared.results_dir
    fit_shared_tables(jobs, resolved, prepared.dataset, prepared.split, device)
    environment = {key: value for key, value in os.environ.items() if key.startswith("SID_BENCH_")}
    environment["SID_BENCH_CACHE"] = str(cache_dir().resolve())
    plugin_files = [str(p) for p in registry.loaded_plugin_files()]
    try:
        client = Client(address, timeout="30s")
    except OSError as err:
        raise BenchError(f"no Dask scheduler answers at {address} ({err}); start one with `dask scheduler`") from None
    with client:
        slots = _slots_per_host(client)
        shown = f"{options.threads} thread(s)" if options.threads else "its machine's cores over its task slots"
        log(f"{len(jobs)} job(s) on the Dask cluster at {address} ({len(client.scheduler_info()['workers'])} "
            f"workers), {shown} per job")
        futures = [client.submit(_cluster_job, job, resolved.suite, resolved.budget, device, options.dataset_path,
                                 Path(results_dir).resolve(), options.replace, options.threads, slots, environment,
                                 plugin_files,
                                 key=f"{job.system}-seed{job.seed}-{time.time_ns()}", pure=False)
                   for job in jobs]
        return collect(as_completed(futures), report)
