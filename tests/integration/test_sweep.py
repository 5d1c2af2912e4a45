"""Sweeps for real: two worker processes on one study (SQLite, and a throwaway PostgreSQL server), every
trial finished once with its own record, pruning, freezing, and the frozen settings used by `run`."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bench import records
from tests.conftest import REPO
from tests.unit.test_records import minimal_record

TOY = '''
"""A quick recommender with a search space: popularity with `shift` items skipped; reports fake epochs."""
from dataclasses import dataclass
import numpy as np
from bench.recommender import FitInfo, Recommender, register_recommender


@register_recommender("toy")
class Toy(Recommender):
    search_space = {"shift": ("int", 0, 6), "noise": ("float", 0.0, 1.0)}

    @dataclass(frozen=True)
    class Config:
        shift: int = 3
        noise: float = 0.5

    def fit(self, split, sids, seed):
        counts = np.bincount(split.train_items, minlength=split.n_items)
        self.ranking = np.roll(np.argsort(-counts, kind="stable"), -self.config.shift)
        for epoch in (1, 2, 3):
            if self.context.on_eval:
                self.context.on_eval(epoch, 0.1 / (1 + self.config.shift) - 0.01 * self.config.noise * epoch)
        return FitInfo(epochs=3)

    def recommend(self, examples, k):
        return np.broadcast_to(self.ranking[:k], (len(examples), k)).copy()
'''

SUITE = """
name: toy-suite
dataset: tiny
seeds: [0]
recommenders:
  toy: {}
"""


@pytest.fixture
def toy(tmp_path):
    plugin = tmp_path / "toy.py"
    plugin.write_text(TOY)
    suite = tmp_path / "toy-suite.yaml"
    suite.write_text(SUITE)
    return plugin, suite


def sweep(plugin, suite, *args):
    return subprocess.Popen([sys.executable, "-m", "bench", "--plugin", str(plugin), "sweep", "--suite", str(suite),
                             "--recommender", "toy", "--budget", "smoke", "--device", "cpu", *args],
                            cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def two_workers(plugin, suite, *args):
    workers = [sweep(plugin, suite, *args) for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    return outputs


def check_study(storage: str, study: str, wanted: int, results: Path):
    import optuna

    trials = optuna.load_study(study_name=study, storage=storage).trials
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # none lost, none duplicated
    assert wanted <= len(trials) <= wanted + 1  # a second worker may start one last trial as the first ends
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    # no setting runs twice: neither a sampled one (each worker seeded alike drew the same ones) nor the suite's
    # own (both workers found the study empty and each enqueued it), and the suite's setting is trial 0
    settings = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(settings)) == len(settings), "two workers trained the same settings"
    assert trials[0].params == {"recommender.shift": 3, "recommender.noise": 0.5}
    folders = sorted(p.name for p in (results / "sweeps" / study).iterdir())
    complete = sorted(t.number for t in trials if t.state.name == "COMPLETE")
    assert folders == [f"trial-{n:04d}" for n in complete]  # each finished trial wrote its own record
    for trial in trials:
        if trial.state.name == "COMPLETE":
            record = next((results / "sweeps" / study / f"trial-{trial.number:04d}").rglob("seed0.json"))
            metrics = json.loads(record.read_text())["metrics"]
            assert metrics["valid"]["ndcg@10"] == pytest.approx(trial.value)
            assert "test" not in metrics  # a trial is chosen on validation; test is never computed for it
    return trials


def test_the_suite_setting_is_enqueued_once_when_two_workers_open_an_empty_study(tmp_path):
    """The joining worker finds the study empty before the creator has enqueued anything. Before the fix each
    worker checked "no trials yet" and then enqueued, so two workers checking at the same instant both did and
    the suite's setting ran twice; now only the creator enqueues, and the joiner waits for its trial."""
    import threading

    from bench.sweep import _enqueue_suite_setting, _open_study

    storage = f"sqlite:///{tmp_path / 'race.db'}"
    creator, created = _open_study("race", storage, seed=0, metric="ndcg@10")
    joiner, joined_as_creator = _open_study("race", storage, seed=0, metric="ndcg@10")
    assert created and not joined_as_creator
    setting = {"recommender.shift": 3}
    waiting = threading.Thread(target=_enqueue_suite_setting, args=(joiner, False, setting))
    waiting.start()
    time.sleep(0.5)  # the joiner has looked at the empty study and is waiting
    assert creator.get_trials() == []  # ... without enqueueing: only one worker ever can, so the race is gone
    _enqueue_suite_setting(creator, True, setting)
    waiting.join(timeout=60)
    trials = creator.get_trials()
    assert [t.params for t in trials] == [{}] and [t.system_attrs["fixed_params"] for t in trials] == [setting]

    alone, _ = _open_study("empty", storage, seed=0, metric="ndcg@10")  # its creator died before enqueueing
    _enqueue_suite_setting(alone, False, setting, wait_s=0.5)
    assert [t.system_attrs["fixed_params"] for t in alone.get_trials()] == [setting]


@pytest.mark.slow
def test_two_workers_share_a_sqlite_study_then_freeze_and_rerun(toy, tmp_path):
    plugin, suite = toy
    results = Path(os.environ["SID_BENCH_RESULTS"])
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    two_workers(plugin, suite, "--trials", "8", "--storage", storage, "--study", "lite")
    trials = check_study(storage, "lite", 8, results)
    assert any(t.state.name == "PRUNED" for t in trials) or len({t.params["recommender.shift"] for t in trials}) > 1

    def freeze(*extra):
        return subprocess.run([sys.executable, "-m", "bench", "--plugin", str(plugin), "sweep", "--suite", str(suite),
                               "--recommender", "toy", "--budget", "smoke", "--storage", storage, "--study", "lite",
                               "--freeze", *extra], cwd=REPO, capture_output=True, text=True, timeout=300)

    # freezing keeps the best trial only if it beats the suite's setting (trial 0) on per-user validation
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert best.number != 0
    trial_records = [next((results / "sweeps" / "lite" / f"trial-{n:04d}").rglob("seed*.json")) for n in (best.number, 0)]
    per_user = [records.read_per_user(path, records.read_record(path))["valid.ndcg@10"] for path in trial_records]
    significant = per_user[0].mean() > per_user[1].mean() and stats.ttest_rel(*per_user).pvalue < 0.05
    tuned = Path(os.environ["SID_BENCH_TUNED"]) / "toy-suite" / "toy.smoke.yaml"
    frozen = freeze()
    assert (frozen.returncode == 0) == significant, frozen.stderr
    if not significant:
        assert "not a significant gain" in frozen.stderr and not tuned.exists()
        frozen = freeze("--force")
        assert frozen.returncode == 0, frozen.stderr
    text = tuned.read_text()
    assert f"trial: {best.number}" in text and "overrides:" in text
    assert "against_suite_setting:" in text

    run = subprocess.run([sys.executable, "-m", "bench", "--plugin", str(plugin), "run", "--suite", str(suite),
                          "--budget", "smoke", "--device", "cpu"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    record = json.loads(next((results / "runs" / "toy-suite").rglob("seed0.json")).read_text())
    assert record["recommender"]["config"]["shift"] == best.params["recommender.shift"]
    assert record["recommender"]["tuned"].endswith("toy-suite/toy.smoke.yaml")
    assert record["metrics"]["valid"]["ndcg@10"] == pytest.approx(best.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on a loopback port, removed afterwards (Debian's `postgresql` binaries)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: `sudo apt-get install postgresql` "
                    "(Debian's package; .ci/run installs it when missing)")
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    for command in ([*as_user, initdb, "-D", str(data), "-U", "bench", "--auth=trust", "-E", "UTF8"],
                    [*as_user, pg_ctl, "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                     f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:  # say what the server said, not a bare CalledProcessError
            log = (folder / "log").read_text()[-1500:] if (folder / "log").is_file() else ""
            pytest.fail(f"a throwaway PostgreSQL server did not start ({Path(command[len(as_user)]).name}): "
                        f"{done.stderr[-1500:]}{log}")
    try:
        yield f"postgresql+psycopg2://bench@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(toy, postgres):
    plugin, suite = toy
    results = Path(os.environ["SID_BENCH_RESULTS"])
    two_workers(plugin, suite, "--trials", "8", "--storage", postgres, "--study", "shared")
    check_study(postgres, "shared", 8, results)


def test_sweep_refuses_what_cannot_be_tuned(toy):
    plugin, suite = toy
    result = subprocess.run([sys.executable, "-m", "bench", "sweep", "--suite", "tiny", "--recommender", "popularity",
                             "--budget", "smoke"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "nothing to tune" in result.stderr
    result = subprocess.run([sys.executable, "-m", "bench", "sweep", "--suite", "tiny", "--recommender", "tiger",
                             "--budget", "smoke"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "needs --tokenizer" in result.stderr


def test_a_new_study_starts_from_the_suites_own_settings():
    from bench.suites import load_suite
    from bench.sweep import SweepTarget, current_values, search_space

    target = SweepTarget(load_suite("amazon-beauty"), "rqvae", "tiger", "cpu", ("recommender",))
    space = search_space(target)
    assert all(name.startswith("recommender.") for name in space)  # --tune recommender: rqvae is left alone
    values = current_values(target, space)
    assert values["recommender.train.lr"] == 0.002 and values["recommender.model.dropout"] == 0.0
    outside = {**space, "recommender.train.batch_size": ("choice", [64, 128])}  # the suite's 256 is not offered
    assert "recommender.train.batch_size" not in current_values(target, outside)


@pytest.mark.parametrize("entry, dropout_keys", [("sasrec", ["hidden_dropout_prob", "attn_dropout_prob"]),
                                                 ("gru4rec", ["dropout_prob"])])
def test_recbole_sweeps_tune_each_models_own_settings_from_recboles_defaults(entry, dropout_keys):
    """A RecBole model's dropout has its own name per model; the first trial is what the suite runs today,
    which for settings the suite leaves unset is RecBole's own default (SASRec: hidden 64, dropout 0.5)."""
    from bench.suites import load_suite
    from bench.sweep import SweepTarget, current_values, search_space

    target = SweepTarget(load_suite("amazon-beauty"), None, entry, "cpu", ("recommender",))
    space = search_space(target)
    assert {f"recommender.params.{key}" for key in dropout_keys} <= set(space)
    values = current_values(target, space)
    assert set(values) == set(space)  # every tuned key starts from the suite's setting
    assert values["recommender.params.hidden_size"] == {"sasrec": 64, "gru4rec": 128}[entry]
    assert values[f"recommender.params.{dropout_keys[0]}"] == {"sasrec": 0.5, "gru4rec": 0.3}[entry]


def test_the_pruner_only_records_the_epochs_before_the_plugins_warm_up(tmp_path):
    """A slow start is not a bad end: with the warm-up at 1 epoch a SASRec sweep pruned 9 of its first 12
    trials, 7 after 1-2 epochs. Scores before `prune_after_epochs` never prune; from it on, a trial below the
    median does."""
    import optuna

    from bench import registry
    from bench.sweep import _open_study

    recbole = registry.get("recommenders", "recbole")
    study, _ = _open_study("warm", f"sqlite:///{tmp_path / 'warm.db'}", seed=0, metric="ndcg@10",
                           prune_after_epochs=recbole.prune_after_epochs)
    for _ in range(3):  # the pruner's startup trials: complete ones, good at every epoch
        trial = study.ask()
        for epoch in range(1, 21):
            trial.report(0.05, epoch)
        study.tell(trial, 0.05)
    slow = study.ask()
    verdicts = []
    for epoch in range(1, 12):
        slow.report(0.01, epoch)
        verdicts.append(slow.should_prune())
    assert recbole.prune_after_epochs == 10
    assert verdicts == [False] * 9 + [True, True]  # epochs 1-9 are only recorded
    study.tell(slow, state=optuna.trial.TrialState.PRUNED)


@pytest.mark.parametrize("lift, freezes", [(0.0005, False), (0.02, True)])
def test_freeze_keeps_only_a_significant_gain_over_the_suite_setting(tmp_path, lift, freezes):
    """A best-of-many trial is partly luck: on SASRec the best (+1% validation NDCG@10, p = .53) tested 4%
    below the suite's setting. Freezing needs a significant paired gain over trial 0; --force skips the test."""
    from types import SimpleNamespace

    import optuna

    from bench.errors import ConfigError
    from bench.sweep import freeze

    rng = np.random.default_rng(0)
    base = rng.random(5000) * 0.1
    storage = f"sqlite:///{tmp_path / 'f.db'}"
    study = optuna.create_study(study_name="f", storage=storage, direction="maximize")
    noise = rng.normal(0, 0.05, base.size)
    for number, values in enumerate([base, base + lift + noise - noise.mean()]):  # paired t = 0.7 or 28
        trial = study.ask({"recommender.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)})
        path = tmp_path / "sweeps" / "f" / f"trial-{number:04d}" / "runs" / "seed0.json"
        path.parent.mkdir(parents=True)
        record = minimal_record()  # a trial's record with these per-user validation values
        record["per_user"]["users"] = len(values)
        record["metrics"] = {"valid": {"ndcg@10": float(values.mean(dtype=np.float64))}}
        records.write_run(path, record, {"users": np.arange(len(values)), "valid.ndcg@10": values})
        study.tell(trial, float(values.mean()))
    suite = SimpleNamespace(name="s", selection_metric="ndcg@10")
    target = SimpleNamespace(suite=suite, system="x", budget="cpu", default_study=lambda: "f")
    tuned = Path(os.environ["SID_BENCH_TUNED"]) / "s" / "x.cpu.yaml"
    if freezes:
        assert freeze(target, storage, "f", tmp_path) == tuned and "significant: true" in tuned.read_text()
        return
    with pytest.raises(ConfigError, match="not a significant gain"):
        freeze(target, storage, "f", tmp_path)
    assert not tuned.exists()
    freeze(target, storage, "f", tmp_path, force=True)
    assert "not compared (--force)" in tuned.read_text()
