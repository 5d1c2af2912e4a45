"""Running a suite: plan the (tokenizer, recommender, seed) jobs, skip finished ones, write a record per job."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import decoding, evidence, records, registry
from bench.config import identity, to_dict
from bench.identity import plugin_hash, protocol_hash, table_key
from bench.identity import run_id as identity_run_id
from bench.data import Dataset, load_dataset
from bench.device import resolve_budget, resolve_device, seed_everything
from bench.errors import BenchError, ConfigError, did_you_mean
from bench.io import check_writable, remove_orphan_temps
from bench.metrics import check_ranked, id_level_metrics, mean_metrics, per_user_metrics
from bench.paths import cache_dir
from bench.paths import results_dir as default_results_dir
from bench.progress import format_duration, log, stage
from bench.protocol import Split, make_split
from bench.provenance import pin_git_state, provenance
from bench.recommender import FitInfo, RunContext, report_dict, unpack
from bench.sids import fit_table
from bench.suites import ResolvedSuite, ResolvedSystem, Suite, resolve, resolve_system, system_name


@dataclass(frozen=True)
class RunOptions:
    budget: str = "auto"
    device: str = "auto"
    seeds: tuple[int, ...] | None = None
    tokenizers: tuple[str, ...] | None = None
    recommenders: tuple[str, ...] | None = None
    dataset_path: str | None = None
    results_dir: Path | None = None
    force: bool = False
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


def describe_plan(suite: Suite, options: RunOptions) -> str:
    """What `run --dry-run` prints: every system's resolved settings (tuned files and `--set` included) and
    the jobs, after the checks `run` makes before any work (settings, --workers, the dataset)."""
    import yaml

    budget = options.budget
    if budget == "auto":
        shown_budget, budget = "auto (paper on CUDA, cpu otherwise; showing cpu)", "cpu"
    else:
        shown_budget = budget = resolve_budget(budget, "cpu" if options.device == "auto" else options.device)
    check_options(options)
    resolved = resolve(suite, budget)
    shown = resolved.as_dict()
    shown["budget"] = shown_budget
    jobs = plan(suite, options)
    check_settings(jobs, resolved)
    dataset = load_dataset(suite.dataset, options.dataset_path)  # a missing or malformed dataset fails here too
    if max(suite.protocol.cutoffs) > dataset.n_items:
        raise ConfigError(_cutoff_message(suite, dataset))
    from bench import estimate

    split = make_split(dataset, suite.protocol)
    results_dir = Path(options.results_dir) if options.results_dir else default_results_dir()
    key = suite_key(suite, dataset, options.dataset_path)
    plans = [plan_job(job, resolved.system(job.tokenizer, job.recommender), budget, dataset, split, results_dir, key)
             for job in jobs]
    return (yaml.safe_dump(shown, sort_keys=False) + f"jobs ({len(jobs)}, under {results_dir}):\n" +
            estimate.summary(plans, estimate.estimate(plans, results_dir, key)))


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
    info = to_dict(split.config)  # its hash: bench.identity.protocol_hash
    return {"split": "leave-one-out (test = last item, validation = second last)",
            "ranking": "full ranking over all items, item level, history items not masked",
            **info, "hash": protocol_hash(split.config), "evaluated_users": len(split.test),
            "dropped_users": split.dropped_users, "train_examples": len(split.train)}


def _sampled(model, split: Split, name: str, sampling, seed: int, list_k: int) -> tuple[np.ndarray, dict]:
    """One decoding variant on the test users: (each user's sampled list, what the record keeps about it)."""
    examples = split.test
    start = time.perf_counter()
    with registry.plugin_failures("recommender", type(model).__name__, f"sample ({name})"):
        items, info = unpack(model.sample(examples.without_targets(), list_k, sampling, seed))
    ranked = check_ranked(items, len(examples), split.n_items, list_k)
    return ranked, {**sampling.as_dict(), **info, "seed": seed, "seconds": round(time.perf_counter() - start, 3)}


def _evaluate(model, split: Split, part: str, list_k: int) -> tuple[float, np.ndarray, dict]:
    """(seconds, each user's ranked list of `list_k` items, what the call reported) for one evaluation part;
    the recommender sees the histories only, never the targets."""
    examples = getattr(split, part)
    start = time.perf_counter()
    with registry.plugin_failures("recommender", type(model).__name__, f"recommend ({part})"):
        items, info = unpack(model.recommend(examples.without_targets(), list_k))
    ranked = check_ranked(items, len(examples), split.n_items, list_k)
    return time.perf_counter() - start, ranked, info


FIDELITY_USERS = 500  # test users on which a heuristic search (beam) is checked against exact scoring


def beam_fidelity(model, split: Split, ranked: np.ndarray) -> dict | None:
    """For a recommender that searches (beam search): on a fixed sample of test users, the share whose
    top-10 equals the exact top-10 (every item scored), and the Recall@10 / NDCG@10 the beam loses."""
    rows = np.sort(np.random.default_rng(0).choice(len(split.test), min(FIDELITY_USERS, len(split.test)),
                                                   replace=False))
    examples = split.test.select(rows)
    k = max(split.config.cutoffs)
    start = time.perf_counter()
    exact = model.exact_top_k(examples.without_targets(), k)
    if exact is None:
        return None
    beam = ranked[rows][:, :k]
    same_set = [set(a.tolist()) == set(b.tolist()) for a, b in zip(beam, exact)]
    overlap = [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(beam, exact)]
    beam_metrics = per_user_metrics(beam, examples.targets, (k,))
    exact_metrics = per_user_metrics(exact, examples.targets, (k,))
    out = {"users": len(rows), "k": k, "same_top_k_share": float(np.mean(same_set)),
           "same_top_k_order_share": float(np.mean((beam == exact).all(1))), "mean_overlap": float(np.mean(overlap)),
           "seconds": round(time.perf_counter() - start, 2)}
    for metric in (f"recall@{k}", f"ndcg@{k}"):
        out[f"exact_{metric}"] = float(exact_metrics[metric].mean())
        out[f"beam_{metric}"] = float(beam_metrics[metric].mean())
        out[f"{metric}_lost"] = out[f"exact_{metric}"] - out[f"beam_{metric}"]
    return out


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


@dataclass
class Outcome:
    """What running a job produced: the SID table's description, training's report, each user's ranked
    list per evaluated part, and the evidence and metrics computed from them (bench.evidence)."""

    tokenizer_info: dict | None
    fit: FitInfo
    report: dict
    ranked: dict[str, np.ndarray]   # part -> [n_users, list length]
    evidence: dict[str, np.ndarray]  # the side file's lists, targets, slices and item context
    metrics: dict[str, dict]         # part -> summary of every registered metric
    fidelity: dict | None
    seconds: dict[str, float]
    test_id_level: dict[str, np.ndarray] = field(default_factory=dict)  # generative systems: twins count
    decoding: dict[str, dict] = field(default_factory=dict)  # sampled variants: name -> settings, seed, seconds


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


def sampled_variants(system: ResolvedSystem) -> dict:
    """The suite's sampled decoding variants that this system runs (none for a recommender that cannot sample)."""
    rec = system.recommender
    return dict(system.suite.decoding) if system.suite.decoding and rec.cls.can_sample(rec.config) else {}


def execute(job_plan: JobPlan, device: str, dataset: Dataset, split: Split, on_eval=None,
            threads: int | None = None, evaluate_test: bool = True) -> Outcome:
    """Fit the SID table (cached), train the recommender on training and validation data only, then score
    validation and test here: the recommender never sees a test target."""
    job, system = job_plan.job, job_plan.system
    sids = tokenizer_info = None
    if system.tokenizer is not None:  # the SID table (cached across recommenders and reruns), with its diagnostics
        tok = system.tokenizer
        fitted = fit_table(tok.entry, tok.plugin, tok.config, job.seed, dataset, split, tok.features, device)
        sids = fitted.table
        tokenizer_info = {k: fitted.info[k] for k in ("name", "plugin", "version", "config", "config_hash", "seed",
                                                       "sid_table_hash", "diagnostics", "features", "fit_s")}
        tokenizer_info["source"] = fitted.info["source"]
        if "fit_report" in fitted.info:
            tokenizer_info["fit_report"] = fitted.info["fit_report"]
    seed_everything(job.seed)
    work_dir = cache_dir() / "work" / job_plan.run_id
    start = time.perf_counter()
    with registry.plugin_failures("recommender", system.recommender.plugin, "fit"):
        model = system.recommender.cls(system.recommender.config, RunContext(
            device=device, budget=job_plan.budget, work_dir=str(work_dir),
            threads=threads or max(1, os.cpu_count() or 1), on_eval=registry.caller_callback(on_eval),
            selection_metric=system.suite.selection_metric))
        info = model.fit(split.for_fit(), sids, job.seed)
    seconds = {"fit_s": max(time.perf_counter() - start, info.seconds or 0.0)}  # a resumed fit counts all of it
    list_k = evidence.list_length(system.recommender.cls, system.recommender.config, split.config.cutoffs)
    ranked, fidelity, id_level = {}, None, {}
    seconds["valid_s"], ranked["valid"], call_info = _evaluate(model, split, "valid", list_k)
    seconds["test_s"] = 0.0
    if evaluate_test:  # the record keeps what the test call reported (a trial's: validation's)
        seconds["test_s"], ranked["test"], call_info = _evaluate(model, split, "test", list_k)
        fidelity = beam_fidelity(model, split, ranked["test"])
        if sids is not None:
            id_level = id_level_metrics(ranked["test"][:, :max(split.config.cutoffs)], split.test.targets,
                                        sids.semantic_groups(), split.config.cutoffs)
    variants = {}  # a variant's lists hold the largest cutoff only: they serve its curve, and the side file's size
    for name, sampling in (sampled_variants(system) if evaluate_test else {}).items():
        ranked[evidence.variant_part(name)], variants[name] = _sampled(
            model, split, name, sampling, decoding.variant_seed(job.seed, name), max(split.config.cutoffs))
    seconds["decoding_s"] = sum(v["seconds"] for v in variants.values())
    report = {**call_info, **report_dict(model.report())}
    arrays = evidence.evidence_arrays(split, dataset, ranked)
    _, metrics = evidence.metrics_from_lists(arrays, split.config.cutoffs)
    return Outcome(tokenizer_info, info, report, ranked, arrays, evidence.nest(metrics), fidelity, seconds,
                   id_level, variants)


def build_record(job_plan: JobPlan, outcome: Outcome, key: str, device: str) -> dict:
    job, suite = job_plan.job, job_plan.system.suite
    fit_s, valid_s, test_s, decoding_s = (outcome.seconds.get(k, 0.0) for k in ("fit_s", "valid_s", "test_s",
                                                                                "decoding_s"))
    return {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": job_plan.run_id,
        "created_at": records.now(),
        "suite": {"name": key, "version": suite.version, "budget": job_plan.budget},
        "system": job.system,
        "tokenizer": outcome.tokenizer_info,
        "recommender": job_plan.recommender_info,
        "seeds": {"run": job.seed, "tokenizer": job.seed if job.tokenizer else None, "recommender": job.seed},
        "dataset": job_plan.dataset_info,
        "protocol": job_plan.protocol_info,
        "training": {"epochs": outcome.fit.epochs, "best_epoch": outcome.fit.best_epoch, **outcome.fit.extra,
                     **outcome.report},
        "timing": {"tokenizer_fit_s": outcome.tokenizer_info["fit_s"] if outcome.tokenizer_info else 0.0,
                   "fit_s": round(fit_s, 3), "valid_s": round(valid_s, 3), "test_s": round(test_s, 3),
                   **({"decoding_s": round(decoding_s, 3)} if outcome.decoding else {}),
                   "total_s": round(fit_s + valid_s + test_s + decoding_s, 3)},
        "metrics": {**outcome.metrics,
                    **({"test_id_level": mean_metrics(outcome.test_id_level)} if outcome.test_id_level else {})},
        "beam_fidelity": outcome.fidelity,
        **({"decoding": outcome.decoding} if outcome.decoding else {}),
        "per_user": {"users": job_plan.protocol_info["evaluated_users"]},
        "provenance": provenance(device),
    }


def run_job(job: Job, system: ResolvedSystem, budget: str, device: str, dataset: Dataset, split: Split,
            results_dir: Path, key: str, force: bool = False, on_eval=None, threads: int | None = None,
            evaluate_test: bool = True) -> tuple[Path, dict | None]:
    """Plan, run and record one job; (path, None) when a record for exactly this job already exists.
    Sweep trials pass `evaluate_test=False`: their objective is validation, and test is never looked at."""
    job_plan = plan_job(job, system, budget, dataset, split, results_dir, key)
    there = records.existing(job_plan.path, job_plan.run_id)
    if there == "" and not force:
        return job_plan.path, None
    if there and not force:  # run_suite refuses these up front; a sweep or a direct call lands here
        raise BenchError(f"{job_plan.path}: {there}; pass --force to replace it")
    lock = records.JobLock(job_plan.path)
    if not lock.acquire():
        owner = lock.owner() or {}
        log(f"{job.system} seed {job.seed}: another runner has it (pid {owner.get('pid')} on {owner.get('host')}); "
            "skipped")
        return job_plan.path, None
    try:
        if records.existing(job_plan.path, job_plan.run_id) == "" and not force:
            return job_plan.path, None  # finished by another runner while this one planned
        if there is not None:
            log(f"{job.system} seed {job.seed}: replacing the record there (--force)")
        outcome = execute(job_plan, device, dataset, split, on_eval, threads, evaluate_test)
        record = build_record(job_plan, outcome, key, device)
        # every registered metric's per-user values are computed from the lists when the record is read
        per_user = {"users": split.test.users.astype(np.int32), **outcome.evidence}
        per_user.update({f"test_id_level.{name}": values for name, values in outcome.test_id_level.items()})
        records.write_run(job_plan.path, record, per_user)
        shutil.rmtree(cache_dir() / "work" / job_plan.run_id, ignore_errors=True)  # checkpoints matter until the record exists
        return job_plan.path, record
    finally:
        lock.release()


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


def _worker_job(job: Job, suite: Suite, budget: str, device: str, dataset_path: str | None, results_dir: Path,
                force: bool, threads: int) -> tuple[Job, Path, dict | None]:
    dataset = load_dataset(suite.dataset, dataset_path)
    split = make_split(dataset, suite.protocol)
    system = resolve_system(suite, budget, job.tokenizer, job.recommender)
    key = suite_key(suite, dataset, dataset_path)
    path, record = run_job(job, system, budget, device, dataset, split, results_dir, key, force, threads=threads)
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


def run_suite(suite: Suite, options: RunOptions) -> list[Path]:
    if options.budget != "auto":
        resolve_budget(options.budget, "cpu")  # a wrong budget fails before anything slow happens
    check_options(options)
    jobs = plan(suite, options)
    pin_git_state()  # the code as it is at the start, for every worker: later edits do not change the records
    device = resolve_device(options.device)
    budget = resolve_budget(options.budget, device)
    results_dir = Path(options.results_dir) if options.results_dir else default_results_dir()
    check_writable(results_dir, "results")  # a read-only or full disk found now, not after hours of training
    check_writable(cache_dir(), "cache")
    for folder in (results_dir / "runs", cache_dir()):
        if removed := remove_orphan_temps(folder):
            log(f"removed {removed} temp file(s) that killed runs left in {folder}")
    with stage(f"data: loading {options.dataset_path or suite.dataset}") as info:
        dataset = load_dataset(suite.dataset, options.dataset_path)
        info.done = f"{dataset.n_users:,} users, {dataset.n_items:,} items, {dataset.n_interactions:,} interactions"
    for note in dataset.notes:
        log(f"note: {note}")
    if max(suite.protocol.cutoffs) > dataset.n_items:
        raise ConfigError(_cutoff_message(suite, dataset))
    with stage("protocol: leave-one-out split") as info:
        split = make_split(dataset, suite.protocol)
        info.done = f"{len(split.train):,} training examples, {len(split.test):,} test users"
    if split.dropped_users:  # never without a word
        log(f"note: {split.dropped_users:,} user(s) with fewer than {suite.protocol.min_interactions} interactions "
            "are left out of the split (each needs a training, a validation and a test item)")
    key = suite_key(suite, dataset, options.dataset_path)
    resolved = resolve(suite, budget)
    check_settings(jobs, resolved)
    plans = [plan_job(job, resolved.system(job.tokenizer, job.recommender), budget, dataset, split, results_dir, key)
             for job in jobs]
    if not options.force:
        _refuse_to_replace(plans)
    from bench import estimate

    estimates = estimate.estimate(plans, results_dir, key)
    log(f"suite {key}, budget {budget}, device {device}: {len(jobs)} job(s); {estimate.headline(estimates)}")
    reporter = Reporter(jobs, estimates)
    if options.scheduler:
        from bench.cluster import run_on_cluster

        return run_on_cluster(options.scheduler, jobs, resolved, options, device, dataset, split, results_dir, reporter)
    if options.workers > 1:
        return _run_parallel(jobs, resolved, options, device, dataset, split, results_dir, reporter)
    paths = []
    for job in jobs:
        path, record = run_job(job, resolved.system(job.tokenizer, job.recommender), budget, device, dataset, split,
                               results_dir, key, options.force, threads=options.threads)
        paths.append(path)
        reporter(job, path, record)
    return paths


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
                         + "\n  pass --force to replace them, or --results-dir to write elsewhere")


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


def _run_parallel(jobs, resolved: ResolvedSuite, options, device, dataset, split, results_dir, reporter) -> list[Path]:
    """Shared stages first (every SID table, once, in this process), then the jobs in worker processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    fit_shared_tables(jobs, resolved, dataset, split, device)
    workers = min(options.workers, len(jobs))
    threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
    devices = _devices_for(workers, device)
    log(f"{len(jobs)} job(s) on {workers} worker processes, {threads} thread(s) each")
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold CUDA or OpenMP state
    plugin_files = [str(p) for p in registry.loaded_plugin_files()]
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(plugin_files, threads, os.getpid())) as pool:
        futures = [pool.submit(_worker_job, job, resolved.suite, resolved.budget, devices[i % workers],
                               options.dataset_path, results_dir, options.force, threads)
                   for i, job in enumerate(jobs)]
        return collect(as_completed(futures), reporter)


def collect(finished, report) -> list[Path]:
    """The record paths of jobs as their futures finish (local processes or a Dask cluster), each reported."""
    paths = []
    for future in finished:
        job, path, record = future.result()
        paths.append(path)
        report(job, path, record)
    return sorted(paths)
