"""Running a suite: prepare (bench.plan), refuse to replace a record that is not a job's own, then run the
jobs where the options say (bench.executors), each job planned, executed and recorded by bench.job."""

from __future__ import annotations

from pathlib import Path

from bench import records
from bench.device import resolve_budget, resolve_device
from bench.errors import BenchError
from bench.executors import Reporter, run_here, run_parallel
from bench.io import check_writable, remove_orphan_temps
from bench.paths import cache_dir
from bench.paths import results_dir as default_results_dir
from bench.plan import JobPlan, RunOptions, check_options, plan, prepare
from bench.progress import log
from bench.provenance import pin_git_state
from bench.suites import Suite


def run_suite(suite: Suite, options: RunOptions) -> list[Path]:
    if options.budget != "auto":
        resolve_budget(options.budget, "cpu")  # a wrong budget fails before anything slow happens
    check_options(options)
    plan(suite, options)  # a selection that names nothing fails before the data loads
    pin_git_state()  # the code as it is at the start, for every worker: later edits do not change the records
    device = resolve_device(options.device)
    budget = resolve_budget(options.budget, device)
    results_dir = Path(options.results_dir) if options.results_dir else default_results_dir()
    check_writable(results_dir, "results")  # a read-only or full disk found now, not after hours of training
    check_writable(cache_dir(), "cache")
    for folder in (results_dir / "runs", cache_dir()):
        if removed := remove_orphan_temps(folder):
            log(f"removed {removed} temp file(s) that killed runs left in {folder}")
    prepared = prepare(suite, options, budget)
    if options.replace == "none":
        _refuse_to_replace(prepared.plans)
    from bench import estimate

    jobs = prepared.jobs
    estimates = estimate.estimate(prepared.plans, prepared.results_dir, prepared.key)
    log(f"suite {prepared.key}, budget {budget}, device {device}: {len(jobs)} job(s); {estimate.headline(estimates)}")
    reporter = Reporter(jobs, estimates)
    if options.scheduler:
        from bench.cluster import run_on_cluster

        return run_on_cluster(options.scheduler, jobs, prepared, options, device, reporter)
    if options.workers > 1:
        return run_parallel(jobs, prepared, options, device, reporter)
    return run_here(jobs, prepared, options, device, reporter)


def _refuse_to_replace(plans: list[JobPlan]) -> None:
    """Before any work: a record that is not this job's (other settings, edited, damaged) is never replaced
    without --force, so a finished run cannot be lost to a changed setting or a second runner."""
    conflicts = []
    for job_plan in plans:
        there = records.existing(job_plan.path, job_plan.run_id)
        if there:
            conflicts.append(f"  {job_plan.path}: {there}")
    if conflicts:
        raise BenchError(f"{len(conflicts)} job(s) would replace a record that is not theirs:\n" + "\n".join(conflicts)
                         + "\n  pass --replace-stale to replace them (finished jobs are kept), --force to rerun every "
                         "selected job, or --results-dir to write elsewhere")
