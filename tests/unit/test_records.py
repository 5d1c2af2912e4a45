import copy
import json
import os
import stat

import numpy as np
import pytest

from bench import records
from bench.cache import Cache
from bench.errors import BenchError
from bench.io import atomic_write_json
from tests.conftest import REPO


def minimal_record() -> dict:
    return {
        "schema_version": 2, "run_id": "0123456789abcdef", "created_at": "2026-11-25T08:00:00Z",
        "suite": {"name": "tiny", "version": 1, "budget": "smoke"}, "system": "popularity", "tokenizer": None,
        "recommender": {"name": "popularity", "version": 1, "config": {}, "config_hash": "0123456789abcdef",
                        "seed": 0},
        "seeds": {"run": 0, "tokenizer": None, "recommender": 0},
        "dataset": {"name": "tiny", "files": {"interactions.tsv": "a" * 64}, "users": 3, "items": 4,
                    "interactions": 9, "order_source": "seq_idx"},
        "protocol": {"split": "loo", "ranking": "full", "max_history": 20, "cutoffs": [5, 10], "hash": "x",
                     "evaluated_users": 3, "train_examples": 3},
        "training": {"epochs": 0}, "timing": {"fit_s": 0.1, "total_s": 0.2},
        "metrics": {"valid": {"recall@5": 0.5}, "test": {"recall@5": 0.25}},
        "per_user": {"users": 3},
        "provenance": {"bench_version": "0.1.0", "git_sha": None, "git_dirty": None, "python": "3.11",
                       "packages": {}, "device": "cpu"},
    }


def per_user() -> dict:
    """Per-user values whose means are minimal_record's summary."""
    return {"users": np.arange(3), "valid.recall@5": np.array([0.5, 1.0, 0.0]), "test.recall@5": np.array([0, 0.75, 0])}


def test_write_read_round_trip(tmp_path):
    path = records.record_path(tmp_path, "tiny", "smoke", "popularity", 0)
    records.write_run(path, minimal_record(), per_user())
    record = records.read_record(path)
    assert record["per_user"]["file"] == "seed0.per_user.npz"
    assert records.read_per_user(path, record)["test.recall@5"].tolist() == [0, 0.75, 0]
    assert records.is_complete(path, "0123456789abcdef")
    assert not records.is_complete(path, "fedcba9876543210")  # another run id: settings changed
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_version_1_record_of_the_same_run_is_replaced_only_by_replace_stale(tmp_path):
    """A v1 record (no ranked lists) is read and ranked, but is not the record the current code would write:
    `existing` says why, so `run` refuses to overwrite it and `run --replace-stale` reruns it to keep the lists."""
    path = records.record_path(tmp_path, "tiny", "smoke", "popularity", 0)
    records.write_run(path, {**minimal_record(), "schema_version": 1}, per_user())
    assert records.read_verified(path)[0]["schema_version"] == 1
    assert records.existing(path, "0123456789abcdef") == records.NO_RANKED_LISTS
    assert not records.is_complete(path, "0123456789abcdef")


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r.pop("provenance"), "provenance"),
    (lambda r: r.update(schema_version=3), "schema_version"),
    (lambda r: r["metrics"]["test"].update({"recall@5": -0.5}), "metrics.test.recall@5"),
    (lambda r: r["metrics"]["test"].update({"hits": 0.1}), "metrics.test"),
    (lambda r: r["suite"].update(budget="huge"), "suite.budget"),
])
def test_schema_rejects_bad_records(mutate, where):
    record = copy.deepcopy(minimal_record())
    mutate(record)
    with pytest.raises(BenchError, match=where.replace(".", r"\.")):
        records.validate(record)


def test_damaged_side_file_is_detected(tmp_path):
    path = records.record_path(tmp_path, "tiny", "smoke", "popularity", 0)
    records.write_run(path, minimal_record(), {"users": np.arange(3)})
    records.per_user_path(path).write_bytes(b"garbage")
    with pytest.raises(BenchError, match="sha256 differs"):
        records.read_per_user(path, records.read_record(path))
    assert not records.is_complete(path, "0123456789abcdef")


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_cache_is_content_addressed(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(4)}, {"note": "made"}

    arrays, meta, hit = cache.get_or_compute("emb", 1, {"data": "h1", "model": "m"}, compute)
    assert not hit and arrays["x"].tolist() == [0, 1, 2, 3]
    arrays, meta, hit = cache.get_or_compute("emb", 1, {"model": "m", "data": "h1"}, compute)
    assert hit and meta["note"] == "made" and len(calls) == 1
    cache.get_or_compute("emb", 1, {"data": "h2", "model": "m"}, compute)  # new input: recomputed
    cache.get_or_compute("emb", 2, {"data": "h1", "model": "m"}, compute)  # new stage version: recomputed
    assert len(calls) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_arrays", "bad_json"])
def test_a_damaged_cache_entry_is_reported_and_computed_again(tmp_path, damage, capsys):
    """Issue 18.4: a truncated npz (BadZipFile), garbage, a valid npz of other content, or broken metadata
    never poisons later runs."""
    cache = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(4)}, {"note": "made"}

    cache.get_or_compute("emb", 1, {"data": "h1"}, compute)
    arrays_path, meta_path = cache._paths(cache.key("emb", 1, {"data": "h1"}))
    if damage == "truncate":
        arrays_path.write_bytes(arrays_path.read_bytes()[:40])
    elif damage == "garbage":
        arrays_path.write_bytes(b"PK\x03\x04 not a zip at all")
    elif damage == "other_arrays":
        np.savez(arrays_path, x=np.arange(9))  # a readable zip that is not what was stored
    else:
        meta_path.write_text("{not json")
    arrays, meta, hit = cache.get_or_compute("emb", 1, {"data": "h1"}, compute)
    assert not hit and len(calls) == 2 and arrays["x"].tolist() == [0, 1, 2, 3]
    assert "damaged entry" in capsys.readouterr().err
    arrays, meta, hit = cache.get_or_compute("emb", 1, {"data": "h1"}, compute)  # repaired: a hit again
    assert hit and len(calls) == 2 and meta["note"] == "made"


def test_git_state_is_pinned_at_the_start_for_worker_processes(monkeypatch):
    """A record names the checkout as the run found it: workers (other processes) read the pinned state, not
    the tree as it is when their job ends."""
    import subprocess
    import sys

    from bench import provenance

    monkeypatch.delenv(provenance.GIT_STATE_ENV, raising=False)
    provenance.git_state.cache_clear()
    try:
        provenance.pin_git_state()
        sha, dirty = provenance.git_state()
        monkeypatch.setenv(provenance.GIT_STATE_ENV, "0123abcd 0")  # as a worker started before an edit sees it
        code = "from bench.provenance import provenance; p = provenance('cpu'); print(p['git_sha'], p['git_dirty'])"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["0123abcd", "False"]
        assert sha is None or len(sha) == 40
    finally:
        provenance.git_state.cache_clear()


def test_an_edited_summary_is_refused_everywhere(tmp_path):
    """A record whose summary its per-user values contradict is never believed (issue 18.2)."""
    path = records.record_path(tmp_path, "tiny", "smoke", "popularity", 0)
    records.write_run(path, minimal_record(), per_user())
    assert records.existing(path, "0123456789abcdef") == ""
    forged = json.loads(path.read_text())
    forged["metrics"]["test"]["recall@5"] = 0.9
    path.write_text(json.dumps(forged))
    with pytest.raises(BenchError, match="does not match the per-user metrics"):
        records.read_verified(path)
    assert "does not match" in records.existing(path, "0123456789abcdef")
    assert not records.is_complete(path, "0123456789abcdef")


def test_a_job_lock_is_held_by_one_runner_and_a_dead_owners_lock_is_taken_over(tmp_path, dead_pid):
    """Issue 18.5: one runner per job; a lock left by a killed runner does not block the job forever."""
    import socket

    record = tmp_path / "runs" / "s" / "cpu" / "popularity" / "seed0.json"
    record.parent.mkdir(parents=True)
    first, second = records.JobLock(record), records.JobLock(record)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": records.process_start(os.getpid())}
    assert first.acquire() and first.owner() == me
    assert not second.acquire()  # the owner (this very process) is alive
    first.release()
    assert not first.path.exists() and second.acquire()
    second.release()

    first.path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid}))
    assert second.acquire()  # stale: its process has exited
    second.release()
    first.path.write_text(json.dumps({"host": "another-machine", "pid": 1}))
    assert not second.acquire()  # another host's lock cannot be checked, so it is trusted
    first.path.write_text("garbage")
    assert second.acquire()  # an unreadable lock is no one's
    second.release()
    fresh = records.JobLock(tmp_path / "new" / "deep" / "seed0.json")
    assert fresh.acquire() and fresh.path.parent.is_dir()
    fresh.release()  # nothing was written: the folders it made are gone again
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(records.process_start(os.getpid()) is None, reason="no /proc: locks go by pid alone here")
def test_a_lock_whose_pid_now_names_another_process_is_taken_over(tmp_path):
    """After a restart a killed runner's pid can belong to a live, unrelated process: the lock's start time
    tells them apart, so the job is not skipped forever as "another runner has it"."""
    import socket

    record = tmp_path / "seed0.json"
    lock = records.JobLock(record)
    alive = {"host": socket.gethostname(), "pid": os.getpid()}  # a live pid: this very process
    lock.path.write_text(json.dumps({**alive, "started": records.process_start(os.getpid())}))
    assert not lock.acquire()  # its owner, as it started: alive
    lock.path.write_text(json.dumps({**alive, "started": "another-boot:123"}))
    assert lock.acquire() and lock.owner() == lock.me  # the same pid, another process: taken over
    lock.release()
    lock.path.write_text(json.dumps(alive))  # a lock written before locks held a start: by its pid alone
    assert not lock.acquire()


def test_the_committed_schema_is_generated_from_the_record_types():
    """Issue 14.4: the record's JSON Schema is written once, as dataclasses (bench.record_types)."""
    from bench.record_types import schema_text

    assert records.SCHEMA_PATH.read_text() == schema_text(), "run `python -m bench.record_types`"


def test_record_types_schema_refuses_what_the_types_forbid():
    import copy

    good = json.loads(next(p for p in sorted((REPO / "results" / "runs" / "tiny").rglob("seed0.json"))
                           if "tiger" in str(p)).read_text())
    records.validate(good)
    for path, value in [(("training", "precision"), "fp16"), (("training", "encoder_input"), "pixels"),
                        (("suite", "budget"), "huge"), (("seeds", "extra"), 1), (("timing", "fit_s"), -1.0),
                        (("training", "beam_size"), 0)]:
        bad = copy.deepcopy(good)
        bad[path[0]][path[1]] = value
        with pytest.raises(BenchError, match="does not match the record schema"):
            records.validate(bad)


def test_decoding_setup_is_read_from_a_record():
    from bench.record_types import DecodingSetup

    assert DecodingSetup.from_training({"epochs": 3}) is None
    setup = DecodingSetup.from_training({"epochs": 3, "encoder_input": "item_sum", "beam_size": 20, "steps": 9})
    assert setup == DecodingSetup("item_sum", 20, True, "hashed")


def test_higher_is_better_drives_the_comparison():
    from bench import metrics

    assert metrics.higher_is_better("ndcg@10") and metrics.better("recall@5", 0.2, 0.1)
    assert metrics.better("ndcg@10", 0.0, None) and not metrics.better("ndcg@10", 0.1, 0.1)


def test_stale_locks_of_killed_sweep_trials_are_removed_and_live_ones_kept(tmp_path, dead_pid):
    host = records.JobLock(tmp_path / "x.json").me["host"]
    killed = tmp_path / "study" / "trial-0003" / "runs" / "s" / "cpu" / "toy" / "seed0.json.lock"
    running = tmp_path / "study" / "trial-0004" / "runs" / "s" / "cpu" / "toy" / "seed0.json.lock"
    for path, pid in ((killed, dead_pid), (running, os.getpid())):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"host": host, "pid": pid}))
    assert records.remove_stale_locks(tmp_path / "study") == [killed]
    assert not (tmp_path / "study" / "trial-0003").exists()  # the folders it left empty went with it
    assert running.exists()


def test_atomic_write_gives_the_umask_mode_not_mkstemps_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "record.json").stat().st_mode) == 0o644


def test_a_killed_runners_takeover_guard_and_private_files_go_with_its_lock(tmp_path, dead_pid):
    """A runner killed mid-acquire leaves its private file (and maybe a takeover guard) beside the lock;
    they name their owner too, so a dead one's are stale, while a private file still being written stays."""
    host = records.JobLock(tmp_path / "x.json").me["host"]
    trial = tmp_path / "study" / "trial-0001"
    trial.mkdir(parents=True)
    guard, private = trial / "seed0.json.lock.takeover", trial / f".seed0.json.lock.{dead_pid}.0a1b2c3d"
    for path in (guard, private):
        path.write_text(json.dumps({"host": host, "pid": dead_pid}))
    being_written = tmp_path / "study" / "trial-0002" / f".seed0.json.lock.{os.getpid()}.00ff00ff"
    being_written.parent.mkdir()
    being_written.write_text("")
    assert sorted(records.remove_stale_locks(tmp_path / "study")) == sorted([guard, private])
    assert not trial.exists() and being_written.exists()
