"""Optuna sweeps over a (tokenizer, recommender) pair of a suite, and frozen tuned configurations.

- Search spaces live next to each plugin's config (`search_space` on the class); a trial samples both the
  tokenizer's (`tokenizer.*`) and the recommender's (`recommender.*`) and runs one job of the suite with them
  at the chosen budget and the suite's first seed. Objective: validation NDCG@10 (never the test split).
- Seeded TPE sampler; a median pruner fed by the recommender's per-epoch validation scores.
- Storage: a SQLite file in results/sweeps/ by default (nothing to start); `--storage postgresql://...` lets
  any number of workers on any number of machines share one study, each running the same command. The
  study stops at `trials` finished (complete or pruned) trials in total, however many workers pull from it.
- Every trial writes its own record under results/sweeps/<study>/trial-<n>/, so workers never share a file.
- `freeze` writes the best trial's settings to suites/tuned/<suite>/<tokenizer>+<recommender>.<budget>.yaml;
  from then on `python -m bench run` uses them for that pair and budget (rerun over the suite's seeds), and
  records say so. The leaderboard only ever reads suite runs, never trial records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import registry
from bench.config import to_dict
from bench.errors import ConfigError
from bench.io import atomic_write_bytes
from bench.paths import project_root, tuned_dir
from bench.paths import results_dir as default_results_dir
from bench.suites import Suite, deep_merge

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


def search_space(target: SweepTarget) -> dict[str, tuple]:
    """{'recommender.train.lr': ('log', lo, hi), 'tokenizer.train.beta': ('float', lo, hi), ...}"""
    space = {}
    parts = [("recommender", "recommenders", target.recommender)]
    if target.tokenizer:
        parts.append(("tokenizer", "tokenizers", target.tokenizer))
    for prefix, kind, name in parts:
        if prefix not in target.tune:
            continue
        cls = registry.get(kind, target.suite.plugin_name(kind, name))
        for key, spec in cls.search_space.items():
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
    configs = {"recommender": to_dict(target.suite.plugin_config("recommenders", target.recommender, target.budget))}
    if target.tokenizer:
        configs["tokenizer"] = to_dict(target.suite.plugin_config("tokenizers", target.tokenizer, target.budget))
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


def tuned_path(suite_name: str, system: str, budget: str) -> Path:
    return tuned_dir() / suite_name / f"{system}.{budget}.yaml"


def load_tuned(suite_name: str, system: str, budget: str) -> tuple[dict, str] | None:
    """({'tokenizer': {...}, 'recommender': {...}}, path) when a frozen configuration exists."""
    path = tuned_path(suite_name, system, budget)
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    overrides = data.get("overrides")
    if not isinstance(overrides, dict) or set(overrides) - {"tokenizer", "recommender"}:
        raise ConfigError(f"{path}: 'overrides' must map tokenizer/recommender to their settings")
    root = project_root().resolve()
    shown = path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else path
    return overrides, Path(shown).as_posix()


def with_overrides(suite: Suite, target: SweepTarget, overrides: dict) -> Suite:
    """The suite with `overrides` merged into the pair's budget settings (over the budget's own)."""
    import dataclasses

    changed = {}
    for prefix, kind, name in (("tokenizer", "tokenizers", target.tokenizer),
                               ("recommender", "recommenders", target.recommender)):
        if not name or prefix not in overrides:
            continue
        entries = {k: dict(v) for k, v in getattr(suite, kind).items()}
        entry = entries[name]
        budgets = dict(entry.get("budgets") or {})
        budgets[target.budget] = deep_merge(budgets.get(target.budget) or {}, overrides[prefix])
        entry["budgets"] = budgets
        changed[kind] = entries
    return dataclasses.replace(suite, **changed)


def _open_study(name: str, storage: str, seed: int, attempts: int = 6):
    """Create or join the study. Workers started together race to create the storage's tables and the study;
    the losers of that race retry (after a short, growing pause) and then simply join."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(attempts):
        try:
            backend = storage
            if storage.startswith("sqlite"):  # several local workers on one file: wait for its lock, do not fail
                backend = optuna.storages.RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 120}})
            return optuna.create_study(study_name=name, storage=backend, direction="maximize", load_if_exists=True,
                                       sampler=optuna.samplers.TPESampler(seed=seed),
                                       pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
        except (SQLAlchemyError, optuna.exceptions.DuplicatedStudyError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def run_sweep(target: SweepTarget, trials: int, storage: str | None, study_name: str | None, device: str,
              seed: int = 0, results: Path | None = None, dataset_path: str | None = None, threads: int | None = None):
    """Run trials until the study has `trials` finished ones; returns the study."""
    import optuna

    from bench.data import load_dataset
    from bench.progress import log
    from bench.protocol import make_split
    from bench.runner import Job, run_job, suite_key

    results = Path(results or default_results_dir())
    storage = storage or default_storage(results)
    study_name = study_name or target.default_study()
    space = search_space(target)
    study = _open_study(study_name, storage, seed)
    if not study.trials:
        study.enqueue_trial(current_values(target, space), skip_if_exists=True)
    study.set_user_attr("suite", target.suite.name)
    study.set_user_attr("system", target.system)
    study.set_user_attr("budget", target.budget)
    dataset = load_dataset(target.suite.dataset, dataset_path)
    split = make_split(dataset, target.suite.protocol)
    key = suite_key(target.suite, dataset)
    run_seed = target.suite.seeds[0]

    def objective(trial):
        params = {name: suggest(trial, name, spec) for name, spec in space.items()}
        suite = with_overrides(target.suite, target, nest(params))

        def on_eval(epoch: int, score: float) -> None:
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation NDCG@10 {score:.4f})")

        folder = results / "sweeps" / study_name / f"trial-{trial.number:04d}"
        job = Job(target.recommender, target.tokenizer, run_seed)
        _, record = run_job(job, suite, target.budget, device, dataset, split, folder, key, force=True,
                            on_eval=on_eval, use_tuned=False, threads=threads, evaluate_test=False)
        score = record["metrics"]["valid"]["ndcg@10"]
        log(f"trial {trial.number}: validation NDCG@10 {score:.4f} with {params}")
        return score

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished)],
                   n_trials=trials, gc_after_trial=True)
    return study


def freeze(target: SweepTarget, storage: str | None, study_name: str | None, results: Path | None = None) -> Path:
    """Write the study's best trial as the pair's tuned configuration for this budget."""
    import optuna

    study_name = study_name or target.default_study()
    try:
        study = optuna.load_study(study_name=study_name, storage=storage or default_storage(results))
        best = study.best_trial
    except (KeyError, ValueError) as err:
        raise ConfigError(f"study '{study_name}' has no finished trial to freeze ({err})") from None
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    data = {"suite": target.suite.name, "system": target.system, "budget": target.budget, "study": study_name,
            "trial": best.number, "trials_complete": len(finished),
            "objective": {"validation ndcg@10": round(best.value, 6)}, "overrides": nest(best.params)}
    path = tuned_path(target.suite.name, target.system, target.budget)
    header = ("# Frozen by `python -m bench sweep --freeze`: the best trial of the study below. `python -m bench run`\n"
              "# uses these settings for this system at this budget; delete the file to go back to the suite's.\n")
    atomic_write_bytes(path, (header + yaml.safe_dump(data, sort_keys=False)).encode())
    return path
