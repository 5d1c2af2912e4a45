"""Issue 38: every run keeps its ranked lists; metrics come from them, a new one by one function and
`rescore`, without retraining; a tampered list is refused."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import metric_registry, records, rescore
from bench.errors import BenchError
from bench.io import atomic_save_npz, load_npz
from tests.conftest import run_cli

SCHEMA_V1 = Path(__file__).parents[1] / "fixtures" / "schema-v1"  # records as made before lists were kept
RUN = ("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--seeds", "0")


def results() -> Path:
    return Path(os.environ["SID_BENCH_RESULTS"])


@pytest.fixture
def tiny_records():
    done = run_cli(*RUN, "--recommenders", "popularity,sasrec,tiger", "--tokenizers", "random")
    assert done.returncode == 0, done.stderr
    return {records.read_record(p)["system"]: p for p in records.find_records(results(), "tiny")}


def test_records_keep_lists_targets_slices_and_every_metric(tiny_records):
    for system, path in tiny_records.items():
        record, arrays = records.read_verified(path)
        assert record["schema_version"] == 2
        width = 10 if system == "random+tiger" else 20  # the smoke beam is 10 wide; others rank 20
        for part in ("valid", "test"):
            assert arrays[f"{part}.ranked"].shape == (300, width) and arrays[f"{part}.ranked"].dtype == np.int16
            assert arrays[f"{part}.targets"].shape == (300,)
        assert set(np.unique(arrays["test.slice.target_popularity"])) <= {0, 1, 2}
        assert arrays["items.popularity"].sum() > 0 and arrays["items.category"].max() == 5  # 6 categories
        test = record["metrics"]["test"]
        for name in ("recall@10", "ndcg@10", "mrr@10", "entropy@10", "coverage@10", "gini@10", "novelty@10"):
            assert name in test
        assert np.isclose(arrays["test.ndcg@10"].mean(), test["ndcg@10"])
    popularity = records.read_record(tiny_records["popularity"])["metrics"]["test"]
    assert popularity["coverage@10"] == pytest.approx(10 / 120) and popularity["tail_share@10"] == 0


def test_a_tampered_ranked_list_is_refused(tiny_records):
    path = tiny_records["popularity"]
    record = records.read_record(path)
    side = records.per_user_path(path)
    arrays = load_npz(side)
    arrays["test.ranked"] = np.roll(arrays["test.ranked"], 1, axis=1)  # the same items, another order
    atomic_save_npz(side, arrays)
    with pytest.raises(BenchError, match="sha256 differs"):
        records.read_verified(path)
    record["per_user"]["sha256"] = hashlib.sha256(side.read_bytes()).hexdigest()  # a forger who fixes the hash
    path.write_text(json.dumps(record))
    with pytest.raises(BenchError, match="ranked lists give"):
        records.read_verified(path)


def test_a_new_metric_and_rescore_give_a_new_column_without_retraining(tiny_records):
    before = {p: (p.read_bytes(), records.per_user_path(p).read_bytes()) for p in tiny_records.values()}

    @metric_registry.register_metric("first_item_popularity", False)
    def first_item_popularity(top_k, context):
        """Training interactions of the item ranked first."""
        return context.item_popularity[np.maximum(top_k[:, 0], 0)].astype(np.float32)

    try:
        assert not any("first_item_popularity@10" in records.read_record(p)["metrics"]["test"]
                       for p in tiny_records.values())  # the records do not have it yet
        done = rescore.rescore(results(), "tiny")
        assert sorted(done["rescored"]) == sorted(tiny_records.values()) and not done["no lists"]
        for path in tiny_records.values():
            record, arrays = records.read_verified(path)  # still verifiable
            value = record["metrics"]["test"]["first_item_popularity@10"]
            assert value == pytest.approx(arrays["items.popularity"][arrays["test.ranked"][:, 0]].mean())
            for name in record["metrics"].get("decoding", {}):  # a sampled decoding's lists get it too
                lists = arrays[f"decoding.{name}.ranked"]
                assert record["metrics"]["decoding"][name]["first_item_popularity@10"] == pytest.approx(
                    arrays["items.popularity"][lists[:, 0]].mean())
            assert records.per_user_path(path).read_bytes() == before[path][1]  # the lists are as trained
            old = json.loads(before[path][0])
            assert record["run_id"] == old["run_id"] and record["created_at"] == old["created_at"]
        from bench.leaderboard import build_tables
        from bench.suites import load_suite

        markdown, _, _ = build_tables(load_suite("tiny"), results(), None)
        assert "first item popularity@10 ↓" in markdown
        assert rescore.rescore(results(), "tiny")["unchanged"]  # idempotent
    finally:
        metric_registry.REGISTRY.pop("first_item_popularity")


def test_records_without_lists_are_left_as_they_are(tmp_path):
    shutil.copytree(SCHEMA_V1, results(), dirs_exist_ok=True)
    before = {p: p.read_bytes() for p in results().rglob("*") if p.is_file()}
    done = rescore.rescore(results(), "tiny")
    assert sorted(done["no lists"]) == sorted(records.find_records(results(), "tiny")) and not done["rescored"]
    assert {p: p.read_bytes() for p in results().rglob("*") if p.is_file()} == before
