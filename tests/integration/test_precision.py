"""bf16 autocast is chosen on hosts with native bf16; it must not change what a run measures beyond noise."""

from pathlib import Path

import pytest

from bench import records
from tests.conftest import run_cli


def run_tiger(precision: str, results: Path):
    result = run_cli("run", "--suite", "tiny", "--budget", "cpu", "--device", "cpu", "--recommenders", "tiger",
                     "--tokenizers", "random", "--seeds", "0", "--results-dir", str(results),
                     "--set", f"recommenders.tiger.budgets.cpu.train.precision={precision}",
                     "--set", "recommenders.tiger.budgets.cpu.train.max_epochs=8")
    assert result.returncode == 0, result.stderr
    (path,) = records.find_records(results, "tiny")
    return records.read_record(path)


@pytest.mark.slow
def test_bf16_and_fp32_runs_agree_within_a_tolerance(tmp_path):
    fp32 = run_tiger("fp32", tmp_path / "fp32")
    bf16 = run_tiger("bf16", tmp_path / "bf16")
    assert fp32["training"]["precision"] == "fp32" and bf16["training"]["precision"] == "bf16"
    assert fp32["run_id"] != bf16["run_id"]  # a different setting, so a different run
    for metric in ("recall@10", "ndcg@10"):
        a, b = fp32["metrics"]["test"][metric], bf16["metrics"]["test"][metric]
        assert a > 0.15 and abs(a - b) <= 0.05 + 0.15 * a, (metric, a, b)  # both learn, to the same level
    curve_a = [h["loss"] for h in fp32["training"]["curve"]]
    curve_b = [h["loss"] for h in bf16["training"]["curve"]]
    assert all(abs(x - y) <= 0.05 * x for x, y in zip(curve_a, curve_b))
