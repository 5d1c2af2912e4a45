"""Optuna sweeps over a (tokenizer, recommender) pair of a suite, and frozen tuned configurations.

- Search spaces live next to each plugin's config (`search_space` on the class); a trial samples both the
  tokenizer's (`tokenizer.*`) and the recommender's (`recommender.*`) and runs one job of the suite with them
  at the chosen budget and the suite's first seed. Objective: the suite's `selection_metric` on validation
  (NDCG@10 by default; never the test split).
- Seeded TPE sampler; a median pruner fed by the recommender's per-epoch validation scores, from the
  plugin's `prune_after_epochs` on (earlier scores rank how fast a trial starts, not where it ends).
- Storage: a SQLite file in results/sweeps/ by default (nothing to start); `--storage postgresql://...` lets
  any number of workers on any number of machines share one study, each running the same command. The
  study stops at `trials` finished (complete or pruned) trials in total, however many workers pull from it.
- Every trial writes its own record under results/sweeps/<study>/trial-<n>/, so workers never share a file.
- `freeze` writes the best trial's settings to suites/tuned/<suite>/<tokenizer>+<recommender>.<budget>.yaml
  when they beat the suite's own setting (trial 0) on per-user validation, paired t-test p < .05;
  from then on `python -m bench run` uses them for that pair and budget (rerun over the suite's seeds), and
  records say so. The leaderboard only ever reads suite runs, never trial records.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import records, registry
from bench.config import to_dict
from bench.errors import ConfigError, did_you_mean
from bench.io import atomic_write_bytes
from bench.metrics import higher_is_better
from bench.paths import results_dir as default_results_dir
from bench.paths import safe_name
from bench.suites import Suite, resolve_system
from bench.tuned import tuned_path

SIGNIFICANCE = 0.05  # a frozen setting must beat the suite's own on validation at this level (paired t-test)

KINDS = ("log", "float", "int", "choice")


@dataclass(frozen=True)
class SweepTarget:
    suite: Suite
    tokenizer: str | None
    recommender: str
    budget: str
    tune: tuple[str, ...] = ("recommender", "tokenizer")  # whose search spaces the trials sample

    @property
    def system(self) -> str:
        return f"{self.tokenizer}+{self.recommender}" if self.tokenizer else self.recommender

    def default_study(self) -> str:
        return f"{self.suite.name}.{self.system}.{self.budget}"


def sweep_target(suite: Suite, tokenizer: str | None, recommender: str, budget: str, tune: str) -> SweepTarget:
    """What `sweep` tunes, checked: both names are the suite's, a tokenizer exactly when the recommender uses
    semantic IDs, and `tune` a comma list of recommender and tokenizer."""
    for kind, name in (("recommenders", recommender), ("tokenizers", tokenizer)):
        if name is not None and name not in getattr(suite, kind):
            known = list(getattr(suite, kind))
            raise ConfigError(f"'{name}' is not one of the suite's {kind}{did_you_mean(name, known)}")
    uses_sids = registry.get("recommenders", suite.plugin_name("recommenders", recommender)).uses_sids
    if uses_sids != bool(tokenizer):
        raise ConfigError(f"recommender '{recommender}' " + ("needs --tokenizer" if uses_sids else
                                                             "does not use semantic IDs: drop --tokenizer"))
    parts = tuple(part.strip() for part in tune.split(","))
    if not parts or set(parts) - {"recommender", "tokenizer"}:
        raise ConfigError(f"--tune takes recommender, tokenizer or both, got {tune!r}")
    return SweepTarget(suite, tokenizer, recommender, budget, parts)


def summary(study) -> str:
    """'study S: 12 complete, 3 pruned' and the best trial, for the command line."""
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    lines = [f"study {study.study_name}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))]
    if any(t.state.name == "COMPLETE" for t in study.trials):
        metric = study.user_attrs.get("selection_metric", "ndcg@10")
        lines.append(f"best: validation {metric} {study.best_value:.4f} with {study.best_params}")
    return "\n".join(lines)


def search_space(target: SweepTarget) -> dict[str, tuple]:
    """{'recommender.train.lr': ('log', lo, hi), 'tokenizer.train.beta': ('float', lo, hi), ...}"""
    space = {}
    system = resolve_system(target.suite, target.budget, target.tokenizer, target.recommender, use_tuned=False)
    parts = [("recommender", "recommenders", target.recommender)]
    if target.tokenizer:
        parts.append(("tokenizer", "tokenizers", target.tokenizer))
    for prefix, kind, name in parts:
        if prefix not in target.tune:
            continue
        cls = registry.get(kind, target.suite.plugin_name(kind, name))
        config = getattr(system, prefix).config
        for key, spec in cls.search_space_for(config).items():
            if not (isinstance(spec, tuple) and spec and spec[0] in KINDS):
                raise ConfigError(f"{kind} '{name}': search_space['{key}'] must be (kind, ...) with kind in {KINDS}")
            space[f"{prefix}.{key}"] = spec
    if not space:
        raise ConfigError(f"nothing to tune: neither '{target.recommender}' nor '{target.tokenizer}' declares a "
                          f"search_space for --tune {','.join(target.tune)}")
    return space


def current_values(target: SweepTarget, space: dict[str, tuple]) -> dict:
    """The suite's own settings for every tuned key: a study's first trial, so the sweep can only improve on
    what the suite already uses."""
    system = resolve_system(target.suite, target.budget, target.tokenizer, target.recommender, use_tuned=False)
    configs = {"recommender": system.recommender.cls.settings_in_effect(system.recommender.config)}
    if system.tokenizer is not None:
        configs["tokenizer"] = to_dict(system.tokenizer.config)
    values = {}
    for name, spec in space.items():
        prefix, *path = name.split(".")
        node = configs[prefix]
        for part in path:
            node = node[part]
        inside = node in spec[1] if spec[0] == "choice" else spec[1] <= node <= spec[2]
        if not inside:
            continue  # outside the search space: let the sampler pick
        values[name] = node
    return values


def suggest(trial, name: str, spec: tuple):
    kind, *args = spec
    if kind == "log":
        return trial.suggest_float(name, args[0], args[1], log=True)
    if kind == "float":
        return trial.suggest_float(name, args[0], args[1])
    if kind == "int":
        return trial.suggest_int(name, args[0], args[1])
    return trial.suggest_categorical(name, list(args[0]))


def nest(params: dict) -> dict:
    """{'recommender.train.lr': 0.01} -> {'recommender': {'train': {'lr': 0.01}}}"""
    out: dict = {}
    for dotted, value in params.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def default_storage(results: Path | None = None) -> str:
    folder = Path(results or default_results_dir()) / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'studies.db').resolve()}"


def _open_study(name: str, storage: str, seed: int, metric: str, prune_after_epochs: int = 3, attempts: int = 6):
    """Create or join the study; returns (study, created). Workers started together race to create the
    storage's tables and the study: exactly one creates it (the study's name is unique in the storage), the
    losers of that race retry (after a short, growing pause) and then simply join."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(attempts):
        try:
            # several local workers on one SQLite file wait for its lock instead of failing; a worker that is
            # killed stops its heartbeat, and its trial is marked failed instead of running for ever
            engine = {"connect_args": {"timeout": 120}} if storage.startswith("sqlite") else {}
            with warnings.catch_warnings():  # the heartbeat is marked experimental; we rely on it as it is
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                backend = optuna.storages.RDBStorage(storage, engine_kwargs=engine, heartbeat_interval=60,
                                                     grace_period=300)
            direction = "maximize" if higher_is_better(metric) else "minimize"
            pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=prune_after_epochs)
            options = dict(study_name=name, storage=backend, direction=direction, sampler=trial_sampler(seed, 0),
                           pruner=pruner)
            try:
                return optuna.create_study(load_if_exists=False, **options), True
            except optuna.exceptions.DuplicatedStudyError:
                return optuna.create_study(load_if_exists=True, **options), False
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _enqueue_suite_setting(study, created: bool, setting: dict, wait_s: float = 30.0) -> None:
    """The suite's own setting is the study's first trial, enqueued once. Only the worker that created the
    study enqueues it: two workers that each checked "no trials yet" and enqueued ran it twice. A worker that
    joins an empty study waits for the creator's trial to appear, and enqueues it itself only if the creator
    never does (it was killed in between), so a resumed empty study still starts from the suite's setting."""
    if created:
        study.enqueue_trial(setting)
        return
    deadline = time.monotonic() + wait_s
    while not study.get_trials(deepcopy=False) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(setting, skip_if_exists=True)


def trial_sampler(seed: int, trial_number: int):
    """The TPE sampler for one trial, seeded by (sweep seed, trial number). One sampler seeded once per worker
    would draw the same first settings in every worker that joins a study (two workers trained one setting
    twice, sharing its checkpoint); seeded per trial, workers never repeat each other, and the random settings
    of TPE's first trials depend on the seed and the trial's number alone, however many workers run."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed * 1_000_003 + trial_number)


def run_sweep(target: SweepTarget, trials: int, storage: str | None, study_name: str | None, device: str,
              seed: int = 0, results: Path | None = None, dataset_path: str | None = None, threads: int | None = None):
    """Run trials until the study has `trials` finished ones; returns the study."""
    import optuna

    from bench.data import load_dataset
    from bench.progress import log

    if trials < 1:
        raise ConfigError("--trials must be at least 1")
    from bench.protocol import make_split
    from bench.job import run_job
    from bench.plan import Job, suite_key

    results = Path(results or default_results_dir())
    storage = storage or default_storage(results)
    study_name = safe_name(study_name or target.default_study(), "--study", plus=True)  # it names a folder under sweeps/
    space = search_space(target)
    recommender = registry.get("recommenders", target.suite.plugin_name("recommenders", target.recommender))
    study, created = _open_study(study_name, storage, seed, target.suite.selection_metric,
                                 recommender.prune_after_epochs)
    for path in records.remove_stale_locks(results / "sweeps" / study_name):
        log(f"removed {path}: its trial's worker was killed")
    _enqueue_suite_setting(study, created, current_values(target, space))
    study.set_user_attr("suite", target.suite.name)
    study.set_user_attr("system", target.system)
    study.set_user_attr("budget", target.budget)
    study.set_user_attr("selection_metric", target.suite.selection_metric)
    dataset = load_dataset(target.suite.dataset, dataset_path)
    split = make_split(dataset, target.suite.protocol)
    key = suite_key(target.suite, dataset, dataset_path)
    run_seed = target.suite.seeds[0]
    metric = target.suite.selection_metric

    def objective(trial):
        study.sampler = trial_sampler(seed, trial.number)  # before the first suggest: settings are drawn there
        params = {name: suggest(trial, name, spec) for name, spec in space.items()}
        system = resolve_system(target.suite, target.budget, target.tokenizer, target.recommender, trial=nest(params))

        def on_eval(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation {metric} {score:.4f})")

        folder = results / "sweeps" / study_name / f"trial-{trial.number:04d}"
        job = Job(target.recommender, target.tokenizer, run_seed)
        _, record = run_job(job, system, target.budget, device, dataset, split, folder, key, replace="all",
                            on_eval=on_eval, threads=threads, evaluate_test=False)
        score = record["metrics"]["valid"][metric]
        log(f"trial {trial.number}: validation {metric} {score:.4f} with {params}")
        return score

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished)],
                   n_trials=trials, gc_after_trial=True)
    return study


def _per_user_validation(folder: Path, metric: str):
    """A finished trial's per-user validation metric, from the record it wrote in its trial folder (None where
    this machine has no such record: the trial ran elsewhere)."""
    found = sorted(folder.rglob("seed*.json")) if folder.is_dir() else []
    if len(found) != 1:
        return None
    record = records.read_record(found[0])
    per_user = records.read_per_user(found[0], record)  # computed from its ranked lists where it kept them
    return per_user.get(f"valid.{metric}")


def _gain_over_suite_setting(target: SweepTarget, study, study_name: str, results: Path | None) -> dict:
    """The best trial against the study's trial 0 (the suite's own setting) on per-user validation: a paired
    t-test, as the leaderboard compares systems. A sweep's best of many trials is partly luck (on SASRec the
    best, +1% NDCG@10 with p = .53, tested 4% below the suite's setting), so only a significant gain is kept."""
    from bench.stats import paired_comparison

    metric = target.suite.selection_metric
    best, first = study.best_trial, study.trials[0]
    if first.state.name != "COMPLETE":
        raise ConfigError(f"study '{study_name}': trial 0 (the suite's setting) did not finish, so nothing shows "
                          "the best trial is better than it; `--freeze --force` freezes it anyway")
    folder = Path(results or default_results_dir()) / "sweeps" / study_name
    arrays = [_per_user_validation(folder / f"trial-{t.number:04d}", metric) for t in (best, first)]
    if any(a is None for a in arrays):
        raise ConfigError(f"study '{study_name}': the per-user records of trials {best.number} and 0 are not under "
                          f"{folder}; copy them there from the machines that ran them, or `--freeze --force`")
    comparison = paired_comparison(*arrays)
    delta, p_value = comparison.mean_difference, comparison.p_value
    return {"against_trial": first.number, "delta": round(delta, 6), "p_value": round(p_value, 6),
            "significant": (delta > 0) == higher_is_better(metric) and delta != 0 and p_value < SIGNIFICANCE}


def freeze(target: SweepTarget, storage: str | None, study_name: str | None, results: Path | None = None,
           force: bool = False) -> Path:
    """Write the study's best trial as the pair's tuned configuration for this budget, if it is significantly
    better on validation than the suite's own setting (or `force`)."""
    import optuna

    study_name = study_name or target.default_study()
    try:
        study = optuna.load_study(study_name=study_name, storage=storage or default_storage(results))
        best = study.best_trial
    except (KeyError, ValueError) as err:
        raise ConfigError(f"study '{study_name}' has no finished trial to freeze ({err})") from None
    metric = target.suite.selection_metric
    if best.number == study.trials[0].number:
        raise ConfigError(f"study '{study_name}': the best trial is trial 0, the suite's own setting; "
                          "nothing to freeze")
    gain = None if force else _gain_over_suite_setting(target, study, study_name, results)
    if gain is not None and not gain["significant"]:
        base = study.trials[0].value
        raise ConfigError(
            f"study '{study_name}': best trial {best.number} (validation {metric} {best.value:.4f}) against the "
            f"suite's setting (trial 0, {base:.4f}): {gain['delta']:+.4f}, paired t-test p = {gain['p_value']:.2g}, "
            f"not a significant gain (p < {SIGNIFICANCE}); the suite's setting stays. `--freeze --force` freezes "
            "it anyway")
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    data = {"suite": target.suite.name, "system": target.system, "budget": target.budget, "study": study_name,
            "trial": best.number, "trials_complete": len(finished),
            "objective": {f"validation {metric}": round(best.value, 6)},
            "against_suite_setting": gain if gain is not None else "not compared (--force)",
            "overrides": nest(best.params)}
    path = tuned_path(target.suite.name, target.system, target.budget)
    header = ("# Frozen by `python -m bench sweep --freeze`: the best trial of the study below. `python -m bench run`\n"
              "# uses these settings for this system at this budget; delete the file to go back to the suite's.\n")
    atomic_write_bytes(path, (header + yaml.safe_dump(data, sort_keys=False)).encode())
    return path
