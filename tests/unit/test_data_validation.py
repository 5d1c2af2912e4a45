"""Every malformed input gets an error naming the file, the line and what is wrong."""


import pytest

from bench.data import BundledDataset, load_dataset
from bench.data.dataset import load_folder
from bench.errors import DatasetError
from tests.conftest import write_dataset

GOOD = "user_id\titem_id\ttimestamp\nu1\ti1\t100\nu1\ti2\t200\nu1\ti3\t300\n"
ITEMS = [{"item_id": "i1"}, {"item_id": "i2"}, {"item_id": "i3"}]


def problems_of(folder) -> list[str]:
    with pytest.raises(DatasetError) as info:
        load_folder(folder)
    return info.value.problems


def test_a_good_folder_loads(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "ok", GOOD, ITEMS))
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (1, 3, 3)
    assert set(dataset.files) == {"interactions.tsv", "items.jsonl"}


@pytest.mark.parametrize("interactions, fragment", [
    ("user\titem_id\ttimestamp\nu1\ti1\t1\n", ":1: missing column 'user_id' (did you mean 'user'?)"),
    ("user_id\titem_id\nu1\ti1\n", ":1: no order column"),
    ("user_id\titem_id\ttimestamp\nu1\ti1\t100\nu1\ti2\tmonday\n", ":3: unparsable timestamp 'monday'"),
    ("user_id\titem_id\ttimestamp\nu1\ti1\t100\nu1\ti2\t200\nu1\ti1\t300\n",
     ":4: duplicate interaction (user 'u1', item 'i1'), first on line 2"),
    ("user_id\titem_id\ttimestamp\nu1\ti1\t100\nu1\t\t200\n", ":3: empty item_id"),
    ("user_id\titem_id\ttimestamp\nu1\ti1\t100\nu1\ti2\n", ":3: 2 field(s), the header has 3"),
    ("user_id\titem_id\ttimestamp\nu1\ti1\t100\textra\n", ":2: 4 field(s), the header has 3"),
    ("user_id\titem_id\tseq_idx\nu1\ti1\t0\nu1\ti2\t0\n", ":3: duplicate seq_idx 0 for user 'u1', first on line 2"),
    ("user_id\titem_id\tseq_idx\nu1\ti1\tfirst\n", ":2: seq_idx 'first' is not a non-negative integer"),
    ("user_id\titem_id\ttimestamp\n", "header but no interactions"),
])
def test_interaction_file_problems(tmp_path, interactions, fragment):
    problems = problems_of(write_dataset(tmp_path / "d", interactions))
    assert any(fragment in p and "interactions.tsv" in p for p in problems), problems


def test_empty_file(tmp_path):
    folder = write_dataset(tmp_path / "d", "")
    assert problems_of(folder) == [f"{folder / 'interactions.tsv'}: the file is empty"]


def test_wrong_encoding_names_the_line(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "interactions.tsv").write_bytes("user_id\titem_id\ttimestamp\nu1\ti1\t1\nüser\ti2\t2\n".encode("latin-1"))
    [problem] = problems_of(folder)
    assert "interactions.tsv:3: not valid UTF-8 (byte 0xfc at column 1)" in problem


def test_broken_gzip(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "interactions.tsv.gz").write_bytes(b"this is not gzip")
    assert "not a valid gzip file" in problems_of(folder)[0]


def test_missing_and_ambiguous_files(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no interactions file" in problems_of(tmp_path / "empty")[0]
    folder = write_dataset(tmp_path / "two", GOOD)
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\n")
    assert "several interactions files" in problems_of(folder)[0]
    assert "not a folder" in problems_of(tmp_path / "nope")[0]


@pytest.mark.parametrize("items, fragment", [
    ('{"item_id": "i1"}\n{"item_id": "i2"\n{"item_id": "i3"}\n', "items.jsonl:2: invalid JSON"),
    ('{"item_id": "i1"}\n{"item_id": "i2"}\n{"item_id": "i3"}\n{"item_id": "i1"}\n',
     "items.jsonl:4: duplicate item_id 'i1', first on line 1"),
    ('{"item_id": "i1", "price": "cheap"}\n{"item_id": "i2"}\n{"item_id": "i3"}\n',
     "items.jsonl:1: 'price' must be a finite number or null"),
    ('{"item_id": "i1", "categories": "Beauty"}\n{"item_id": "i2"}\n{"item_id": "i3"}\n',
     "items.jsonl:1: 'categories' must be a list of category paths"),
    ('{"item_id": "i1", "title": 5}\n{"item_id": "i2"}\n{"item_id": "i3"}\n',
     "items.jsonl:1: 'title' must be a string or null"),
    ('{"title": "x"}\n{"item_id": "i2"}\n{"item_id": "i3"}\n', "items.jsonl:1: missing or empty 'item_id'"),
    ('[1, 2]\n{"item_id": "i2"}\n{"item_id": "i3"}\n', "items.jsonl:1: expected a JSON object"),
    ('{"item_id": "i1"}\n{"item_id": "i2"}\n', "interactions.tsv:4: item 'i3' has no line in items.jsonl"),
])
def test_item_file_problems(tmp_path, items, fragment):
    problems = problems_of(write_dataset(tmp_path / "d", GOOD, items))
    assert any(fragment in p for p in problems), problems


def test_problems_of_both_files_are_reported_together(tmp_path):
    folder = write_dataset(tmp_path / "d", GOOD.replace("\t300", "\tnever"), '{"item_id": "i1"\n')
    problems = problems_of(folder)
    assert any("interactions.tsv:4" in p for p in problems) and any("items.jsonl:1" in p for p in problems)


def test_many_problems_are_counted_not_all_printed(tmp_path):
    rows = "user_id,item_id,timestamp\n" + "".join(f"u{i},i{i},bad{i}\n" for i in range(50))
    with pytest.raises(DatasetError) as info:
        load_folder(write_dataset(tmp_path / "d", rows, name="interactions.csv"))
    assert len(info.value.problems) == 20 and info.value.more == 30
    assert "and 30 more" in str(info.value)


def test_csv_gzip_iso_dates_and_entities(tmp_path):
    rows = ('user_id,item_id,timestamp,rating\nu1,i1,2014-07-01,5\nu1,i2,2014-07-02T10:00:00Z,4\n'
            'u1,i3,1404300000,3\n')
    items = [{"item_id": "i1", "title": "Shampoo &amp;amp; Conditioner", "brand": "Pond&#39;s",
              "categories": ["Beauty", "Hair"], "price": 3}, {"item_id": "i2", "title": None}, {"item_id": "i3"}]
    dataset = load_folder(write_dataset(tmp_path / "d", rows, items, name="interactions.csv.gz"))
    assert dataset.timestamps.tolist() == [1404172800, 1404295200, 1404300000]
    meta = dataset.item_meta[0]
    assert (meta.title, meta.brand, meta.categories, meta.price) == (
        "Shampoo & Conditioner", "Pond's", (("Beauty", "Hair"),), 3.0)
    assert dataset.item_meta[1].title is None


def test_items_without_interactions_are_noted(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", GOOD, ITEMS + [{"item_id": "unused"}]))
    assert dataset.n_items == 3 and "1 item(s) without interactions" in dataset.notes[0]


def test_bundled_files_are_hash_checked(tmp_path):
    folder = write_dataset(tmp_path / "bundle", GOOD, ITEMS)
    spec = BundledDataset(folder=folder, sha256={"interactions.tsv": "0" * 64}, description="")
    with pytest.raises(DatasetError, match="does not match the recorded"):
        spec.materialize()
    with pytest.raises(DatasetError, match="bundled file is missing"):
        BundledDataset(folder=tmp_path, sha256={"gone.tsv": "0" * 64}, description="").materialize()


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="did you mean 'amazon-beauty'"):
        load_dataset("amazon-beuty")


def test_dataset_arrays_are_read_only(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", GOOD))
    with pytest.raises(ValueError):
        dataset.items[0] = 1
