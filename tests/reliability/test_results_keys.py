"""Issue 18.1: a record is never replaced by one of other data."""

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_user_folders_never_share_records_by_name(tmp_path):
    """Issue 18.1: the results folder is keyed on the data's content, not the folder's name: two folders
    named alike, or one named like the suite's own dataset, never replace each other's records."""
    from bench.data.synthetic import write_synthetic

    results = tmp_path / "results"
    folders = [write_synthetic(tmp_path / "a" / "tiny", n_users=40, n_items=30),
               write_synthetic(tmp_path / "b" / "tiny", n_users=41, n_items=30)]
    for folder in [None, *folders]:
        extra = ["--dataset-path", str(folder)] if folder else []
        result = run_cli("run", "--suite", "tiny", "--budget", "smoke", "--device", "cpu", "--recommenders",
                         "popularity", "--seeds", "0", "--results-dir", str(results), *extra)
        assert result.returncode == 0, result.stderr
        assert "replace" not in result.stderr
    keys = sorted(p.name for p in (results / "runs").iterdir())
    assert len(keys) == 3 and keys[0] == "tiny" and all(k.startswith("tiny@tiny-") for k in keys[1:])
