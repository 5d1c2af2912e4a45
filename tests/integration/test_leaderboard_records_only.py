"""Issue 38.6: a leaderboard is a function of the records alone. Building one never loads, generates or splits
a dataset; records made before slices were kept get them once from `rescore --add-slices`."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import records, rescore
from bench.io import atomic_save_npz, load_npz
from bench.leaderboard import check_leaderboard
from bench.suites import load_suite

REPO = Path(__file__).parents[2]


def committed_tiny(target: Path) -> Path:
    shutil.copytree(REPO / "results" / "runs" / "tiny", target / "runs" / "tiny")
    (target / "leaderboards").mkdir(parents=True)
    for path in (REPO / "results" / "leaderboards").glob("tiny.*"):
        shutil.copy(path, target / "leaderboards" / path.name)
    return target


def old_tiny(target: Path) -> Path:
    """Two tiny records as made before records kept ranked lists and slices (schema v1, frozen in fixtures)."""
    shutil.copytree(REPO / "tests" / "fixtures" / "schema-v1" / "runs", target / "runs")
    return target


@pytest.fixture
def no_dataset(monkeypatch):
    """Any attempt to read, generate or split a dataset fails the test."""
    import bench.data
    import bench.data.dataset
    import bench.protocol

    def refuse(*args, **kwargs):
        raise AssertionError("the leaderboard opened a dataset")
    for module, name in ((bench.data.dataset, "read_interactions"), (bench.data.dataset, "read_items"),
                         (bench.data, "load_folder"), (bench.data, "write_synthetic"), (bench.protocol, "make_split")):
        monkeypatch.setattr(module, name, refuse)


def test_the_committed_tiny_leaderboard_regenerates_byte_identically_without_its_dataset(tmp_path, no_dataset):
    results = committed_tiny(tmp_path)
    check_leaderboard(load_suite("tiny"), results)  # raises if a table differs or a dataset is touched
    markdown = (results / "leaderboards" / "tiny.md").read_text()
    assert "per slice of the test users" in markdown and "R@10 on memorised and on new" in markdown


def test_add_slices_gives_old_records_the_labels_the_run_would_have_kept(tmp_path):
    results = old_tiny(tmp_path)
    path = results / "runs" / "tiny" / "smoke" / "popularity" / "seed0.json"
    record = records.read_record(path)
    side = records.per_user_path(path)
    kept = load_npz(side)
    assert "test.slice.transition" in kept
    old = {k: v for k, v in kept.items() if not k.startswith(("test.slice.", "items."))}  # as made before slices
    atomic_save_npz(side, old)
    record["per_user"]["sha256"] = hashlib.sha256(side.read_bytes()).hexdigest()
    path.write_text(json.dumps(record))

    done = rescore.add_slices(results, "tiny")
    assert done["added"] == [path] and not done["skipped"]
    again = load_npz(side)
    assert sorted(again) == sorted(kept)
    for key in kept:
        assert np.array_equal(again[key], kept[key]), key
    records.read_verified(path)  # the record names its new side file
    assert rescore.add_slices(results, "tiny")["added"] == []  # idempotent


def test_add_slices_skips_a_record_whose_users_are_not_the_split(tmp_path):
    results = old_tiny(tmp_path)
    path = results / "runs" / "tiny" / "smoke" / "random" / "seed0.json"
    record = records.read_record(path)
    side = records.per_user_path(path)
    arrays = {k: v for k, v in load_npz(side).items() if not k.startswith(("test.slice.", "items."))}
    arrays["users"] = arrays["users"][::-1].copy()  # another order: labels would land on the wrong users
    atomic_save_npz(side, arrays)
    record["per_user"]["sha256"] = hashlib.sha256(side.read_bytes()).hexdigest()
    path.write_text(json.dumps(record))
    assert rescore.add_slices(results, "tiny")["skipped"] == [path]
