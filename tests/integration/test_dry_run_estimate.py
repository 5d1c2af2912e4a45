"""`run --dry-run` says which jobs are done and estimates the rest from the records already there."""

from tests.conftest import run_cli


def test_dry_run_marks_done_jobs_and_estimates_the_rest_from_records(tmp_path):
    results = str(tmp_path / "results")
    common = ["--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--results-dir", results]
    done = run_cli("run", *common, "--recommenders", "popularity", "--seeds", "0")
    assert done.returncode == 0, done.stderr
    damaged = tmp_path / "results" / "runs" / "tiny" / "smoke" / "another+tiger"
    damaged.mkdir()  # records the estimate cannot read estimate nothing and break nothing
    (damaged / "seed0.json").write_text(  # its tokenizer has no fit_s
        '{"run_id": "x", "system": "another+tiger", "seeds": {"run": 0}, "timing": {"fit_s": 1, "valid_s": 1, '
        '"test_s": 1}, "recommender": {"name": "tiger"}, "tokenizer": {"name": "random"}}')
    (damaged / "seed1.json").write_text('{"run_id": ')
    plan = run_cli("run", *common, "--recommenders", "popularity,random,tiger", "--tokenizers", "random",
                   "--seeds", "0,1", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert "  popularity seed 0: done" in lines
    assert any(line.startswith("  popularity seed 1: to run, about") and "1 record(s) of this system" in line
               for line in lines)
    assert "  random+tiger seed 0: to run (no record to go by)" in lines  # no tiger record, no random table fit
    assert lines[-2].startswith("1 done, 5 to run: about") and lines[-2].endswith(
        "; 4 with no record to go by, not counted")  # random and random+tiger, both seeds
    assert lines[-1].startswith("the whole selection: about")


def test_a_system_new_to_a_suite_is_estimated_from_its_records_in_other_suites(tmp_path):
    """Before a suite's first record of a system, the same model's records on another dataset say more than its
    recommender's median (title+tiger takes three times a 4-level tiger row): with other settings they do not."""
    common = ["--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders", "sasrec", "--seeds", "0"]
    made = tmp_path / "made"
    done = run_cli("run", *common, "--results-dir", str(made))
    assert done.returncode == 0, done.stderr
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    (made / "runs" / "tiny").rename(results / "runs" / "another-suite")  # as if made by another suite

    plan = run_cli("run", *common, "--results-dir", str(results), "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert any(line.startswith("  sasrec seed 0: to run, about") and "1 record(s) of this system in other suites"
               in line for line in plan.stdout.splitlines()), plan.stdout
    other = run_cli("run", *common, "--results-dir", str(results), "--dry-run",
                    "--set", "recommenders.sasrec.budgets.smoke.epochs=2")
    assert "  sasrec seed 0: to run (no record to go by)" in other.stdout.splitlines(), other.stdout
