"""RecBole's atomic files as a dataset folder: ml-100k from the RecBole wheel loads with no conversion step, and
malformed atomic files get the same file:line errors as our own format."""

import re
from pathlib import Path

import numpy as np
import pytest

from bench.data import load_dataset
from bench.errors import DatasetError


def ml_100k() -> Path:
    import recbole

    folder = Path(recbole.__file__).parent / "dataset_example" / "ml-100k"
    assert (folder / "ml-100k.inter").is_file()
    return folder


def test_ml_100k_from_the_recbole_wheel_loads_as_it_is():
    dataset = load_dataset(path=ml_100k())
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (943, 1682, 100_000)
    assert dataset.order_source == "timestamp" and set(dataset.files) == {"ml-100k.inter", "ml-100k.item"}
    assert any("RecBole atomic files" in note for note in dataset.notes)
    first = list(dataset.item_ids).index("1")
    assert dataset.item_meta[first].title == "Toy Story"
    assert ("Animation",) in dataset.item_meta[first].categories
    for user in range(0, dataset.n_users, 97):  # each user's items in time order
        rows = slice(dataset.user_offsets[user], dataset.user_offsets[user + 1])
        assert (np.diff(dataset.timestamps[rows]) >= 0).all()


def write(folder: Path, inter: str, item: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "shop.inter").write_text(inter)
    if item is not None:
        (folder / "shop.item").write_text(item)
    return folder


HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


@pytest.mark.parametrize("inter,item,message", [
    ("user_id:token\titem_id\ttimestamp:float\nu\ti\t1\n", None,
     "shop.inter:1: field 2 'item_id' is not NAME:TYPE"),
    ("user:token\titem_id:token\ttimestamp:float\nu\ti\t1\n", None, "shop.inter:1: missing field 'user_id:token'"),
    (HEADER + "u\ti\t1\nu\tj\tyesterday\n", None, "shop.inter:3: unparsable timestamp 'yesterday'"),
    (HEADER + "u\ti\t1\nu\ti\t2\n", None, "shop.inter:3: duplicate interaction (user 'u', item 'i'), first on line 2"),
    (HEADER + "u\ti\t1\nu\tj\n", None, "shop.inter:3: 2 field(s), the header has 3"),
    (HEADER + "u\ti\t1\nu\tj\t2\n", "item_id:token\ttitle:token_seq\ni\tA thing\n",
     "shop.inter:3: item 'j' has no line in shop.item"),
    (HEADER + "u\ti\t1\n", "item_id:token\tprice:float\ni\tcheap\n", "shop.item:2: price 'cheap' is not a finite number"),
])
def test_malformed_atomic_files_say_file_and_line(tmp_path, inter, item, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_dataset(path=write(tmp_path / "shop", inter, item))


def test_without_a_timestamp_each_users_rows_keep_the_files_order(tmp_path):
    folder = write(tmp_path / "shop", "user_id:token\titem_id:token\nb\tz\na\tx\nb\ty\na\tw\n")
    dataset = load_dataset(path=folder)
    items = list(dataset.item_ids)
    assert [items[i] for i in dataset.sequence(0)] == ["x", "w"] and [items[i] for i in dataset.sequence(1)] == ["z", "y"]
    assert dataset.order_source == "file order"
    (folder / "interactions.tsv").write_text("user_id\titem_id\tseq_idx\nu\ti\t0\n")
    with pytest.raises(DatasetError, match="both interactions.tsv and RecBole's shop.inter; keep one"):
        load_dataset(path=folder)
