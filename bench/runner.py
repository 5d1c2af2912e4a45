"""Running a suite: plan the (tokenizer, recommender, seed) jobs, skip finished ones, write a record per job."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import records, registry
from bench.config import config_hash, to_dict
from bench.data import Dataset, load_dataset
from bench.device import resolve_budget, resolve_device, seed_everything
from bench.errors import ConfigError, did_you_mean
from bench.metrics import check_ranked, mean_metrics, per_user_metrics
from bench.paths import cache_dir
from bench.paths import results_dir as default_results_dir
from bench.progress import format_duration, log, stage
from bench.protocol import Split, make_split
from bench.provenance import git_state, provenance
from bench.recommender import RunContext
from bench.sids import fit_table
from bench.suites import Suite
from bench.sweep import SweepTarget, load_tuned, with_overrides


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


@dataclass(frozen=True)
class Job:
    recommender: str
    tokenizer: str | None
    seed: int

    @property
    def system(self) -> str:
        return f"{self.tokenizer}+{self.recommender}" if self.tokenizer else self.recommender


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
            jobs.extend(Job(name, tokenizer, seed) for seed in seeds)
    if not jobs:
        raise ConfigError("nothing to run: the suite and options select no job")
    return jobs


def suite_key(suite: Suite, dataset: Dataset) -> str:
    """Results folder name: the suite, plus the dataset when --dataset-path replaced the suite's own."""
    return suite.name if dataset.name == suite.dataset else f"{suite.name}@{dataset.name}"


def _dataset_info(dataset: Dataset) -> dict:
    return {"name": dataset.name, "files": dict(dataset.files), "users": dataset.n_users, "items": dataset.n_items,
            "interactions": dataset.n_interactions, "order_source": dataset.order_source}


def _protocol_info(split: Split) -> dict:
    info = to_dict(split.config)
    return {"split": "leave-one-out (test = last item, validation = second last)",
            "ranking": "full ranking over all items, item level, history items not masked",
            **info, "hash": config_hash(info), "evaluated_users": len(split.test),
            "dropped_users": split.dropped_users, "train_examples": len(split.train)}


def _evaluate(model, split: Split, part: str) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    examples = getattr(split, part)
    k = max(split.config.cutoffs)
    start = time.perf_counter()
    ranked = check_ranked(model.recommend(examples, k), len(examples), split.n_items, k)
    return per_user_metrics(ranked, examples.targets, split.config.cutoffs), time.perf_counter() - start, ranked


FIDELITY_USERS = 500  # test users on which a heuristic search (beam) is checked against exact scoring


def beam_fidelity(model, split: Split, ranked: np.ndarray) -> dict | None:
    """For a recommender that searches (beam search): on a fixed sample of test users, the share whose
    top-10 equals the exact top-10 (every item scored), and the Recall@10 / NDCG@10 the beam loses."""
    rows = np.sort(np.random.default_rng(0).choice(len(split.test), min(FIDELITY_USERS, len(split.test)),
                                                   replace=False))
    examples = split.test.select(rows)
    k = max(split.config.cutoffs)
    start = time.perf_counter()
    exact = model.exact_top_k(examples, k)
    if exact is None:
        return None
    beam = ranked[rows]
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


def run_job(job: Job, suite: Suite, budget: str, device: str, dataset: Dataset, split: Split,
            results_dir: Path, key: str, force: bool = False, on_eval=None,
            use_tuned: bool = True, threads: int | None = None, evaluate_test: bool = True) -> tuple[Path, dict | None]:
    """Train and evaluate one job and write its record; (path, None) when a record for it already exists.
    A frozen sweep result for this system and budget (suites/tuned/...) replaces the suite's settings.
    Sweep trials pass `evaluate_test=False`: their objective is validation, and test is never looked at."""
    tuned = load_tuned(suite.name, job.system, budget) if use_tuned else None
    suite = _with_tuned(suite, job, budget, tuned)
    plugin = suite.plugin_name("recommenders", job.recommender)
    rec_cls = registry.get("recommenders", plugin)
    rec_config = suite.plugin_config("recommenders", job.recommender, budget)
    recommender_info = {"name": job.recommender, "plugin": plugin, "version": rec_cls.version,
                        "config": to_dict(rec_config), "config_hash": config_hash(rec_config), "seed": job.seed,
                        "source": registry.source_of("recommenders", plugin)}
    if tuned:
        recommender_info["tuned"] = tuned[1]
    protocol = _protocol_info(split)
    dataset_info = _dataset_info(dataset)
    tokenizer_key = None
    if job.tokenizer:
        tok_plugin = suite.plugin_name("tokenizers", job.tokenizer)
        tok_config = suite.plugin_config("tokenizers", job.tokenizer, budget)
        tokenizer_key = [tok_plugin, registry.get("tokenizers", tok_plugin).version, to_dict(tok_config),
                         to_dict(suite.features)]
    run_id = config_hash({"suite": [suite.name, suite.version, budget], "system": job.system,
                          "recommender": [plugin, rec_cls.version, recommender_info["config"]],
                          "tokenizer": tokenizer_key, "seed": job.seed, "data": dataset_info["files"],
                          "protocol": protocol["hash"]})
    path = records.record_path(results_dir, key, budget, job.system, job.seed)
    if not force and records.is_complete(path, run_id):
        return path, None
    if path.is_file():
        log(f"{job.system} seed {job.seed}: the existing record was made with other settings; running again")

    sids = tokenizer_info = None
    if job.tokenizer:  # the SID table (cached across recommenders and reruns), with its diagnostics
        fitted = fit_table(job.tokenizer, tok_plugin, tok_config, job.seed, dataset, split, suite.features, device)
        sids = fitted.table
        tokenizer_info = {k: fitted.info[k] for k in ("name", "plugin", "version", "config", "config_hash", "seed",
                                                       "sid_table_hash", "diagnostics", "features", "fit_s")}
        tokenizer_info["source"] = fitted.info["source"]
        if "fit_report" in fitted.info:
            tokenizer_info["fit_report"] = fitted.info["fit_report"]
    seed_everything(job.seed)
    work_dir = cache_dir() / "work" / run_id
    model = rec_cls(rec_config, RunContext(device=device, budget=budget, work_dir=str(work_dir),
                                           threads=threads or max(1, os.cpu_count() or 1), on_eval=on_eval))
    start = time.perf_counter()
    info = model.fit(split, sids, job.seed)
    fit_s = time.perf_counter() - start
    valid, valid_s, _ = _evaluate(model, split, "valid")
    test, test_s, fidelity = {}, 0.0, None
    if evaluate_test:
        test, test_s, test_ranked = _evaluate(model, split, "test")
        fidelity = beam_fidelity(model, split, test_ranked)
    test_report = model.report()
    record = {
        "schema_version": records.SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": records.now(),
        "suite": {"name": key, "version": suite.version, "budget": budget},
        "system": job.system,
        "tokenizer": tokenizer_info,
        "recommender": recommender_info,
        "seeds": {"run": job.seed, "tokenizer": job.seed if job.tokenizer else None, "recommender": job.seed},
        "dataset": dataset_info,
        "protocol": protocol,
        "training": {"epochs": info.epochs, "best_epoch": info.best_epoch, **info.extra, **test_report},
        "timing": {"tokenizer_fit_s": tokenizer_info["fit_s"] if tokenizer_info else 0.0, "fit_s": round(fit_s, 3),
                   "valid_s": round(valid_s, 3), "test_s": round(test_s, 3),
                   "total_s": round(fit_s + valid_s + test_s, 3)},
        "metrics": {"valid": mean_metrics(valid), **({"test": mean_metrics(test)} if evaluate_test else {})},
        "beam_fidelity": fidelity,
        "per_user": {"users": len(split.test)},
        "provenance": provenance(device),
    }
    per_user = {"users": split.test.users.astype(np.int32)}
    per_user.update({f"valid.{name}": values for name, values in valid.items()})
    per_user.update({f"test.{name}": values for name, values in test.items()})
    records.write_run(path, record, per_user)
    shutil.rmtree(work_dir, ignore_errors=True)  # checkpoints only matter until the record exists
    return path, record


def _with_tuned(suite: Suite, job: Job, budget: str, tuned: tuple[dict, str] | None) -> Suite:
    """The suite with a frozen sweep result for this job's system and budget applied, if there is one."""
    if not tuned:
        return suite
    return with_overrides(suite, SweepTarget(suite, job.tokenizer, job.recommender, budget), tuned[0])


def _worker_init(plugin_files: list[str], threads: int) -> None:
    """A worker process: its share of the CPU threads, and the one-off plugins the parent loaded."""
    import torch

    torch.set_num_threads(threads)
    for path in plugin_files:
        registry.load_plugin_file(path)


def _worker_job(job: Job, suite: Suite, budget: str, device: str, dataset_path: str | None, results_dir: Path,
                force: bool, threads: int) -> tuple[Job, Path, dict | None]:
    dataset = load_dataset(suite.dataset, dataset_path)
    split = make_split(dataset, suite.protocol)
    path, record = run_job(job, suite, budget, device, dataset, split, results_dir, suite_key(suite, dataset), force,
                           threads=threads)
    return job, path, record


def _devices_for(workers: int, device: str) -> list[str]:
    """One CUDA device per worker when there are several GPUs; otherwise every worker shares `device`."""
    if device == "cuda":
        import torch

        count = torch.cuda.device_count()
        if count > 1:
            return [f"cuda:{i % count}" for i in range(workers)]
    return [device] * workers


def _report(number: int, total: int, job: Job, record: dict | None, left: float | None) -> None:
    if record is None:
        log(f"[{number}/{total}] {job.system} seed {job.seed}: record exists, skipped")
        return
    shown = "  ".join(f"{m}={v:.4f}" for m, v in record["metrics"]["test"].items())
    eta = f"; about {format_duration(left)} left" if left is not None else ""
    log(f"[{number}/{total}] {job.system} seed {job.seed}: test {shown} "
        f"({format_duration(record['timing']['total_s'])}{eta})")


def run_suite(suite: Suite, options: RunOptions) -> list[Path]:
    if options.budget != "auto":
        resolve_budget(options.budget, "cpu")  # a wrong budget fails before anything slow happens
    if options.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {options.workers}")
    jobs = plan(suite, options)
    git_state()  # the code as it is now, at the start: later edits to the checkout do not change the records
    device = resolve_device(options.device)
    budget = resolve_budget(options.budget, device)
    results_dir = Path(options.results_dir) if options.results_dir else default_results_dir()
    with stage(f"data: loading {options.dataset_path or suite.dataset}") as info:
        dataset = load_dataset(suite.dataset, options.dataset_path)
        info.done = f"{dataset.n_users:,} users, {dataset.n_items:,} items, {dataset.n_interactions:,} interactions"
    for note in dataset.notes:
        log(f"note: {note}")
    with stage("protocol: leave-one-out split") as info:
        split = make_split(dataset, suite.protocol)
        info.done = f"{len(split.train):,} training examples, {len(split.test):,} test users"
    key = suite_key(suite, dataset)
    log(f"suite {key}, budget {budget}, device {device}: {len(jobs)} job(s)")
    if options.workers > 1:
        return _run_parallel(jobs, suite, options, budget, device, dataset, split, results_dir, key)
    paths, spent, ran = [], 0.0, 0
    for number, job in enumerate(jobs, start=1):
        start = time.perf_counter()
        path, record = run_job(job, suite, budget, device, dataset, split, results_dir, key, options.force,
                               threads=options.threads)
        paths.append(path)
        if record is not None:
            spent += time.perf_counter() - start
            ran += 1
        _report(number, len(jobs), job, record, spent / ran * (len(jobs) - number) if ran else None)
    return paths


def _run_parallel(jobs, suite, options, budget, device, dataset, split, results_dir, key) -> list[Path]:
    """Shared stages first (every SID table, once, in this process), then the jobs in worker processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    tables = {}
    for job in jobs:  # each distinct (tokenizer, its settings, seed) once, tuned settings included
        if job.tokenizer:
            job_suite = _with_tuned(suite, job, budget, load_tuned(suite.name, job.system, budget))
            config = job_suite.plugin_config("tokenizers", job.tokenizer, budget)
            tables.setdefault((job.tokenizer, config_hash(config), job.seed), (job_suite, config))
    for number, ((tokenizer, _, seed), (job_suite, config)) in enumerate(sorted(tables.items()), start=1):
        with stage(f"shared stage {number}/{len(tables)}: SID table {tokenizer} seed {seed}"):
            fit_table(tokenizer, job_suite.plugin_name("tokenizers", tokenizer), config, seed, dataset, split,
                      job_suite.features, device)
    workers = min(options.workers, len(jobs))
    threads = options.threads or max(1, (os.cpu_count() or 1) // workers)
    devices = _devices_for(workers, device)
    log(f"{len(jobs)} job(s) on {workers} worker processes, {threads} thread(s) each")
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold CUDA or OpenMP state
    plugin_files = [str(p) for p in registry.loaded_plugin_files()]
    paths, done, start = [], 0, time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(plugin_files, threads)) as pool:
        futures = [pool.submit(_worker_job, job, suite, budget, devices[i % workers], options.dataset_path,
                               results_dir, options.force, threads) for i, job in enumerate(jobs)]
        for future in as_completed(futures):
            job, path, record = future.result()
            paths.append(path)
            done += 1
            elapsed = time.perf_counter() - start
            _report(done, len(jobs), job, record, elapsed / done * (len(jobs) - done))
    return sorted(paths)
