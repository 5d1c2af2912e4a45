"""Issue 38.5: a suite's sampled decoding variants run on the same trained model as its beam; each keeps its
own ranked lists and metrics in the record, verified like the beam's; the leaderboard draws the
accuracy-vs-diversity curve; systems that cannot sample keep their run ids."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench import records
from bench.errors import BenchError
from bench.metrics import per_user_metrics
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # two tiny runs in a fixture: CI runs it, the quick loop leaves it out

RUN = ("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--seeds", "0", "--tokenizers", "random",
       "--recommenders", "popularity,tiger")


def results() -> Path:
    return Path(os.environ["SID_BENCH_RESULTS"])


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """The tiny suite's tiger and popularity, once with its two decoding variants and once with none."""
    out = {}
    for label, extra in (("with", ()), ("without", ("--set", "decoding={}"))):
        folder = tmp_path_factory.mktemp(label)
        done = run_cli(*RUN, *extra, "--results-dir", str(folder))
        assert done.returncode == 0, done.stderr
        out[label] = {records.read_record(p)["system"]: p for p in records.find_records(folder, "tiny")}
        out[f"{label}-folder"] = folder
    return out


def test_each_variant_keeps_its_lists_metrics_and_seed_beside_an_unchanged_beam(decoded):
    record, arrays = records.read_verified(decoded["with"]["random+tiger"])
    plain, plain_arrays = records.read_verified(decoded["without"]["random+tiger"])
    assert set(record["decoding"]) == {"t1", "hybrid"} and "decoding" not in plain
    assert record["decoding"]["hybrid"]["temperatures"] == [2.0, 0.5, 0.5]  # 3 random levels, the last repeats
    assert record["decoding"]["t1"]["seed"] != record["decoding"]["hybrid"]["seed"]
    assert record["timing"]["decoding_s"] > 0
    # sampling runs after the beam on the same model: the beam's lists and metrics are what they were
    assert np.array_equal(arrays["test.ranked"], plain_arrays["test.ranked"])
    assert record["metrics"]["test"] == plain["metrics"]["test"]
    targets = arrays["test.targets"].astype(np.int64)
    for name in ("t1", "hybrid"):
        lists = arrays[f"decoding.{name}.ranked"].astype(np.int64)
        assert lists.shape == (300, 10)  # the largest cutoff (the beam's lists hold 10 here too: its width)
        assert all(len(set(row)) == len(row) for row in lists.tolist()) and lists.min() >= 0  # distinct real items
        expected = per_user_metrics(lists[:, :10], targets, (10,))["ndcg@10"].mean()
        assert record["metrics"]["decoding"][name]["ndcg@10"] == pytest.approx(expected)
        assert "entropy@10" in record["metrics"]["decoding"][name]
    assert not np.array_equal(arrays["decoding.t1.ranked"], arrays["test.ranked"])  # sampled, not the beam
    assert record["run_id"] != plain["run_id"]  # the variants are part of what ran


def test_a_system_that_cannot_sample_keeps_its_run_id_and_record(decoded):
    with_variants = records.read_record(decoded["with"]["popularity"])
    without = records.read_record(decoded["without"]["popularity"])
    assert with_variants["run_id"] == without["run_id"] and "decoding" not in with_variants


def test_the_same_seed_draws_the_same_sampled_lists(decoded, tmp_path):
    done = run_cli(*RUN, "--recommenders", "tiger", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    again = records.read_per_user(records.find_records(tmp_path, "tiny")[0], records.read_record(
        records.find_records(tmp_path, "tiny")[0]))
    first = records.read_per_user(decoded["with"]["random+tiger"], records.read_record(decoded["with"]["random+tiger"]))
    for name in ("t1", "hybrid"):
        assert np.array_equal(again[f"decoding.{name}.ranked"], first[f"decoding.{name}.ranked"])


def test_an_edited_variant_summary_is_refused(decoded, tmp_path):
    source = decoded["with"]["random+tiger"]
    target = tmp_path / source.relative_to(decoded["with-folder"])
    target.parent.mkdir(parents=True)
    records.per_user_path(target).write_bytes(records.per_user_path(source).read_bytes())
    record = json.loads(source.read_text())
    record["metrics"]["decoding"]["t1"]["ndcg@10"] += 0.01
    target.write_text(json.dumps(record))
    with pytest.raises(BenchError, match="decoding.t1.ndcg@10 = .* but its ranked lists give"):
        records.read_verified(target)


def test_the_leaderboard_draws_accuracy_against_diversity(decoded):
    done = run_cli("leaderboard", "--suite", "tiny", "--results-dir", str(decoded["with-folder"]))
    assert done.returncode == 0, done.stderr
    board = decoded["with-folder"] / "leaderboards"
    markdown = (board / "tiny.md").read_text()
    assert "| random+tiger | hybrid     | 2, 0.5" in markdown and "Δ NDCG@10 vs beam" in markdown
    assert (board / "tiny.smoke.diversity.png").stat().st_size > 5000
    plain = run_cli("leaderboard", "--suite", "tiny", "--results-dir", str(decoded["without-folder"]))
    assert plain.returncode == 0 and "Decoding:" not in (decoded["without-folder"] / "leaderboards" / "tiny.md").read_text()
