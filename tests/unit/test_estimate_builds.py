"""A dry run counts an input feature's build when the cache no longer holds it: the CF embeddings that LETTER
and PLUM read take most of an hour to train, and are missing whenever the cache did not outlive a sitting."""

import numpy as np

from bench import estimate
from bench.cache import Cache


def test_a_missing_cf_build_is_counted_once_and_a_cached_one_not_at_all():
    letter = {"name": "letter", "fit_s": 10.0, "features": {
        "cf_embeddings": {"key": "cf_embeddings-v1-abc", "seconds": 2750.0, "cache_hit": False},
        "text_embeddings": {"hash": "x", "seconds": 0.1}}}
    builds = {name: (key, seconds) for name, key, seconds in estimate._builds(letter)}
    assert builds == {"cf_embeddings": ("cf_embeddings-v1-abc", 2750.0)}  # text embeddings name no cache key
    built = set()
    assert estimate._uncached_builds("plum", builds, built) == ["cf_embeddings"]
    assert estimate._uncached_builds("letter", builds, built) == []  # the job before it builds them
    assert estimate._uncached_builds("rqvae", builds, set()) == []  # reads no CF embeddings
    assert estimate._uncached_builds("no-such-tokenizer", builds, set()) == []  # the run reports that one
    Cache().store("cf_embeddings-v1-abc", {"embeddings": np.zeros((2, 2), np.float32)}, {})
    assert estimate._uncached_builds("plum", builds, set()) == []
