"""Issue 18.3: a killed RecBole run resumes to the model an uninterrupted run trains; a damaged checkpoint
starts the training over instead of failing every rerun; a planted checkpoint is never unpickled."""

import os
import pickle

import numpy as np
import pytest
import torch

from bench import registry
from bench.config import build
from bench.recommender import RunContext
from tests.conftest import tiny_split

SETTINGS = {"model": "SASRec", "epochs": 4, "stopping_step": 10, "params": {"hidden_size": 16, "inner_size": 32}}


class Killed(Exception):
    pass


def fit(work, on_eval=None):
    split = tiny_split()
    cls = registry.get("recommenders", "recbole")
    model = cls(build(cls.Config, SETTINGS), RunContext(device="cpu", work_dir=str(work), threads=1, on_eval=on_eval))
    info = model.fit(split.for_fit(), None, seed=0)
    return info, model.recommend(split.valid, 10)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return fit(tmp_path_factory.mktemp("uninterrupted"))


def kill_after(epoch):
    def on_eval(done, score):
        if done == epoch:
            raise Killed
    return on_eval


def test_killed_run_resumes_to_the_same_model_and_curve(tmp_path, uninterrupted):
    with pytest.raises(Killed):
        fit(tmp_path, kill_after(2))
    info, ranked = fit(tmp_path)
    want_info, want_ranked = uninterrupted
    assert np.array_equal(ranked, want_ranked)
    assert info.extra["curve"] == want_info.extra["curve"] and len(info.extra["curve"]) == 4
    assert (info.epochs, info.best_epoch) == (want_info.epochs, want_info.best_epoch)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a checkpoint at all"])
def test_damaged_checkpoint_starts_over_instead_of_failing(tmp_path, uninterrupted, content):
    (tmp_path / "saved").mkdir()
    for path in (tmp_path / "checkpoint.pt", tmp_path / "saved" / "SASRec.pth"):  # ours, and RecBole's own name
        path.write_bytes(content)
    info, ranked = fit(tmp_path)
    assert np.array_equal(ranked, uninterrupted[1]) and info.epochs == 4


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_planted_checkpoint_is_never_unpickled(tmp_path, uninterrupted):
    marker = tmp_path / "owned"
    (tmp_path / "saved").mkdir()
    for path in (tmp_path / "checkpoint.pt", tmp_path / "saved" / "SASRec.pth"):  # ours, and RecBole's own name
        torch.save({"config_key": "x", "model": Payload(marker)}, path)
        with open(path.with_suffix(".pkl"), "wb") as out:
            pickle.dump(Payload(marker), out)
    info, ranked = fit(tmp_path)
    assert not marker.exists()
    assert np.array_equal(ranked, uninterrupted[1])
