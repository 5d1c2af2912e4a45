import numpy as np
import pytest

from bench.data.dataset import load_folder
from bench.data.files import ItemMeta
from bench.errors import ConfigError, DatasetError
from bench.protocol import ProtocolConfig, item_text, make_split
from tests.conftest import write_dataset

# u1: a b c d e (by seq_idx, deliberately not file order); u2: c d e; u3: a b (too short, dropped)
INTERACTIONS = """user_id\titem_id\tseq_idx
u1\te\t4
u1\ta\t0
u1\tc\t2
u1\tb\t1
u1\td\t3
u2\tc\t0
u2\td\t1
u2\te\t2
u3\ta\t0
u3\tb\t1
"""


def ids(dataset, indices):
    return [dataset.item_ids[i] if i >= 0 else "-" for i in indices]


def test_leave_one_out_with_every_prefix(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", INTERACTIONS))
    split = make_split(dataset, ProtocolConfig(max_history=3))
    assert split.dropped_users == 1
    assert [dataset.user_ids[u] for u in split.test.users] == ["u1", "u2"]
    assert ids(dataset, split.test.targets) == ["e", "e"]
    assert ids(dataset, split.valid.targets) == ["d", "d"]
    # u1 trains on a b c: (a -> b), (a b -> c); u2 trains on c alone: no example
    assert [(ids(dataset, h[:n]), dataset.item_ids[t]) for h, n, t in
            zip(split.train.history, split.train.lengths, split.train.targets)] == [
        (["a"], "b"), (["a", "b"], "c")]
    # test history of u1 is the last 3 items before the target, left-aligned
    assert ids(dataset, split.test.history[0]) == ["b", "c", "d"]
    assert ids(dataset, split.valid.history[1]) == ["c", "-", "-"]
    assert split.train_sequence(0).tolist() == [dataset.item_ids.tolist().index(x) for x in "abc"]


def test_history_truncated_to_the_last_n_items(tmp_path):
    rows = "user_id,item_id,timestamp\n" + "".join(f"u,i{j:02d},{1000 + j}\n" for j in range(30))
    dataset = load_folder(write_dataset(tmp_path / "d", rows, name="interactions.csv"))
    split = make_split(dataset, ProtocolConfig(max_history=20))
    assert split.test.lengths.tolist() == [20]
    assert ids(dataset, split.test.history[0]) == [f"i{j:02d}" for j in range(9, 29)]
    assert len(split.train) == 27  # 28 training items, every prefix of length >= 1
    assert split.train.lengths.max() == 20


def test_timestamp_ties_keep_file_order(tmp_path):
    rows = "user_id\titem_id\ttimestamp\nu\tz\t5\nu\ty\t5\nu\tx\t1\nu\tw\t9\n"
    dataset = load_folder(write_dataset(tmp_path / "d", rows))
    assert dataset.order_source == "timestamp"
    assert ids(dataset, dataset.sequence(0)) == ["x", "z", "y", "w"]


def test_seq_idx_wins_over_timestamp(tmp_path):
    rows = "user_id\titem_id\ttimestamp\tseq_idx\nu\ta\t5\t2\nu\tb\t5\t0\nu\tc\t1\t1\n"
    dataset = load_folder(write_dataset(tmp_path / "d", rows))
    assert ids(dataset, dataset.sequence(0)) == ["b", "c", "a"]


def test_no_eligible_user_is_a_clear_error(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", "user_id,item_id,seq_idx\nu,a,0\nu,b,1\n",
                                        name="interactions.csv"))
    with pytest.raises(DatasetError, match="no user has"):
        make_split(dataset)


def test_protocol_settings_are_checked():
    with pytest.raises(ConfigError, match="max_history"):
        ProtocolConfig(max_history=0)
    with pytest.raises(ConfigError, match="unknown field"):
        ProtocolConfig(text_fields=("title", "colour"))


def test_item_text_template():
    meta = ItemMeta(title="L'Oreal Feria", brand="L'Oreal", categories=(("Beauty", "Hair Care"), ("Beauty", "Dye")),
                    price=7.5)
    assert item_text(meta) == ("Title: L'Oreal Feria; Brand: L'Oreal; "
                               "Categories: Beauty > Hair Care | Beauty > Dye; Price: $7.50")
    assert item_text(ItemMeta(title="Soap")) == "Title: Soap"
    assert item_text(meta, ("brand",)) == "Brand: L'Oreal"


def test_split_is_vectorised_and_consistent_on_synthetic_data():
    from bench.data import load_dataset

    dataset = load_dataset("tiny")
    split = make_split(dataset)
    lengths = dataset.sequence_lengths
    assert len(split.train) == int((lengths - 3).sum())
    # every training target is the item right after its history in the user's sequence
    for row in np.random.default_rng(0).choice(len(split.train), 50, replace=False):
        seq = dataset.sequence(split.train.users[row]).tolist()
        hist = split.train.history[row, :split.train.lengths[row]].tolist()
        pos = seq.index(split.train.targets[row])
        assert seq[max(0, pos - 20):pos] == hist


def test_cold_items_are_never_seen_before_their_test_target():
    """TIGER's unseen items: a share of the distinct test targets is cold; no training sequence, validation
    target or history (validation or test) holds one; the users whose test target is cold are the cold slice."""
    from bench.data import load_dataset
    from bench.identity import protocol_hash
    from bench.protocol import SplitConfig, describe_split

    dataset = load_dataset("tiny")
    config = ProtocolConfig(split=SplitConfig(name="cold_items", cold_share=0.2))
    split = make_split(dataset, config)
    cold = set(split.cold_items.tolist())
    warm_targets = set(make_split(dataset).test.targets.tolist())
    assert cold <= warm_targets and len(cold) == round(0.2 * len(warm_targets))
    seen = set(split.train_items.tolist()) | set(split.valid.targets.tolist())
    seen |= set(split.valid.history[split.valid.history >= 0].tolist()) | set(split.test.history[split.test.history >= 0].tolist())
    assert not seen & cold
    assert split.test_is_cold.sum() == split.cold_report["cold_test_users"] > 0
    assert set(split.test.targets[split.test_is_cold].tolist()) <= cold
    # each user's sequence is the original less its cold items (the last one kept)
    for row in range(0, len(split.users), 37):
        user = split.users[row]
        original = dataset.sequence(user).tolist()
        kept = [i for i in original[:-1] if i not in cold] + original[-1:]
        assert split.train_sequence(row).tolist() + [split.valid.targets[row], split.test.targets[row]] == kept
    assert split.dropped_users == split.cold_report["users_left_too_short"]
    assert "cold items: " in describe_split(split)
    assert np.array_equal(make_split(dataset, config).cold_items, split.cold_items)  # a setting, not a run seed
    other = make_split(dataset, ProtocolConfig(split=SplitConfig(name="cold_items", cold_share=0.2, cold_seed=1)))
    assert not np.array_equal(other.cold_items, split.cold_items)
    # leave-one-out keeps the hash (and so every run id) it had before splits were named
    assert protocol_hash(ProtocolConfig()) == protocol_hash(ProtocolConfig(split=SplitConfig()))
    assert protocol_hash(config) != protocol_hash(ProtocolConfig())
    with pytest.raises(ConfigError, match="settings of the cold_items split"):
        SplitConfig(cold_share=0.1)
    with pytest.raises(ConfigError, match="cold_share must lie in"):
        SplitConfig(name="cold_items", cold_share=1.0)
