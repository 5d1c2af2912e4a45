"""Issue 18.7: bad input that used to pass silently or end in a traceback gets one clear error (or a correct
result), before any work."""

import pytest

from bench.data.dataset import load_folder
from bench.errors import DatasetError
from tests.conftest import run_cli, write_dataset

HEADER = "user_id\titem_id\ttimestamp\n"
ROWS = "".join(f"u{u}\ti{i}\t{100 + i}\n" for u in range(3) for i in range(4))


@pytest.mark.parametrize("value", ["inf", "-inf", "1e30", "99999999999999999999", str(2 ** 63)])
def test_timestamps_beyond_int64_are_refused_with_their_line(tmp_path, value):
    folder = write_dataset(tmp_path / "d", HEADER + ROWS + f"u0\ti9\t{value}\n")
    with pytest.raises(DatasetError) as info:
        load_folder(folder)
    assert any(":14: timestamp" in p and "within int64" in p for p in info.value.problems), info.value.problems


def test_timestamps_past_the_calendar_still_give_data_stats(tmp_path):
    folder = write_dataset(tmp_path / "d", HEADER + ROWS + "u0\ti9\t1000000000000000\n")
    result = run_cli("data", "stats", str(folder))
    assert result.returncode == 0, result.stderr
    assert "beyond the calendar" in result.stdout


def test_a_long_quoted_csv_field_is_data_as_in_tsv(tmp_path):
    long_text = "x" * 200_000
    rows = "user_id,item_id,timestamp,review\n" + "".join(
        f'u{u},i{i},{100 + i},"{long_text if (u, i) == (0, 0) else "fine, thanks"}"\n' for u in range(3) for i in range(4))
    dataset = load_folder(write_dataset(tmp_path / "d", rows, name="interactions.csv"))
    assert (dataset.n_users, dataset.n_interactions) == (3, 12)


@pytest.mark.parametrize("args, message", [
    (["--set", "recommenders.tiger.budgets.smoke.train.beam_size=5"], "train.beam_size 5 is below the largest cutoff K = 10"),
    (["--set", "recommenders.tiger.budgets.smoke.train.beam_size=0"], "train.beam_size must be at least 1"),
    (["--workers", "0", "--dry-run"], "--workers must be at least 1"),
    (["--dataset-path", "{bad}", "--dry-run"], "timestamp 'inf' is not a finite number"),
    (["--set", "recommenders.tiger.budgets.smoke.train.beam_size=5", "--dry-run"], "below the largest cutoff"),
    (["--set", "protocol.cutoffs=[10,200]", "--recommenders", "popularity", "--dry-run"], "K = 200 exceeds the 120"),
])
def test_run_refuses_before_any_work(tmp_path, args, message):
    bad = write_dataset(tmp_path / "bad", HEADER + ROWS + "u0\ti9\tinf\n")
    args = [a.replace("{bad}", str(bad)) for a in args]
    result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "epoch" not in result.stderr  # nothing trained


@pytest.mark.parametrize("name, message", [
    ("./no/such/folder", "no such dataset folder"),
    ("{file}", "not a folder"),
    ("amazon-beuty", "unknown dataset 'amazon-beuty' (did you mean 'amazon-beauty'?)"),
])
def test_data_commands_say_what_is_missing(tmp_path, name, message):
    a_file = tmp_path / "interactions.tsv"
    a_file.write_text(HEADER + ROWS)
    result = run_cli("data", "stats", name.replace("{file}", str(a_file)))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_diverged_run_fails_loudly_and_writes_no_record(tmp_path):
    """Issue 37.3: a finite learning rate so high that the loss becomes NaN used to write a record of zeros."""
    results = tmp_path / "results"
    run = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--tokenizers", "random",
                  "--recommenders", "tiger", "--seeds", "0", "--results-dir", str(results),
                  "--set", "recommenders.tiger.budgets.smoke.train.lr=1.0e+30")
    assert run.returncode == 2 and "the run diverged and no record is written" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert not list(results.rglob("seed*.json"))
