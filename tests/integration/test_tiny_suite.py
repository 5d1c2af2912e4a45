"""The whole path on the synthetic `tiny` suite: run, records, resume, leaderboard."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench import records
from tests.conftest import run_cli


def results(tmp_path) -> Path:
    return Path(os.environ["SID_BENCH_RESULTS"])


@pytest.mark.slow
def test_tiny_suite_end_to_end(tmp_path):
    first = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", timeout=1800)
    assert first.returncode == 0, first.stderr
    paths = records.find_records(results(tmp_path), "tiny")
    systems = ("popularity", "random", "random+tiger", "rqvae+tiger", "sasrec", "title+tiger")
    assert [p.relative_to(results(tmp_path)).as_posix() for p in paths] == [
        f"runs/tiny/smoke/{system}/seed{seed}.json" for system in systems for seed in (0, 1)]
    by_system = {}
    for path in paths:
        record = records.read_record(path)  # validates against the JSON Schema
        per_user = records.read_per_user(path, record)
        assert len(per_user["users"]) == record["per_user"]["users"] == 300
        assert np.isclose(per_user["test.ndcg@10"].mean(), record["metrics"]["test"]["ndcg@10"])
        assert record["dataset"]["files"] and record["provenance"]["packages"]["numpy"]
        seed = record["recommender"]["seed"]
        uses_sids = "+" in record["system"]
        assert record["seeds"] == {"run": seed, "tokenizer": seed if uses_sids else None, "recommender": seed}
        assert isinstance(record["provenance"]["cpu"]["flags"], list)
        if uses_sids:
            training, fidelity = record["training"], record["beam_fidelity"]
            assert record["tokenizer"]["diagnostics"]["n_items"] == 120
            assert training["epochs"] == 2 and training["invalid_id_share"] == 0
            # the smoke budget trains in fp32 on every host, bf16 or not: its results are CI's golden ones
            assert training["steps"] > 0 and training["examples_per_s"] > 0 and training["precision"] == "fp32"
            # beam search against exact scoring of all 120 items, on every test user of this small catalogue
            assert fidelity["users"] == 300 and 0 <= fidelity["same_top_k_share"] <= 1
            assert np.isclose(fidelity["exact_recall@10"] - fidelity["beam_recall@10"], fidelity["recall@10_lost"])
        else:
            assert record["beam_fidelity"] is None
        if record["system"] == "sasrec":
            assert record["training"]["model"] == "SASRec" and record["training"]["epochs"] == 1
        if record["tokenizer"] and record["tokenizer"]["plugin"] == "rqvae":
            assert record["tokenizer"]["fit_report"]["epochs"] == 30
        by_system.setdefault(record["system"], []).append(record["metrics"]["test"]["ndcg@10"])
    assert_golden(paths)
    # popularity is deterministic across seeds; the synthetic data is skewed, so it beats chance
    assert by_system["popularity"][0] == by_system["popularity"][1]
    assert np.mean(by_system["popularity"]) > np.mean(by_system["random"])
    assert by_system["random"][0] != by_system["random"][1]

    before = {p: p.read_bytes() for p in paths}
    again = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu")
    assert again.returncode == 0 and again.stderr.count("record exists, skipped") == len(paths) == 12
    assert {p: p.read_bytes() for p in paths} == before

    changed = ("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders",
               "popularity", "--seeds", "0", "--set", "protocol.max_history=5")
    refused = run_cli(*changed)  # a finished record of other settings is never replaced silently
    assert refused.returncode != 0 and "made with other settings" in refused.stderr and "--force" in refused.stderr
    assert {p: p.read_bytes() for p in paths} == before
    replaced = run_cli(*changed, "--force")
    assert replaced.returncode == 0 and "replacing the record there (--force)" in replaced.stderr
    assert records.read_record(paths[0])["protocol"]["max_history"] == 5

    # --replace-stale: seed 1's record holds other settings and is replaced; seed 0's is this job's and is kept
    seed0 = next(p for p in paths if p.parent.name == "popularity" and p.name == "seed0.json")
    seed1 = seed0.with_name("seed1.json")
    kept = seed0.read_bytes()
    stale = run_cli(*changed[:-3], "0,1", *changed[-2:], "--replace-stale")
    assert stale.returncode == 0, stale.stderr[-2000:]
    assert "replacing the record there (--replace-stale: a record made with other settings" in stale.stderr
    assert seed0.read_bytes() == kept and records.read_record(seed1)["protocol"]["max_history"] == 5


GOLDEN = Path(__file__).parents[1] / "fixtures" / "tiny-golden.json"
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def assert_golden(paths) -> None:
    """Each record against the golden file, within its system group's tolerance (measured host-to-host
    spread: tests/fixtures/golden_spread.py): exact for numpy-deterministic systems, one user in 300 for
    trained systems on text-free IDs, more for IDs fitted to text embeddings, which differ by CPU."""
    golden = json.loads(GOLDEN.read_text())
    for path in paths:
        record = records.read_record(path)
        expected = golden["systems"][record["system"]][str(record["seeds"]["run"])]
        tolerance = golden["tolerance"][golden["groups"][record["system"]]] + 1e-6  # golden values have 6 decimals
        for metric, value in expected.items():
            assert abs(record["metrics"]["test"][metric] - value) <= tolerance, (record["system"], metric, value)


@pytest.mark.slow
def test_golden_results_hold_on_an_avx2_only_host(tmp_path):
    """CI on a bf16 host also runs the suite as an AVX2-only host would (PyTorch, oneDNN and MKL held to AVX2,
    as `perf train` does): the golden file must hold there too."""
    run = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", env_extra=AVX2_ONLY, timeout=1800)
    assert run.returncode == 0, run.stderr
    paths = records.find_records(results(tmp_path), "tiny")
    assert len(paths) == 12
    assert_golden(paths)


@pytest.mark.slow
def test_the_smoke_budget_trains_the_same_text_free_model_on_every_instruction_set(tmp_path):
    """The guarantee behind the tight tolerance: at the smoke budget, trained systems whose IDs do not come
    from text embeddings give the same per-user results natively and held to AVX2 (fp32 both). On a bf16
    host the previous main trained in bf16 natively and fp32 under AVX2, and these differed."""
    args = ("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--tokenizers", "random",
            "--recommenders", "tiger,sasrec", "--seeds", "0")
    arrays = {}
    for name, env in (("native", {}), ("avx2", AVX2_ONLY)):
        folder = tmp_path / name
        run = run_cli(*args, "--results-dir", str(folder / "results"),
                      env_extra={**env, "SID_BENCH_CACHE": str(folder / "cache")})
        assert run.returncode == 0, run.stderr
        for path in records.find_records(folder / "results", "tiny"):
            record = records.read_record(path)
            assert record["training"]["precision"] == "fp32"
            arrays[name, record["system"]] = records.read_per_user(path, record)
    for system in ("random+tiger", "sasrec"):
        native, avx2 = arrays["native", system], arrays["avx2", system]
        for key in native:
            assert np.array_equal(native[key], avx2[key]), (system, key)


def test_leaderboard_regenerates_identically_and_detects_edits(tmp_path):
    assert run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders",
                   "popularity,random").returncode == 0
    board = run_cli("leaderboard", "--suite", "tiny")
    assert board.returncode == 0, board.stderr
    md = results(tmp_path) / "leaderboards" / "tiny.md"
    text = md.read_text()
    assert "| popularity" in text and "| random" in text and "Δ N@10 vs popularity" in text
    assert run_cli("leaderboard", "--suite", "tiny", "--check").returncode == 0
    md.write_text(text.replace("| popularity", "| popularity (best!)"))
    check = run_cli("leaderboard", "--suite", "tiny", "--check")
    assert check.returncode == 2 and "differs from the records" in check.stderr


KILLER = '''
import os
import numpy as np
from bench.recommender import FitInfo, Recommender, register_recommender

@register_recommender("dies-once")
class DiesOnce(Recommender):
    """Killed (os._exit, no cleanup) while training seed 1 when KILL_AT_SEED1 is set."""
    def fit(self, split, sids, seed):
        if seed == 1 and os.environ.get("KILL_AT_SEED1"):
            os._exit(9)
        self.n = split.n_items
        return FitInfo(epochs=1)

    def recommend(self, examples, k):
        return np.tile(np.arange(k), (len(examples), 1))
'''


def test_killed_run_resumes_without_redoing_finished_jobs(tmp_path):
    plugin = tmp_path / "dies_once.py"
    plugin.write_text(KILLER)
    suite = tmp_path / "resume.yaml"
    suite.write_text("name: resume\ndataset: tiny\nseeds: [0, 1, 2]\nrecommenders:\n  dies-once: {}\n")
    killed = run_cli("--plugin", str(plugin), "run", "--suite", str(suite), "--budget", "smoke",
                     "--device", "cpu", env_extra={"KILL_AT_SEED1": "1"})
    assert killed.returncode == 9
    done = records.find_records(results(tmp_path), "resume")
    assert [p.name for p in done] == ["seed0.json"]
    assert not list(results(tmp_path).rglob("*.tmp"))
    seed0 = done[0].read_bytes()
    resumed = run_cli("--plugin", str(plugin), "run", "--suite", str(suite), "--budget", "smoke", "--device", "cpu")
    assert resumed.returncode == 0, resumed.stderr
    assert "[1/3] dies-once seed 0: record exists, skipped" in resumed.stderr
    assert [p.name for p in records.find_records(results(tmp_path), "resume")] == [
        "seed0.json", "seed1.json", "seed2.json"]
    assert done[0].read_bytes() == seed0


@pytest.mark.slow
def test_workers_run_jobs_in_parallel_processes_after_shared_stages(tmp_path):
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--workers", "2",
                     "--recommenders", "popularity,tiger", "--tokenizers", "random", "--seeds", "0,1")
    assert result.returncode == 0, result.stderr
    assert "shared stage 2/2: SID table random seed 1" in result.stderr
    assert "4 job(s) on 2 worker processes, 1 thread(s) each" in result.stderr
    paths = records.find_records(results(tmp_path), "tiny")
    assert len(paths) == 4 and all(records.read_record(p)["metrics"]["test"] for p in paths)
    again = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--workers", "2",
                    "--recommenders", "popularity,tiger", "--tokenizers", "random", "--seeds", "0,1")
    assert again.returncode == 0 and again.stderr.count("record exists, skipped") == 4


def test_a_job_another_runner_holds_is_skipped_and_run_once_it_is_free(tmp_path):
    """Issue 18.5: two runners on one folder never train the same job at once."""
    import socket
    import subprocess
    import sys

    record = results(tmp_path) / "runs" / "tiny" / "smoke" / "popularity" / "seed0.json"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = records.JobLock(record)
        lock.path.parent.mkdir(parents=True, exist_ok=True)
        lock.path.write_text(json.dumps({"host": socket.gethostname(), "pid": holder.pid}))
        args = ("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders", "popularity",
                "--seeds", "0")
        held = run_cli(*args)
        assert held.returncode == 0 and "another runner has it" in held.stderr and not record.exists(), held.stderr
        assert "held by another runner, skipped (no record yet)" in held.stderr  # not "record exists"
        assert "record exists" not in held.stderr
    finally:
        holder.kill()
        holder.wait()
    freed = run_cli(*args)  # the holder is gone: its lock is stale
    assert freed.returncode == 0 and record.exists() and not lock.path.exists(), freed.stderr
