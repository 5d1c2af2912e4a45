"""The second bundled dataset: hash-checked, the published counts, a text that copes with missing fields, and a
smoke run of its suite (the suite includes Beauty's)."""

import numpy as np
import pytest

from bench import records
from bench.data import load_dataset
from bench.features.text import item_texts
from bench.protocol import ProtocolConfig, make_split
from tests.conftest import run_cli


def test_bundled_toys_matches_published_statistics():
    dataset = load_dataset("amazon-toys")
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (19412, 11924, 167597)
    assert dataset.order_source == "seq_idx" and dataset.timestamps is None
    assert sum(m.title is None for m in dataset.item_meta) == 59
    assert all(m.brand is None and m.price is None and m.categories for m in dataset.item_meta)
    split = make_split(dataset)
    assert len(split.test) == 19412 and split.dropped_users == 0
    assert len(split.train) == 167597 - 3 * 19412


def test_item_text_skips_the_fields_toys_lacks():
    """Beauty's template (title, brand, categories, price) on Toys: no empty 'Brand:' or 'Price:' parts, and an
    item without a title is its categories."""
    dataset = load_dataset("amazon-toys")
    texts = item_texts(dataset, ProtocolConfig().text_fields)
    assert all(t.startswith(("Title: ", "Categories: ")) for t in texts)
    parts = [part for t in texts for part in t.split("; ")]  # "Fisher-Price: ..." is a title, not a field
    assert not any(part.startswith(("Brand:", "Price:")) or not part for part in parts)
    untitled = [t for t, m in zip(texts, dataset.item_meta) if m.title is None]
    assert len(untitled) == 59 and all(t.startswith("Categories: Toys & Games") or "Categories: " in t for t in untitled)


@pytest.mark.slow
def test_toys_suite_smoke_run(tmp_path):
    result = run_cli("run", "--suite", "amazon-toys", "--budget", "smoke", "--recommenders", "popularity,tiger",
                     "--tokenizers", "random", "--seeds", "0", "--device", "cpu", "--results-dir", str(tmp_path),
                     timeout=1800)  # all 19,412 users decoded twice: minutes on a loaded 2-core host
    assert result.returncode == 0, result.stderr
    paths = records.find_records(tmp_path, "amazon-toys")
    assert len(paths) == 2
    for path in paths:
        record = records.read_record(path)
        assert record["protocol"]["evaluated_users"] == 19412 and record["dataset"]["name"] == "amazon-toys"
        assert np.isfinite(record["metrics"]["test"]["recall@10"])
