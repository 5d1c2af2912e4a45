"""The cold_items split end to end on the tiny-cold suite (tiny's, included, with a fifth of the test targets
cold): records say what was removed, the side file labels cold and warm test users, `cold_share` counts cold
items in the lists, the content baseline reaches cold items, and the leaderboard reads them per slice."""

import re

import numpy as np

from bench import records
from tests.conftest import run_cli



def test_a_cold_run_keeps_its_slices_and_cold_share(tmp_path):
    result = run_cli("run", "--suite", "tiny-cold", "--budget", "smoke", "--device", "cpu", "--recommenders",
                     "popularity,random,text-knn", "--seeds", "0", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "note: cold items: 21 of the 106 distinct test-target items (20%, seed 0)" in result.stderr
    by_system = {}
    for path in records.find_records(tmp_path, "tiny-cold"):
        record, arrays = records.read_verified(path)
        by_system[record["system"]] = (record, arrays)
    record, arrays = by_system["popularity"]
    cold = record["protocol"]["cold"]
    assert cold["cold_items"] == 21 and cold["cold_share"] == 0.2 and record["protocol"]["split"].startswith("cold items")
    assert arrays["items.cold"].sum() == 21
    is_cold = arrays["test.slice.item"] == 1
    assert is_cold.sum() == cold["cold_test_users"] > 0
    assert np.isin(arrays["test.targets"][is_cold], np.flatnonzero(arrays["items.cold"])).all()
    # popularity counts training interactions only: a cold item is never recommended, a cold target never hit
    assert record["metrics"]["test"]["cold_share@10"] == 0.0
    assert arrays["test.recall@10"][is_cold].sum() == 0
    random_record, _ = by_system["random"]
    assert random_record["metrics"]["test"]["cold_share@10"] > 0  # random ranks cold items like any other
    knn, knn_arrays = by_system["text-knn"]  # content only: cold items are found as warm ones are
    assert knn["metrics"]["test"]["cold_share@10"] > 0 and knn_arrays["test.recall@10"][is_cold].sum() > 0
    # TIGER's epsilon rule (0.1): at most one cold item in a top 10, read from the same lists
    capped = knn["metrics"]["test_cold_capped"]
    assert capped["cold_share@10"] <= knn["metrics"]["test"]["cold_share@10"]
    assert all("test_cold_capped" in r["metrics"] for r, _ in by_system.values())
    board = run_cli("leaderboard", "--suite", "tiny-cold", "--results-dir", str(tmp_path))
    assert board.returncode == 0, board.stderr
    text = (tmp_path / "leaderboards" / "tiny-cold.md").read_text()
    assert re.search(rf"\| warm \({cold['warm_test_users']:,}\)\s+\| cold \({cold['cold_test_users']:,}\)\s+\|", text)
    assert "cold share@10" in text
    table = text[text.index("Cold-start items (TIGER's unseen items)"):]
    assert re.search(r"\| text-knn\s+\| 1\s+\|", table) and "cold share@10, ε = 0.1" in table
