"""Issue 38.3: slice labels from the split alone."""

import numpy as np

from bench.slices import HISTORY_SLICES, item_categories, item_popularity, popularity_levels, user_slices
from tests.conftest import tiny_split


def test_popularity_levels_split_the_catalogue_20_30_50():
    levels = popularity_levels(np.array([0, 9, 8, 7, 6, 5, 4, 3, 2, 1]))
    assert levels.tolist() == [2, 0, 0, 1, 1, 1, 2, 2, 2, 2]


def test_categories_take_the_level_below_the_root():
    paths = [(("Beauty", "Makeup", "Eyes"),), (("Beauty", "Skin Care"),), (("Beauty",),), ()]
    # names sorted: Beauty (a path with the root alone), Makeup, Skin Care
    assert item_categories(paths, 4).tolist() == [1, 2, 0, -1]


def test_user_slices_on_the_tiny_split():
    split = tiny_split()
    popularity = item_popularity(split)
    assert popularity.sum() == len(split.train_items)
    slices = user_slices(split, "test", popularity)
    assert all(len(v) == len(split.test) for v in slices.values())
    assert set(np.unique(slices["history"])) <= set(range(len(HISTORY_SLICES)))
    lengths = np.diff(split.train_offsets) + 1  # the test history: training sequence and validation item
    assert (slices["history"][lengths < 5] == 0).all() and (slices["history"][lengths >= 10] >= 2).all()
