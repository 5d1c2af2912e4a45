"""The cold_items split end to end on the tiny-cold suite (tiny's, included, with a fifth of the test targets
cold): records say what was removed, the side file labels cold and warm test users, `cold_share` counts cold
items in the lists, the content baseline reaches cold items, and the leaderboard reads them per slice."""

import re

import numpy as np

from bench import records
from tests.conftest import run_cli



def test_a_cold_run_keeps_its_slices_and_cold_share(tmp_path):
    result = run_cli("run", "--suite", "tiny-cold", "--budget", "smoke", "--device", "cpu", "--recommenders",
                     "popularity,random,text-knn,tiger", "--tokenizers", "rqvae", "--seeds", "0",
                     "--results-dir", str(tmp_path))
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
    # TIGER's retrieval by ID prefix: generative records only, reaching unseen items the beam left out
    tiger, tiger_arrays = by_system["rqvae+tiger"]
    assert [s for s, (r, _) in by_system.items() if "test_cold_prefix" in r["metrics"]] == ["rqvae+tiger"]
    prefixed = tiger["metrics"]["test_cold_prefix"]
    assert tiger["metrics"]["test_cold_capped"]["cold_share@10"] <= prefixed["cold_share@10"] <= 0.1 + 1e-6
    assert tiger_arrays["items.sid_prefix"].shape == tiger_arrays["items.cold"].shape
    board = run_cli("leaderboard", "--suite", "tiny-cold", "--results-dir", str(tmp_path))
    assert board.returncode == 0, board.stderr
    text = (tmp_path / "leaderboards" / "tiny-cold.md").read_text()
    assert re.search(rf"\| warm \({cold['warm_test_users']:,}\)\s+\| cold \({cold['cold_test_users']:,}\)\s+\|", text)
    assert "cold share@10" in text
    table = text[text.index("Cold-start items (TIGER's unseen items)"):]
    assert re.search(r"\| text-knn\s+\| as decoded\s+\| 1\s+\|", table)
    assert re.search(r"\| rqvae\+tiger\s+\| prefix, ε = 0.1\s+\| 1\s+\|", table)
    assert not re.search(r"\| text-knn\s+\| prefix", table)  # no SIDs, no prefix


def test_rescore_gives_older_generative_records_their_prefixes(tmp_path):
    result = run_cli("run", "--suite", "tiny-cold", "--budget", "smoke", "--device", "cpu", "--recommenders",
                     "tiger,popularity", "--tokenizers", "random", "--seeds", "0", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    paths = {records.read_record(p)["system"]: p for p in records.find_records(tmp_path, "tiny-cold")}
    path = paths["random+tiger"]
    record, arrays = records.read_verified(path)
    kept = arrays["items.sid_prefix"].copy()
    with np.load(records.per_user_path(path)) as side:  # the record as made before prefixes were kept
        older = {k: side[k] for k in side.files if k != "items.sid_prefix"}
    record = {k: v for k, v in record.items() if not k.startswith("_")}
    record["metrics"] = {k: v for k, v in record["metrics"].items() if k != "test_cold_prefix"}
    records.write_run(path, record, older)
    assert "items.sid_prefix" not in records.read_verified(path)[1]
    rescored = run_cli("rescore", "--suite", "tiny-cold", "--add-sid-prefixes", "--results-dir", str(tmp_path))
    assert rescored.returncode == 0, rescored.stderr
    assert "SID prefixes added to 1 generative record(s)" in rescored.stdout
    record, arrays = records.read_verified(path)
    assert np.array_equal(arrays["items.sid_prefix"], kept) and "test_cold_prefix" in record["metrics"]
    again = run_cli("rescore", "--suite", "tiny-cold", "--add-sid-prefixes", "--results-dir", str(tmp_path),
                    env_extra={"SID_BENCH_CACHE": str(tmp_path / "empty-cache")})
    assert "added to 0 generative record(s); 1 had them" in again.stdout
