"""RecBole's trainer driven epoch by epoch by us, so that a killed run resumes to the very model an
uninterrupted run trains.

RecBole's own `Trainer.fit` saves only the best epoch so far (a resumed run restarts there, replaying epochs
with other random draws), writes its checkpoint in place (a kill during the save leaves a file that fails
every rerun) and pickles its `Config` into it (so it can be read back only with `weights_only=False`, which
runs whatever a planted file holds). Here RecBole trains and scores each epoch (`_train_epoch`,
`_valid_epoch`), and after every epoch one checkpoint holds what the next epoch depends on: weights,
optimiser, best weights, early-stopping state, the curve, and every random source (torch, numpy, Python, the
training loader's shuffling generator). It holds tensors and plain values only, is written atomically and
read with `weights_only=True`; a checkpoint that cannot be read, or that belongs to other settings, is
reported and training starts over.
"""

from __future__ import annotations

import copy
import io
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.io import atomic_write_bytes
from bench.progress import log


@dataclass
class Progress:
    """Early-stopping state, as RecBole keeps it: a score at least as good as the best resets the count,
    and training stops once more than `stopping_step` evaluations in a row brought no gain."""

    epochs_done: int = 0
    best_score: float = float("-inf")
    best_epoch: int = 0  # 1-based; 0 = none yet
    evals_without_gain: int = 0
    curve: list = field(default_factory=list)
    seconds: float = 0.0  # wall seconds of the epochs done, those of earlier (killed) processes included


def _rng_state(train_data) -> dict:
    import torch

    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "loader": train_data.generator.get_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, train_data) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    train_data.generator.set_state(state["loader"])
    saved = state["numpy"]
    np.random.set_state((saved["kind"], saved["keys"].numpy().astype(np.uint32), saved["position"],
                         saved["has_gauss"], saved["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _load(path: Path, config_key: str, device) -> dict | None:
    """The checkpoint's content, or None (with the reason logged) when there is none this run can use."""
    import torch

    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # truncated, foreign, or a pickle that wants to run code: never executed
        log(f"{path}: not a checkpoint this run can read ({type(err).__name__}); training from the start")
        return None
    if not isinstance(saved, dict) or saved.get("config_key") != config_key:
        log(f"{path}: a checkpoint of other settings; training from the start")
        return None
    return saved


def fit(trainer, train_data, valid_data, *, epochs: int, stopping_step: int, checkpoint: Path,
        config_key: str, score_name: str = "valid_score", on_epoch=None) -> Progress:
    """Train `trainer.model` for at most `epochs` epochs with early stopping on `trainer.valid_metric`;
    the best weights are loaded back. `on_epoch(epoch, score, progress)` hears every validation score after
    the checkpoint of that epoch is written (a sweep's pruner may raise from it)."""
    import torch

    model, optimizer = trainer.model, trainer.optimizer
    bigger = trainer.valid_metric_bigger
    sign = 1.0 if bigger else -1.0
    progress = Progress()
    best_weights = copy.deepcopy(model.state_dict())
    saved = _load(Path(checkpoint), config_key, trainer.device)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        best_weights = saved["best_weights"]
        progress = Progress(**saved["progress"])
        _restore_rng(saved["rng"], train_data)
        log(f"{type(model).__name__}: resuming after epoch {progress.epochs_done} of {epochs} "
            f"(best so far at epoch {progress.best_epoch})")
    trainer.eval_collector.data_collect(train_data)

    while progress.epochs_done < epochs and progress.evals_without_gain <= stopping_step:
        epoch = progress.epochs_done  # RecBole's 0-based epoch index
        epoch_start = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch)
        score, _ = trainer._valid_epoch(valid_data)
        score = float(score)
        progress.epochs_done += 1
        progress.seconds += time.perf_counter() - epoch_start
        if sign * score >= progress.best_score:
            progress.best_score, progress.best_epoch, progress.evals_without_gain = sign * score, epoch + 1, 0
            best_weights = copy.deepcopy(model.state_dict())
        else:
            progress.evals_without_gain += 1
        progress.curve.append({"epoch": epoch + 1, "loss": round(float(sum(loss) if isinstance(loss, tuple)
                                                                          else loss), 5),
                               score_name: round(score, 5)})
        buffer = io.BytesIO()
        torch.save({"config_key": config_key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "best_weights": best_weights, "progress": asdict(progress), "rng": _rng_state(train_data)},
                   buffer)
        atomic_write_bytes(Path(checkpoint), buffer.getvalue())
        if on_epoch is not None:
            on_epoch(epoch + 1, score, progress)
    model.load_state_dict(best_weights)
    return progress
