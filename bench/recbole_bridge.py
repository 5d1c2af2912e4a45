"""Our split as RecBole sees it: atomic files, id maps, batches of histories, scores over every item.

RecBole's leave-one-out (`LS: valid_and_test`, time order) reproduces our split exactly when each user's
`.inter` rows are our sequence (training items, validation target, test target) with the position as the
timestamp; an `.item` file lists every catalogue item, so RecBole ranks all of them, including items no
evaluated user touched. tests/unit/test_recbole.py checks that RecBole's examples equal ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.io import atomic_write_bytes
from bench.metrics import display_name
from bench.protocol import Examples, Split

DATASET = "bench"


def write_atomic_files(split: Split, folder: Path, with_targets: bool = True) -> Path:
    """`folder/bench/bench.inter` and `.item`; without targets, only training sequences (for CF features).

    A recommender's split holds no test targets (the runner keeps them): each user's last row then repeats
    the validation target, a placeholder that RecBole's leave-one-out puts in its test part, which is never
    trained on nor read. With the full split (tests), the real test target."""
    root = Path(folder) / DATASET
    root.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for row, user in enumerate(split.users):
        sequence = list(split.train_sequence(row))
        if with_targets:
            last = split.test.targets[row] if split.has_test else split.valid.targets[row]
            sequence += [split.valid.targets[row], last]
        lines += [f"{user}\t{item}\t{position}" for position, item in enumerate(sequence)]
    atomic_write_bytes(root / f"{DATASET}.inter", ("\n".join(lines) + "\n").encode())
    items = "item_id:token\n" + "\n".join(str(i) for i in range(split.n_items)) + "\n"
    atomic_write_bytes(root / f"{DATASET}.item", items.encode())
    return Path(folder)


def recbole_settings(split: Split, seed: int, device: str, selection_metric: str = "ndcg@10") -> dict:
    """The RecBole settings that make its data pipeline ours: no filtering, leave-one-out in our order,
    history length, full ranking, our metrics."""
    return {
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id"]},
        "MAX_ITEM_LIST_LENGTH": split.config.max_history,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)", "rm_dup_inter": None,
        "metrics": ["Recall", "NDCG"], "topk": list(split.config.cutoffs), "valid_metric": display_name(selection_metric),
        "seed": seed, "reproducibility": True,
        "use_gpu": device.startswith("cuda"), "gpu_id": device.partition(":")[2] or "0",
    }


@dataclass(frozen=True)
class IdMap:
    """RecBole's internal item ids (1..n, 0 = padding) against our item indices (0..n-1)."""
    to_internal: np.ndarray  # [n_items] our index -> RecBole id
    to_ours: np.ndarray      # [n_items + 1] RecBole id -> our index (-1 for padding)

    @classmethod
    def from_dataset(cls, dataset, n_items: int) -> IdMap:
        tokens = dataset.field2id_token["item_id"]
        to_ours = np.array([-1] + [int(t) for t in tokens[1:]], dtype=np.int64)
        if len(to_ours) != n_items + 1 or sorted(to_ours[1:]) != list(range(n_items)):
            raise ValueError(f"RecBole sees {len(to_ours) - 1} items, the catalogue has {n_items}")
        to_internal = np.empty(n_items, dtype=np.int64)
        to_internal[to_ours[1:]] = np.arange(1, n_items + 1)
        return cls(to_internal, to_ours)

    def histories(self, examples: Examples) -> np.ndarray:
        """Our left-aligned histories (padding -1) as RecBole item-id lists (padding 0)."""
        history = examples.history.astype(np.int64)
        return np.where(history >= 0, self.to_internal[np.maximum(history, 0)], 0)


def interaction(config, ids: IdMap, examples: Examples, users_internal=None, targets: bool = False):
    """A RecBole Interaction for a batch of our examples."""
    import torch
    from recbole.data.interaction import Interaction

    fields = {config["ITEM_ID_FIELD"] + config["LIST_SUFFIX"]: torch.from_numpy(ids.histories(examples)),
              config["ITEM_LIST_LENGTH_FIELD"]: torch.from_numpy(examples.lengths.astype(np.int64))}
    if users_internal is not None:
        fields[config["USER_ID_FIELD"]] = torch.from_numpy(users_internal)
    if targets:
        fields[config["ITEM_ID_FIELD"]] = torch.from_numpy(ids.to_internal[examples.targets])
    return Interaction(fields)


def score_top_k(model, config, ids: IdMap, examples: Examples, k: int, batch_size: int, device: str,
                user_ids=None) -> np.ndarray:
    """Top-k of our item indices per example by `full_sort_predict`, every item ranked (padding never)."""
    import torch

    out = np.empty((len(examples), k), dtype=np.int64)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(examples)))
            users = None if user_ids is None else user_ids[rows]
            batch = interaction(config, ids, examples.select(rows), users).to(device)
            scores = model.full_sort_predict(batch).view(len(rows), -1)
            scores[:, 0] = -torch.inf
            top = torch.topk(scores, k, dim=1).indices.cpu().numpy()
            out[rows] = ids.to_ours[top]
    return out
