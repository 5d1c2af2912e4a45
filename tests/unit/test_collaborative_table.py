"""The cold board's collaborative-against-content table: who counts as collaborative or content-only comes
from what the systems read (bench.tokenizer.FEATURES' signal), and each difference is paired on the right
users under the reading TIGER's protocol serves."""

import re

import numpy as np

from bench.evidence import CAPPED_PART, PREFIX_PART
from bench.leaderboard.cold import collaborative_table, signals
from bench.tokenizer import FEATURES

USERS = 400
COLD = np.r_[np.zeros(300, np.int8), np.ones(100, np.int8)]  # the last 100 test users have a cold target


def record(system, features, recommender, parts):
    rng = np.random.default_rng(len(system))
    arrays = {"users": np.arange(USERS), "test.slice.item": COLD}
    for part, (warm, cold) in parts.items():
        arrays[f"{part}.ndcg@10"] = np.where(COLD == 1, cold, warm) * rng.uniform(0.5, 1.5, USERS)
    return {"system": system, "_path": system, "recommender": {"name": recommender, "plugin": recommender},
            "tokenizer": {"name": system.split("+")[0], "features": {f: {} for f in features}} if features else None,
            "_arrays": arrays}


def test_every_training_only_feature_says_what_signal_it_carries():
    for name, spec in FEATURES.items():
        assert spec.signal in ("content", "collaborative", "popularity"), name
        assert spec.train_only == (spec.signal != "content"), name  # content is known for every item


def test_collaborative_systems_are_paired_with_content_only_ones_on_warm_and_cold_users():
    generative = {PREFIX_PART: None, CAPPED_PART: None}
    systems = {
        "letter+tiger": [record("letter+tiger", ["text_embeddings", "cf_embeddings", "train_item_counts"], "tiger",
                                {p: (0.3, 0.0) for p in generative})],
        "rqvae+tiger": [record("rqvae+tiger", ["text_embeddings"], "tiger", {p: (0.1, 0.0) for p in generative})],
        "text-knn": [record("text-knn", None, "text-knn", {CAPPED_PART: (0.05, 0.2)})],
        "random+tiger": [record("random+tiger", [], "tiger", {p: (0.0, 0.0) for p in generative})],
        "sasrec": [record("sasrec", None, "sasrec", {CAPPED_PART: (0.4, 0.0)})],
    }
    assert signals(systems["letter+tiger"][0]) == {"content", "collaborative", "popularity"}
    assert signals(systems["text-knn"][0]) == {"content"} and signals(systems["sasrec"][0]) == set()
    text = "\n".join(collaborative_table(systems, list(systems), (5, 10)))
    rows = re.findall(r"^\| (\S+) +\| (\S+) +\| ([+-][\d.]+) +\| \[.*?\] +\| \S+ +\| ([+-][\d.]+) ", text, re.M)
    pairs = {(a, b): (float(warm), float(cold)) for a, b, warm, cold in rows}
    assert set(pairs) == {("letter+tiger", "rqvae+tiger"), ("letter+tiger", "text-knn")}  # no random, no sasrec
    assert pairs["letter+tiger", "rqvae+tiger"][0] > 0.1 and pairs["letter+tiger", "rqvae+tiger"][1] == 0
    warm, cold = pairs["letter+tiger", "text-knn"]
    assert warm > 0.15 and cold < -0.1  # the warm users' gain, the cold users' loss: not mixed
    assert "letter+tiger: prefix, ε = 0.1" in text and "text-knn: ε = 0.1" in text
    assert "the 300 warm and the 100 cold test users" in text


def test_no_table_without_both_kinds():
    systems = {"rqvae+tiger": [record("rqvae+tiger", ["text_embeddings"], "tiger", {PREFIX_PART: (0.1, 0.0)})]}
    assert collaborative_table(systems, list(systems), (10,)) == []


def test_a_record_says_which_features_its_recommender_read():
    """What the recommender recorded decides, not the installed plugin: a plugin may change what it reads."""
    record = {"tokenizer": None, "recommender": {"name": "sasrec", "plugin": "recbole", "features": {}}}
    assert signals(record) == set()
    record["recommender"]["features"] = {"text_embeddings": {"hash": "0" * 16}}  # as a text-reading version did
    assert signals(record) == {"content"}
