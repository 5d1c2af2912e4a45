"""Issue 18.4 and 18.6: damaged cache entries are generated again, a killed run's temp files are cleaned up,
and a full disk is one message naming the folder, with nothing half-written left behind."""

import errno
import gzip
import os
import time

import pytest

from bench import io
from bench.data import DATASETS, load_dataset
from bench.errors import BenchError


def tiny_folder():
    return DATASETS["tiny"].materialize()


@pytest.mark.parametrize("damage", ["truncate", "garble", "no manifest"])
def test_damaged_synthetic_dataset_is_generated_again(damage):
    folder = tiny_folder()
    reference = load_dataset("tiny")
    target = folder / "interactions.tsv.gz"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:200])
    elif damage == "garble":
        target.write_bytes(gzip.compress(b"user_id\titem_id\ttimestamp\n0\t0\t1\n"))
    else:
        (folder / "MANIFEST.json").unlink()
    again = load_dataset("tiny")
    assert dict(again.files) == dict(reference.files) and again.n_interactions == reference.n_interactions


def test_full_disk_while_generating_leaves_no_temp_folder(monkeypatch):
    import bench.data as data

    def full_disk(folder, **kwargs):
        folder.mkdir(parents=True)
        (folder / "interactions.tsv.gz").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(data, "write_synthetic", full_disk)
    with pytest.raises(OSError):
        data.SyntheticDataset(7, 5, "x").materialize()
    parent = data.cache_dir() / "datasets"
    assert [p.name for p in parent.iterdir()] == []


def test_dead_generators_temp_folder_is_removed():
    folder = tiny_folder()
    dead = folder.with_name(f"{folder.name}.tmp-{2**22 + 12345}-deadbeef")  # no such pid
    dead.mkdir()
    load_dataset("tiny")
    assert not dead.exists()


def test_full_disk_is_one_message_naming_the_folder(tmp_path, monkeypatch):
    target = tmp_path / "runs" / "seed0.json"
    target.parent.mkdir(parents=True)
    target.write_text("finished record")

    def no_space(fd, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", no_space)
    with pytest.raises(BenchError, match=f"no space left on the disk of {tmp_path / 'runs'}"):
        io.atomic_write_json(target, {"new": 1})
    assert target.read_text() == "finished record"  # nothing replaced
    assert [p.name for p in target.parent.iterdir()] == ["seed0.json"]  # no temp file left


def test_orphan_temp_files_of_killed_runs_are_removed_on_the_next_start(tmp_path):
    from tests.conftest import run_cli

    results = tmp_path / "results"
    runs = results / "runs" / "tiny" / "smoke" / "popularity"
    runs.mkdir(parents=True)
    orphan, young = runs / ".seed0.json.abc123.tmp", runs / ".seed1.json.def456.tmp"
    orphan.write_text("half a record")
    young.write_text("a live writer's")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders", "popularity",
                     "--seeds", "0", "--results-dir", str(results))
    assert result.returncode == 0, result.stderr
    assert not orphan.exists() and young.exists()
    assert "removed 1 temp file(s)" in result.stderr


def test_two_processes_missing_one_cache_entry_compute_it_once(tmp_path):
    """Two grid workers whose tokenizers read the same CF embeddings: the second waits for the first's entry
    (70 minutes of SASRec on Toys) instead of training it again beside it."""
    import threading

    import numpy as np

    from bench.cache import Cache

    calls, results, started = [], [], threading.Event()

    def compute():
        calls.append(1)
        started.set()
        time.sleep(0.5)  # the other caller arrives while this one computes
        return {"x": np.arange(3)}, {"note": "built"}

    def worker():  # each with its own Cache and lock file handle, as two processes would have
        results.append(Cache(tmp_path).get_or_compute("cf_embeddings", 1, {"data": "same"}, compute))

    first = threading.Thread(target=worker)
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=worker)
    second.start()
    first.join(), second.join()
    assert len(calls) == 1
    assert sorted(hit for _, _, hit in results) == [False, True]
    assert all(np.array_equal(arrays["x"], np.arange(3)) for arrays, _, _ in results)


def test_a_failed_build_leaves_the_entry_to_the_next_caller(tmp_path):
    import numpy as np

    from bench.cache import Cache

    def broken():
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        Cache(tmp_path).get_or_compute("cf_embeddings", 1, {"data": "same"}, broken)
    arrays, _, hit = Cache(tmp_path).get_or_compute("cf_embeddings", 1, {"data": "same"},
                                                    lambda: ({"x": np.ones(2)}, {}))
    assert not hit and arrays["x"].sum() == 2
