"""RecBole 1.2.1 on today's stack (numpy 2, pandas 3, scipy >= 1.12, torch >= 2.6), patched in memory.

RecBole's last release predates these versions and breaks on them; nothing on disk is changed. `apply()`
installs every fix once (it is idempotent); `recbole_config()` builds a RecBole `Config` that neither reads
`sys.argv` nor writes into the working directory. Each fix has a test in tests/unit/test_recbole_compat.py
that shows the failure it prevents.

1. ray: `recbole.quick_start` imports `ray.tune` at import time, and ray 2.6.3 cannot be imported here (it
   needs `pkg_resources`). It is used only for `tune.report` in hyper-parameter tuning, so a stub stands in
   when the real import fails; calling it raises.
2. numpy 2: `Config.compatibility_settings` assigns `np.float = np.float_` and friends; `np.float_` is gone.
   The replacement defines only the aliases numpy lacks (RecBole's own code still reads `np.float`).
3. pandas 3 copy-on-write: `df[col].fillna(..., inplace=True)` silently does nothing (`Dataset._fill_nan`,
   `_load_feat` for sequence fields), and `Series.agg(np.concatenate)` / `agg(len)` work on the whole
   column instead of per row (`_remap` of token sequences). The patched methods assign instead.
4. scipy >= 1.12: graph models call `dok_matrix._update`, which was removed; it is restored as a dict update.
5. Anomaly detection: importing RecBole's model package runs `torch.autograd.set_detect_anomaly(True)` at module
   level (`sine.py`), which slows every backward pass of the process and turns a NaN loss anywhere into a
   RuntimeError. `apply()` imports the models and switches it back off.
6. Process state: RecBole's Config reads `--key=value` from `sys.argv` and sets CUDA_VISIBLE_DEVICES; it
   writes `./log_tensorboard` (every `Trainer`), `./log` (`init_logger`, which we
   never call) and `./saved` (the default `checkpoint_dir`, which `recbole_config` points elsewhere).

RecBole's own checkpoints (which pickle its Config, so torch >= 2.6 reads them only with `weights_only=False`)
are never written nor read: `bench.recbole_training` drives the trainer and keeps its own.
"""

from __future__ import annotations

import os
import sys
import types
from contextlib import contextmanager

import numpy as np

_APPLIED = False

# The aliases RecBole 1.2.1 assigns, as numpy 2 spells them.
NUMPY_ALIASES = {"bool": np.bool_, "int": np.int_, "float": np.float64, "complex": np.complex128,
                 "object": np.object_, "str": np.str_, "long": np.int_, "unicode": np.str_}


def _ray_stub() -> None:
    try:
        import ray.tune  # noqa: F401
        return
    except Exception:  # any import failure: ray 2.6.3 raises ModuleNotFoundError for pkg_resources
        pass

    def report(*args, **kwargs):
        raise RuntimeError("ray is not usable here; SID Bench tunes with Optuna (python -m bench sweep)")

    ray = types.ModuleType("ray")
    ray.__doc__ = "stub installed by bench.recbole_compat: ray 2.6.3 cannot be imported"
    ray.tune = types.ModuleType("ray.tune")
    ray.tune.report = report
    sys.modules["ray"], sys.modules["ray.tune"] = ray, ray.tune


def _numpy_aliases(config_cls) -> None:
    def compatibility_settings(self):
        for name, value in NUMPY_ALIASES.items():
            if name not in np.__dict__:
                setattr(np, name, value)

    config_cls.compatibility_settings = compatibility_settings


class _NullWriter:
    """Stands in for tensorboard's SummaryWriter: RecBole's trainer logs to it, nothing is written."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _patch_dataset(dataset_cls, feature_type) -> None:
    original_load_feat = dataset_cls._load_feat

    def _fill_nan(self):
        for feat_name in self.feat_name_list:
            feat = getattr(self, feat_name)
            for field in feat:
                ftype = self.field2type[field]
                if ftype == feature_type.TOKEN:
                    feat[field] = feat[field].fillna(value=0)
                elif ftype == feature_type.FLOAT:
                    feat[field] = feat[field].fillna(value=feat[field].mean())
                else:
                    dtype = np.int64 if ftype == feature_type.TOKEN_SEQ else np.float64
                    feat[field] = [np.array([], dtype=dtype) if isinstance(x, float) else x for x in feat[field]]

    def _load_feat(self, filepath, source):
        # Sequence columns are parsed with `str.split` right after reading; an empty cell must be "" (RecBole's
        # in-place fillna no longer reaches the frame), so the reader fills them before RecBole sees them.
        module = sys.modules[dataset_cls.__module__]
        real_pd = module.pd

        class Pandas(types.ModuleType):
            def __getattr__(self, name):
                return getattr(real_pd, name)

            @staticmethod
            def read_csv(*args, **kwargs):
                frame = real_pd.read_csv(*args, **kwargs)
                sequence = [c for c in frame.columns if str(c).endswith("_seq")]
                return frame.fillna({c: "" for c in sequence}) if sequence else frame

        module.pd = Pandas("pandas")
        try:
            return original_load_feat(self, filepath, source)
        finally:
            module.pd = real_pd

    def _concat_remaped_tokens(self, remap_list):
        tokens = []
        for feat, field, ftype in remap_list:
            if ftype == feature_type.TOKEN:
                tokens.append(feat[field].values)
            elif ftype == feature_type.TOKEN_SEQ:
                rows = list(feat[field])
                tokens.append(np.concatenate(rows) if rows else np.array([], dtype=object))
        split_point = np.cumsum([len(t) for t in tokens])[:-1]
        return np.concatenate(tokens), split_point

    dataset_cls._fill_nan = _fill_nan
    dataset_cls._load_feat = _load_feat
    dataset_cls._concat_remaped_tokens = _concat_remaped_tokens


def _dok_update() -> None:
    from scipy.sparse import dok_matrix

    if not hasattr(dok_matrix, "_update"):
        def _update(self, data):
            self._dict.update(data)

        dok_matrix._update = _update


def apply() -> None:
    """Install every fix (once per process)."""
    global _APPLIED
    if _APPLIED:
        return
    _ray_stub()
    from recbole.config import configurator
    from recbole.data.dataset import dataset
    from recbole.trainer import trainer
    from recbole.utils import FeatureType

    import torch
    import recbole.model.sequential_recommender  # noqa: F401  (its sine.py switches anomaly detection on)

    torch.autograd.set_detect_anomaly(False)
    _numpy_aliases(configurator.Config)
    trainer.get_tensorboard = lambda logger: _NullWriter()
    _patch_dataset(dataset.Dataset, FeatureType)
    _dok_update()
    _APPLIED = True


@contextmanager
def _argv_cleared():
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


@contextmanager
def _environment_kept():
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved


def recbole_config(model: str, dataset: str, data_path: str, checkpoint_dir: str, params: dict):
    """A RecBole Config that ignores `--key=value` in sys.argv, keeps checkpoints in `checkpoint_dir` and
    leaves CUDA_VISIBLE_DEVICES as it was (RecBole overwrites it with its `gpu_id`)."""
    apply()
    from recbole.config import Config

    # RecBole's own batch bars when a person watches (an epoch can take minutes); none in logs and CI
    settings = {"data_path": data_path, "checkpoint_dir": checkpoint_dir, "show_progress": sys.stderr.isatty(),
                "save_dataset": False, "save_dataloaders": False, **params}
    with _argv_cleared(), _environment_kept():
        return Config(model=model, dataset=dataset, config_dict=settings)
