"""Memorised vs new transitions, counted by hand on a four-user dataset."""

import numpy as np
import pytest

from bench.data.dataset import load_folder
from bench.memorisation import memorised, recall_by_transition
from bench.protocol import make_split
from tests.conftest import write_dataset

# training parts: u1 a b c d | u2 a b | u3 b c | u4 c d; test transitions: u1 e->f, u2 c->d, u3 d->a, u4 e->a
INTERACTIONS = "user_id\titem_id\tseq_idx\n" + "".join(
    f"{user}\t{item}\t{i}\n" for user, items in
    {"u1": "abcdef", "u2": "abcd", "u3": "bcda", "u4": "cdea"}.items() for i, item in enumerate(items))


def test_a_test_transition_is_memorised_when_training_has_the_same_pair(tmp_path):
    dataset = load_folder(write_dataset(tmp_path / "d", INTERACTIONS))
    split = make_split(dataset)
    # training pairs: a->b, b->c, c->d (u1), a->b (u2 has only a b: one example), b->c (u3), c->d (u4)
    # test: u1 e->f new, u2 c->d memorised, u3 d->a new, u4 e->a new
    assert memorised(split, split.test).tolist() == [False, True, False, False]
    # validation: u1 d->e new, u2 b->c memorised, u3 c->d memorised, u4 d->e new
    assert memorised(split, split.valid).tolist() == [False, True, True, False]
    share, seen, new = recall_by_transition(split, split.users, np.array([1.0, 0.0, 1.0, 0.0]))
    assert (share, seen, new) == (0.25, 0.0, 2 / 3)
    with pytest.raises(ValueError, match="does not evaluate"):
        recall_by_transition(split, np.array([7]), np.array([1.0]))
