"""Planning a suite run: which (tokenizer, recommender, seed) jobs the options select, each job's resolved
settings, run id and record path, and `prepare`, the one opening shared by `run` and `run --dry-run` (checks,
data, split, plans), so what a dry run lists is what a run runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench import records, registry
from bench.config import identity
from bench.data import Dataset, load_dataset
from bench.errors import ConfigError, did_you_mean
from bench.identity import plugin_hash, protocol_hash
from bench.identity import run_id as identity_run_id
from bench.paths import results_dir as default_results_dir
from bench.progress import log, stage
from bench.protocol import Split, describe_split, make_split
from bench.suites import ResolvedSuite, ResolvedSystem, Suite, resolve, system_name


Replace = Literal["none", "stale", "all"]


@dataclass(frozen=True)
class RunOptions:
    budget: str = "auto"
    device: str = "auto"
    seeds: tuple[int, ...] | None = None
    tokenizers: tuple[str, ...] | None = None
    recommenders: tuple[str, ...] | None = None
    dataset_path: str | None = None
    results_dir: Path | None = None
    # which records a run may replace: "none"; "stale", those that are not the job's (other settings, or a
    # version-1 record without ranked lists), keeping finished ones; "all", every selected job's (--force)
    replace: Replace = "none"
    workers: int = 1
    threads: int | None = None  # per job; None: all cores, divided among the workers
    scheduler: str | None = None  # a Dask scheduler's address: jobs run on its cluster (bench.cluster)


@dataclass(frozen=True)
class Job:
    recommender: str
    tokenizer: str | None
    seed: int

    @property
    def system(self) -> str:
        return system_name(self.tokenizer, self.recommender)


def narrow(names: list[str], wanted: tuple[str, ...] | None, what: str) -> list[str]:
    if wanted is None:
        return names
    for name in wanted:
        if name not in names:
            raise ConfigError(f"--{what}: '{name}' is not in this suite{did_you_mean(name, names)}")
    return [n for n in names if n in wanted]


def plan(suite: Suite, options: RunOptions) -> list[Job]:
    """Every (recommender, tokenizer, seed) the options select; SID recommenders pair with each tokenizer."""
    recommenders = narrow(list(suite.recommenders), options.recommenders, "recommenders")
    tokenizers = narrow(list(suite.tokenizers), options.tokenizers, "tokenizers")
    seeds = list(options.seeds) if options.seeds is not None else list(suite.seeds)
    jobs = []
    for name in recommenders:
        uses_sids = registry.get("recommenders", suite.plugin_name("recommenders", name)).uses_sids
        if uses_sids and not tokenizers:
            raise ConfigError(f"recommender '{name}' needs semantic IDs, but no tokenizer is selected")
        paired = [t for t in suite.tokenizers_for(name) if t in tokenizers]
        for tokenizer in (paired if uses_sids else [None]):
            jobs.extend(Job(name, tokenizer, seed) for seed in suite.seeds_for(tokenizer, name, seeds))
    if not jobs:
        raise ConfigError("nothing to run: the suite and options select no job")
    return jobs


def check_options(options: RunOptions) -> None:
    """The counts a user gives on the command line, before anything runs."""
    for name in ("workers", "threads"):
        value = getattr(options, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be at least 1, got {value}")


def check_settings(jobs: list[Job], resolved: ResolvedSuite) -> None:
    """Each job's recommender settings against the protocol (e.g. a beam narrower than K), before any work."""
    for system in dict.fromkeys(job.system for job in jobs):  # tuned files may give systems other settings
        job = next(j for j in jobs if j.system == system)
        rec = resolved.system(job.tokenizer, job.recommender).recommender
        try:
            rec.cls.check_settings(rec.config, resolved.suite.protocol.cutoffs)
        except ConfigError as err:
            raise ConfigError(f"recommender '{job.recommender}' ({system}): {err}") from None


def _cutoff_message(suite: Suite, dataset: Dataset) -> str:  # a top-K longer than the catalogue has no meaning
    return (f"protocol.cutoffs {list(suite.protocol.cutoffs)}: K = {max(suite.protocol.cutoffs)} exceeds the "
            f"{dataset.n_items} items of {dataset.name}")


def suite_key(suite: Suite, dataset: Dataset, dataset_path: str | None) -> str:
    """Results folder name: the suite; with --dataset-path, also the folder's name and content hash."""
    return records.results_key(suite.name, *((dataset.name, dataset.files) if dataset_path else ()))


def _dataset_info(dataset: Dataset) -> dict:
    return {"name": dataset.name, "files": dict(dataset.files), "users": dataset.n_users, "items": dataset.n_items,
            "interactions": dataset.n_interactions, "order_source": dataset.order_source}


def _protocol_info(split: Split) -> dict:
    info = identity(split.config)  # its hash: bench.identity.protocol_hash; leave-one-out adds nothing
    settings = info.pop("split", None)
    cold = {"cold": {"cold_share": settings["cold_share"], "cold_seed": settings["cold_seed"], **split.cold_report}} \
        if split.cold_items is not None else {}
    return {"split": describe_split(split),
            "ranking": "full ranking over all items, item level, history items not masked",
            **info, "hash": protocol_hash(split.config), "evaluated_users": len(split.test),
            "dropped_users": split.dropped_users, "train_examples": len(split.train), **cold}


@dataclass(frozen=True)
class JobPlan:
    """What a job is before it runs: its resolved settings, its run id and where its record goes."""

    job: Job
    system: ResolvedSystem
    budget: str
    run_id: str
    path: Path
    recommender_info: dict
    dataset_info: dict
    protocol_info: dict


def sampled_variants(system: ResolvedSystem) -> dict:
    """The suite's sampled decoding variants that this system runs (none for a recommender that cannot sample)."""
    rec = system.recommender
    return dict(system.suite.decoding) if system.suite.decoding and rec.cls.can_sample(rec.config) else {}


def plan_job(job: Job, system: ResolvedSystem, budget: str, dataset: Dataset, split: Split, results_dir: Path,
             key: str) -> JobPlan:
    rec = system.recommender
    recommender_info = {"name": job.recommender, "plugin": rec.plugin, "version": rec.version,
                        "config": identity(rec.config), "config_hash": plugin_hash(rec.config),
                        "seed": job.seed, "source": registry.source_of("recommenders", rec.plugin)}
    if system.tuned:
        recommender_info["tuned"] = system.tuned
    protocol, dataset_info = _protocol_info(split), _dataset_info(dataset)
    protocol["selection_metric"] = system.suite.selection_metric  # outside the protocol hash: see the run id
    run_id = identity_run_id(system, job.system, budget, job.seed, dataset_info["files"], protocol["hash"],
                             sampled_variants(system))
    path = records.record_path(results_dir, key, budget, job.system, job.seed)
    return JobPlan(job, system, budget, run_id, path, recommender_info, dataset_info, protocol)


@dataclass
class Prepared:
    """A run before any job: the checked options' jobs, the data and split, and every job's plan."""

    jobs: list[Job]
    resolved: ResolvedSuite
    dataset: Dataset
    split: Split
    key: str          # the results folder name under runs/
    results_dir: Path
    plans: list[JobPlan]


def prepare(suite: Suite, options: RunOptions, budget: str, quiet: bool = False) -> Prepared:
    """Everything `run` and `--dry-run` do before the first job, in one place: the options and each job's
    settings checked, the dataset loaded (a missing or malformed one fails here), the split made, every job
    planned (run id and record path)."""
    check_options(options)
    jobs = plan(suite, options)
    resolved = resolve(suite, budget)
    check_settings(jobs, resolved)
    with stage(f"data: loading {options.dataset_path or suite.dataset}", quiet=quiet) as info:
        dataset = load_dataset(suite.dataset, options.dataset_path)
        info.done = f"{dataset.n_users:,} users, {dataset.n_items:,} items, {dataset.n_interactions:,} interactions"
    if not quiet:
        for note in dataset.notes:
            log(f"note: {note}")
    if max(suite.protocol.cutoffs) > dataset.n_items:
        raise ConfigError(_cutoff_message(suite, dataset))
    with stage(f"protocol: {suite.protocol.split.name.replace('_', '-')} split", quiet=quiet) as info:
        split = make_split(dataset, suite.protocol)
        info.done = f"{len(split.train):,} training examples, {len(split.test):,} test users"
    if split.cold_items is not None and not quiet:
        log(f"note: {describe_split(split)}")
    if split.dropped_users and not quiet:  # never without a word
        log(f"note: {split.dropped_users:,} user(s) with fewer than {suite.protocol.min_interactions} interactions "
            "are left out of the split (each needs a training, a validation and a test item)")
    results_dir = Path(options.results_dir) if options.results_dir else default_results_dir()
    key = suite_key(suite, dataset, options.dataset_path)
    plans = [plan_job(job, resolved.system(job.tokenizer, job.recommender), budget, dataset, split, results_dir, key)
             for job in jobs]
    return Prepared(jobs, resolved, dataset, split, key, results_dir, plans)


def describe_plan(suite: Suite, options: RunOptions) -> str:
    """What `run --dry-run` prints: every system's resolved settings (tuned files and `--set` included) and
    the jobs with their estimates, after the same `prepare` as `run` (settings, --workers, the dataset)."""
    import yaml

    from bench import estimate
    from bench.device import resolve_budget

    budget = options.budget
    if budget == "auto":
        shown_budget, budget = "auto (paper on CUDA, cpu otherwise; showing cpu)", "cpu"
    else:
        shown_budget = budget = resolve_budget(budget, "cpu" if options.device == "auto" else options.device)
    prepared = prepare(suite, options, budget, quiet=True)
    shown = prepared.resolved.as_dict()
    shown["budget"] = shown_budget
    plans = prepared.plans
    return (yaml.safe_dump(shown, sort_keys=False) + f"jobs ({len(plans)}, under {prepared.results_dir}):\n" +
            estimate.summary(plans, estimate.estimate(plans, prepared.results_dir, prepared.key)))
