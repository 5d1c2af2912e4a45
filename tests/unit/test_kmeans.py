import numpy as np
import pytest

from bench.errors import PluginError
from bench.quantize.kmeans import balanced_assign, balanced_kmeans, kmeans, residual_kmeans


def blobs(n=600, d=8, k=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (k, d))
    # deliberately unbalanced: half the points in one blob
    sizes = [n // 2] + [n // (2 * (k - 1))] * (k - 1)
    return np.concatenate([c + rng.normal(0, 0.3, (s, d)) for c, s in zip(centres, sizes)]).astype(np.float32)


def test_kmeans_is_deterministic_for_a_seed():
    x = blobs()
    a = kmeans(x, 6, seed=3)[1]
    assert np.array_equal(a, kmeans(x, 6, seed=3)[1])
    assert len(np.unique(a)) == 6


def test_balanced_assignment_respects_capacity_and_prefers_near_centroids():
    x = blobs()
    centroids, plain = kmeans(x, 6, seed=0)
    assert np.bincount(plain).max() >= 300  # the big blob stays whole without a cap
    assign = balanced_assign(x, centroids, capacity=100)
    assert np.bincount(assign, minlength=6).max() <= 100 and (assign >= 0).all()
    with pytest.raises(PluginError, match="capacity"):
        balanced_assign(x, centroids, capacity=10)


def test_balanced_kmeans_caps_every_cluster():
    x = blobs()
    _, assign = balanced_kmeans(x, 6, seed=0, size_factor=1.0)
    assert np.bincount(assign).max() <= 100


def test_residual_levels_reduce_the_error():
    x = blobs()
    codes, books = residual_kmeans(x, (6, 6, 6), seed=0)
    assert codes.shape == (600, 3)
    recon = np.zeros_like(x)
    errors = []
    for level, book in enumerate(books):
        recon += book[codes[:, level]]
        errors.append(float(((x - recon) ** 2).sum()))
    assert errors[0] > errors[1] > errors[2]


def test_nan_embeddings_are_a_clear_error():
    x = blobs()
    x[7, 2] = np.nan
    with pytest.raises(PluginError, match="NaN or infinite values \\(first in row 7\\)"):
        kmeans(x, 4, seed=0)
