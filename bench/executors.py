"""Where jobs run: in this process, in a pool of worker processes, or on a Dask cluster (bench.cluster), each
behind the same call, `(jobs, prepared, options, device, report) -> record paths`; `report` hears every job as
it finishes. Shared stages (every SID table, once) run here before jobs fan out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import registry
from bench.data import load_dataset
from bench.job import run_job
from bench.plan import Job, Prepared, Replace, RunOptions, suite_key
from bench.progress import format_duration, log, stage
from bench.protocol import make_split
from bench.sids import fit_table
from bench.identity import table_key
from bench.suites import ResolvedSuite, Suite, resolve_system


def run_here(jobs: list[Job], prepared: Prepared, options: RunOptions, device: str, report) -> list[Path]:
    """Every job in this process, one after the other."""
    paths = []
    for job in jobs:
        path, record = run_job(job, prepared.resolved.system(job.tokenizer, job.recommender), prepared.resolved.budget,
                               device, prepared.dataset, prepared.split, prepared.results_dir, prepared.key,
                               options.replace, threads=options.threads)
        paths.append(path)
        report(job, path, record)
    return paths


def _worker_init(plugin_files: list[str], threads: int, parent: int) -> None:
    """A worker process: its share of the CPU threads, the one-off plugins the parent loaded, and a watch on
    the parent: a runner killed by a signal (SIGTERM, SIGKILL) runs no cleanup, and its workers would
    train on unseen. A worker ends within a second of its parent; its job resumes from its checkpoint."""
    import threading

    import torch

    torch.set_num_threads(threads)
    for path in plugin_files:
        registry.load_plugin_file(path)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)  # orphaned: re-parented to init (or a subreaper)


def worker_job(job: Job, suite: Suite, budget: str, device: str, dataset_path: str | None, results_dir: Path,
                replace: Replace, threads: int) -> tuple[Job, Path, dict | None]:
    dataset = load_dataset(suite.dataset, dataset_path)
    split = make_split(dataset, suite.protocol)
    system = resolve_system(suite, budget, job.tokenizer, job.recommender)
    key = suite_key(suite, dataset, dataset_path)
    path, record = run_job(job, system, budget, device, dataset, split, results_dir, key, replace, threads=threads)
    return job, path, record


def _devices_for(workers: int, device: str) -> list[str]:
    """One CUDA device per worker when there are several GPUs; otherwise every worker shares `device`."""
    if device == "cuda":
        import torch

        count = torch.cuda.device_count()
        if count > 1:
            return [f"cuda:{i % count}" for i in range(workers)]
    return [device] * workers


class Reporter:
    """One line per finished job: its test metrics, its own time (the beam-fidelity check included) and the
    time left, from the jobs' estimates scaled by this host's pace (bench.estimate.Pace)."""

    def __init__(self, jobs: list[Job], estimates: list):
        from bench.estimate import Pace

        self.index = {job: i for i, job in enumerate(jobs)}
        self.total, self.done, self.pace = len(jobs), 0, Pace(estimates)

    def __call__(self, job: Job, path: Path, record: dict | None) -> None:
        from bench.estimate import job_seconds

        self.done += 1
        prefix = f"[{self.done}/{self.total}] {job.system} seed {job.seed}"
        if record is None:
            self.pace.finished(self.index[job], None)
            held = not Path(path).is_file()  # run_job skipped it because another runner holds its lock
            log(f"{prefix}: {'held by another runner, skipped (no record yet)' if held else 'record exists, skipped'}")
            return
        seconds = job_seconds(record)
        self.pace.finished(self.index[job], seconds)
        left = self.pace.seconds_left()
        shown = "  ".join(f"{m}={v:.4f}" for m, v in record["metrics"]["test"].items()
                          if m.startswith(("recall@", "ndcg@")))  # the rest: the leaderboard's tables
        eta = f"; about {format_duration(left)} left" if left is not None else ""
        log(f"{prefix}: test {shown} ({format_duration(seconds)}{eta})")


def fit_shared_tables(jobs, resolved: ResolvedSuite, dataset, split, device) -> None:
    """Every SID table the jobs need, once, in this process (cached), before the jobs fan out."""
    tables = {}
    for job in jobs:  # each distinct (tokenizer, its settings, seed) once, tuned settings included
        tok = resolved.system(job.tokenizer, job.recommender).tokenizer
        if tok is not None:
            tables.setdefault((*table_key(tok), job.seed), tok)
    for number, ((_, _, seed), tok) in enumerate(sorted(tables.items(), key=lambda kv: kv[0]), start=1):
        with stage(f"shared stage {number}/{len(tables)}: SID table {tok.entry} seed {seed}"):
            fit_table(tok.entry, tok.plugin, tok.config, seed, dataset, split, tok.features, device)


def run_parallel(jobs: list[Job], prepared: Prepared, options: RunOptions, device: str, report) -> list[Path]:
    """Shared stages first (every SID table, once, in this process), then the jobs in worker processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    resolved = prepared.resolved
    fit_shared_tables(jobs, resolved, prepared.dataset, prepared.split, device)
    workers = min(options.workers, len(jobs))
    threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
    devices = _devices_for(workers, device)
    log(f"{len(jobs)} job(s) on {workers} worker processes, {threads} thread(s) each")
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold CUDA or OpenMP state
    plugin_files = [str(p) for p in registry.loaded_plugin_files()]
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(plugin_files, threads, os.getpid())) as pool:
        futures = [pool.submit(worker_job, job, resolved.suite, resolved.budget, devices[i % workers],
                               options.dataset_path, prepared.results_dir, options.replace, threads)
                   for i, job in enumerate(jobs)]
        return collect(as_completed(futures), report)


def collect(finished, report) -> list[Path]:
    """The record paths of jobs as their futures finish (local processes or a Dask cluster), each reported."""
    paths = []
    for future in finished:
        job, path, record = future.result()
        paths.append(path)
        report(job, path, record)
    return sorted(paths)
