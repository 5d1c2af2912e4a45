"""One test per fix in bench.recbole_compat: each shows the failure on today's stack, then the fix."""

import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from bench import recbole_compat
from tests.conftest import tiny_split


@pytest.fixture(scope="module", autouse=True)
def patched():
    recbole_compat.apply()


def test_ray_stub_lets_quick_start_import_and_refuses_ray_tune():
    import recbole.quick_start  # noqa: F401  (imports `from ray import tune` at import time)

    import ray
    if getattr(ray, "__doc__", "") and "stub" in ray.__doc__:
        with pytest.raises(RuntimeError, match="Optuna"):
            ray.tune.report(score=1.0)


def test_numpy_aliases_recbole_reads_exist_and_removed_ones_stay_removed(tmp_path):
    assert "float_" not in np.__dict__  # RecBole's own compatibility_settings reads np.float_ and fails
    from recbole.config import Config

    Config.compatibility_settings(object())
    assert np.float is np.float64 and np.int is np.int_ and np.long is np.int_


def test_fill_nan_fills_under_copy_on_write():
    from recbole.data.dataset.dataset import Dataset
    from recbole.utils import FeatureType

    frame = pd.DataFrame({"t": [1.0, None], "f": [1.0, None], "s": [np.array([1]), np.nan]})
    frame["t"].fillna(value=0, inplace=True)  # what RecBole does: a silent no-op under pandas 3
    assert frame["t"].isna().any()

    class Fake:
        feat_name_list = ["feat"]
        feat = frame
        field2type = {"t": FeatureType.TOKEN, "f": FeatureType.FLOAT, "s": FeatureType.TOKEN_SEQ}

    Dataset._fill_nan(Fake())
    assert Fake.feat["t"].tolist() == [1.0, 0.0] and Fake.feat["f"].tolist() == [1.0, 1.0]
    assert len(Fake.feat["s"][1]) == 0


def test_remap_concatenates_token_sequences_row_by_row():
    from recbole.data.dataset.dataset import Dataset
    from recbole.utils import FeatureType

    frame = pd.DataFrame({"tags": [np.array(["a", "b"]), np.array(["c"]), np.array(["a"])]})
    assert frame["tags"].agg(len) == 3  # pandas 3: the column's length, not one per row
    tokens, split_points = Dataset._concat_remaped_tokens(None, [(frame, "tags", FeatureType.TOKEN_SEQ)])
    assert tokens.tolist() == ["a", "b", "c", "a"] and list(split_points) == []


def test_dok_update_is_restored():
    from scipy.sparse import dok_matrix

    matrix = dok_matrix((3, 3), dtype=np.float32)
    matrix._update({(0, 1): 2.0, (2, 2): 1.0})
    assert matrix[0, 1] == 2.0 and matrix.nnz == 2


def test_config_ignores_argv_keeps_environment_and_writes_nothing_here(tmp_path, monkeypatch):
    from bench.recbole_bridge import recbole_settings, write_atomic_files

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["pytest", "--learning_rate=9", "--epochs=77"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    split = tiny_split()
    data = write_atomic_files(split, tmp_path / "elsewhere" / "data")
    config = recbole_compat.recbole_config("SASRec", "bench", str(data), str(tmp_path / "elsewhere" / "saved"),
                                           {**recbole_settings(split, 0, "cpu"), "learning_rate": 0.002,
                                            "train_neg_sample_args": None})
    assert config["learning_rate"] == 0.002 and config["epochs"] != 77
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    from recbole.trainer import Trainer
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec

    train, _, _ = data_preparation(config, create_dataset(config))
    Trainer(config, SASRec(config, train.dataset))
    assert list(cwd.iterdir()) == []  # no log/, saved/, log_tensorboard/


def test_recbole_does_not_leave_anomaly_detection_on():
    import recbole.model.sequential_recommender  # noqa: F401

    assert not torch.is_anomaly_enabled()
