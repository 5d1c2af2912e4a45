"""RecBole on our split: its training, validation and test examples are ours, and its metrics equal ours."""

import numpy as np
import pytest

from bench import registry
from bench.config import build
from bench.metrics import mean_metrics, per_user_metrics
from bench.recbole_bridge import IdMap, recbole_settings, write_atomic_files
from bench.recbole_compat import recbole_config
from bench.recommender import RunContext
from tests.conftest import tiny_split


def as_rows(users, history, lengths, targets):
    """A sorted list of (user, history tuple, target) in our item indices."""
    rows = zip(users, history, lengths, targets)
    return sorted((int(u), tuple(int(i) for i in h[:n]), int(t)) for u, h, n, t in rows)


def our_rows(examples):
    return as_rows(examples.users, examples.history, examples.lengths, examples.targets)


def recbole_rows(dataset, ids, split):
    feat = dataset.inter_feat
    user_tokens = dataset.field2id_token["user_id"]
    users = [int(user_tokens[u]) for u in feat["user_id"].numpy()]
    history = ids.to_ours[feat["item_id_list"].numpy()]
    return as_rows(users, history, feat["item_length"].numpy(), ids.to_ours[feat["item_id"].numpy()])


def test_recbole_examples_are_exactly_our_split(tmp_path):
    from recbole.data import create_dataset, data_preparation

    split = tiny_split()
    data = write_atomic_files(split, tmp_path / "data")
    config = recbole_config("SASRec", "bench", str(data), str(tmp_path / "saved"),
                            {**recbole_settings(split, 0, "cpu"), "train_neg_sample_args": None})
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    ids = IdMap.from_dataset(dataset, split.n_items)
    assert dataset.item_num == split.n_items + 1  # every catalogue item, plus padding
    assert recbole_rows(train.dataset, ids, split) == our_rows(split.train)
    assert recbole_rows(valid.dataset, ids, split) == our_rows(split.valid)
    assert recbole_rows(test.dataset, ids, split) == our_rows(split.test)


def test_id_map_round_trip_and_padding():
    split = tiny_split()

    class Fake:
        field2id_token = {"item_id": np.array(["[PAD]"] + [str(i) for i in np.random.default_rng(0).permutation(120)])}

    ids = IdMap.from_dataset(Fake(), 120)
    assert (ids.to_ours[ids.to_internal] == np.arange(120)).all()
    internal = ids.histories(split.test)
    assert ((internal == 0) == (split.test.history < 0)).all()
    with pytest.raises(ValueError, match="catalogue has 121"):
        IdMap.from_dataset(Fake(), 121)


def test_sasrec_metrics_equal_recboles_own_evaluation(tmp_path):
    split = tiny_split()
    cls = registry.get("recommenders", "recbole")
    config = build(cls.Config, {"model": "SASRec", "epochs": 2, "params": {"hidden_size": 16, "inner_size": 32}})
    model = cls(config, RunContext(device="cpu", work_dir=str(tmp_path), threads=1))
    info = model.fit(split, None, seed=0)
    assert info.epochs == 2 and info.extra["curve"][0]["epoch"] == 1
    ranked = model.recommend(split.test, 10)
    assert ranked.shape == (300, 10) and all(len(set(row)) == 10 for row in ranked)
    ours = mean_metrics(per_user_metrics(ranked, split.test.targets, (5, 10)))
    theirs = model.recbole_evaluation()
    for name in ("recall@5", "recall@10", "ndcg@5", "ndcg@10"):
        assert ours[name] == pytest.approx(float(theirs[name]), abs=6e-5)  # RecBole rounds to 4 digits


def test_bf16_autocast_reaches_recboles_trainer_and_learns_like_fp32(tmp_path):
    split = tiny_split()
    cls = registry.get("recommenders", "recbole")
    fitted = {}
    for precision in ("fp32", "bf16"):
        config = build(cls.Config, {"model": "SASRec", "epochs": 3, "precision": precision,
                                    "params": {"hidden_size": 16, "inner_size": 32}})
        model = cls(config, RunContext(device="cpu", work_dir=str(tmp_path / precision), threads=1))
        info = model.fit(split, None, seed=0)
        assert info.extra["precision"] == precision and model.trainer.enable_amp == (precision == "bf16")
        fitted[precision] = [point["valid_ndcg@10"] for point in info.extra["curve"]]
    assert fitted["fp32"] != fitted["bf16"]  # autocast did run: the arithmetic differs ...
    for a, b in zip(fitted["fp32"], fitted["bf16"]):  # ... and the model learns the same
        assert abs(a - b) <= 0.02 + 0.2 * a, fitted
