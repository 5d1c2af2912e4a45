"""One job: fit the SID table (cached) and the recommender on training data, score validation and test here
(the recommender never sees a test target), keep the evidence, write the record."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import decoding, evidence, records, registry
from bench.data import Dataset
from bench.device import seed_everything
from bench.errors import BenchError
from bench.metrics import check_ranked, id_level_metrics, mean_metrics, per_user_metrics
from bench.paths import cache_dir
from bench.plan import Job, JobPlan, Replace, plan_job, sampled_variants
from bench.progress import log
from bench.protocol import Split
from bench.provenance import provenance
from bench.recommender import FitInfo, RunContext, report_dict, unpack
from bench.sids import fit_table
from bench.suites import ResolvedSystem


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
    recommender_features: dict = field(default_factory=dict)  # what the recommender itself read, as the SID table's


RUN_TO_RUN = ("seconds", "cache_hit")  # what describing a feature says about this run, not about the feature


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
    inputs, recommender_features = None, {}
    if system.recommender.cls.needs:  # item features for the recommender itself (text-knn's text embeddings)
        from bench.features import build_inputs

        inputs, described = build_inputs(tuple(system.recommender.cls.needs), dataset, split, system.suite.features,
                                         device)
        recommender_features = {name: {k: v for k, v in info.items() if k not in RUN_TO_RUN}  # timing has seconds
                                for name, info in described.items()}
    seed_everything(job.seed)
    work_dir = cache_dir() / "work" / job_plan.run_id
    start = time.perf_counter()
    with registry.plugin_failures("recommender", system.recommender.plugin, "fit"):
        model = system.recommender.cls(system.recommender.config, RunContext(
            device=device, budget=job_plan.budget, work_dir=str(work_dir),
            threads=threads or max(1, os.cpu_count() or 1), on_eval=registry.caller_callback(on_eval),
            selection_metric=system.suite.selection_metric, inputs=inputs))
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
    arrays = evidence.evidence_arrays(split, dataset, ranked, sids)
    _, metrics = evidence.metrics_from_lists(arrays, split.config.cutoffs)
    return Outcome(tokenizer_info, info, report, ranked, arrays, evidence.nest(metrics), fidelity, seconds,
                   id_level, variants, recommender_features)


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
        "recommender": {**job_plan.recommender_info, "features": outcome.recommender_features},
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
            results_dir: Path, key: str, replace: Replace = "none", on_eval=None, threads: int | None = None,
            evaluate_test: bool = True) -> tuple[Path, dict | None]:
    """Plan, run and record one job; (path, None) when a record for exactly this job already exists (and
    `replace` is not "all"). Sweep trials pass `evaluate_test=False`: their objective is validation, and test
    is never looked at."""
    job_plan = plan_job(job, system, budget, dataset, split, results_dir, key)
    there = records.existing(job_plan.path, job_plan.run_id)
    if there == "" and replace != "all":
        return job_plan.path, None
    if there and replace == "none":  # run_suite refuses these up front; a sweep or a direct call lands here
        raise BenchError(f"{job_plan.path}: {there}; pass --replace-stale (or --force) to replace it")
    lock = records.JobLock(job_plan.path)
    if not lock.acquire():
        owner = lock.owner() or {}
        log(f"{job.system} seed {job.seed}: another runner has it (pid {owner.get('pid')} on {owner.get('host')}); "
            "skipped")
        return job_plan.path, None
    try:
        if records.existing(job_plan.path, job_plan.run_id) == "" and replace != "all":
            return job_plan.path, None  # finished by another runner while this one planned
        if there is not None:
            log(f"{job.system} seed {job.seed}: replacing the record there "
                f"({'--force' if replace == 'all' else '--replace-stale: ' + there})")
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
