"""DAS on the shared engine: user IDs in the SID table, tiger's `user_ids: sids`, the debiased CF model, the
one-stage dual training and the plugin's handling of users without history."""

import numpy as np
import pytest
import torch

from bench import registry
from bench.config import build
from bench.errors import ConfigError, PluginError
from bench.quantize.collisions import disambiguate
from bench.quantize.dual import DebiasedCF, fit_dual
from bench.quantize.rqvae_config import RQVAETraining
from bench.seq2seq.config import ModelShape
from bench.seq2seq.model import Seq2SeqRecommender
from bench.seq2seq.vocab import N_SPECIAL, SIDVocab
from bench.tokenizer import Histories, SIDTable, TokenizerInputs
from tests.unit.test_rqvae import clustered

ITEMS = np.array([[0, 1], [1, 0], [2, 2]])
USERS = np.array([[3, 0], [1, 1], [3, 0], [0, 1]])


def with_users() -> SIDTable:
    return SIDTable(ITEMS, (3, 3), user_codes=USERS, user_vocab_sizes=(4, 2))


def test_user_codes_round_trip_and_enter_the_hash_only_when_present(tmp_path):
    table, plain = with_users(), SIDTable(ITEMS, (3, 3))
    table.save(tmp_path / "t.npz")
    loaded = SIDTable.load(tmp_path / "t.npz")
    assert loaded == table and np.array_equal(loaded.user_codes, USERS) and loaded.user_vocab_sizes == (4, 2)
    assert loaded.hash() == table.hash() != plain.hash()
    assert plain != table and SIDTable.load(plain.to_bytes()).user_codes is None
    other = SIDTable(ITEMS, (3, 3), user_codes=USERS[::-1], user_vocab_sizes=(4, 2))
    assert other.hash() != table.hash()
    with pytest.raises(PluginError, match="outside"):
        SIDTable(ITEMS, (3, 3), user_codes=USERS, user_vocab_sizes=(3, 2))
    with pytest.raises(PluginError, match="without user codes"):
        SIDTable(ITEMS, (3, 3), user_vocab_sizes=(3, 2))


def test_tiger_reads_user_sids_as_tokens_of_their_own_range():
    vocab = SIDVocab(with_users(), user_buckets=10, user_ids="sids")
    tokens = vocab.user_tokens(torch.tensor([0, 3]))
    assert tokens.tolist() == [[N_SPECIAL + 3, N_SPECIAL + 4 + 0], [N_SPECIAL + 0, N_SPECIAL + 4 + 1]]
    assert vocab.level_offsets[0] == N_SPECIAL + 6  # item codes start after the 4 + 2 user codes
    hashed = SIDVocab(with_users(), user_buckets=10)
    assert hashed.user_tokens(torch.tensor([0, 3])).shape == (2, 1) and hashed.level_offsets[0] == N_SPECIAL + 10
    with pytest.raises(ConfigError, match="user IDs"):
        SIDVocab(SIDTable(ITEMS, (3, 3)), user_ids="sids")


@pytest.mark.parametrize("encoder_input", ["item_sum", "sid_tokens"])
def test_the_encoder_sees_the_user_sid(encoder_input):
    torch.manual_seed(0)
    shape = ModelShape(encoder_layers=1, decoder_layers=1, d_model=16, heads=2, d_kv=8, d_ff=32, dropout=0.0)
    model = Seq2SeqRecommender(SIDVocab(with_users(), user_ids="sids"), shape, encoder_input)
    history, lengths = torch.tensor([[0, 1], [2, -1]]), torch.tensor([2, 1])
    x, keep = model.encoder_inputs(torch.tensor([0, 1]), history, lengths)
    user_positions = 1 if encoder_input == "item_sum" else 2
    assert x.shape[1] == user_positions + (2 if encoder_input == "item_sum" else 4)
    assert keep[:, :user_positions].all()
    # users 0 and 2 share a user SID: same encoding; user 1 differs
    same = model.encode(torch.tensor([0, 2]), history[:1].repeat(2, 1), lengths[:1].repeat(2))[0]
    assert torch.allclose(same[0], same[1])
    differ = model.encode(torch.tensor([0, 1]), history[:1].repeat(2, 1), lengths[:1].repeat(2))[0]
    assert not torch.allclose(differ[0], differ[1])
    loss = model.loss(torch.tensor([0, 1]), history, lengths, torch.tensor([2, 0]))
    loss.backward()
    user_rows = model.embed.weight.grad[N_SPECIAL:N_SPECIAL + 6]
    assert user_rows.abs().sum() > 0


def test_debiased_cf_fits_popularity_with_its_popularity_half():
    torch.manual_seed(0)
    popularity = np.array([100, 50, 10, 1, 1, 0])
    cf = DebiasedCF(4, 6, 8, popularity)
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3])
    assert torch.isfinite(cf.loss(users, items))
    plain = DebiasedCF(4, 6, 8, popularity, debias=False)
    assert not hasattr(plain, "user_conformity") and len(list(plain.parameters())) == 2
    optimizer = torch.optim.Adam(cf.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        cf.loss(users, items).backward()
        optimizer.step()
    predicted = cf.popularity_head(cf.item_popularity.weight).squeeze(1).detach()
    assert torch.corrcoef(torch.stack([predicted[:4], cf.popularity[:4]]))[0, 1] > 0.9


def synthetic(n_items=64, n_users=40, seed=0):
    rng = np.random.default_rng(seed)
    text = clustered(n=n_items, d=16, k=4, seed=seed)
    histories = [rng.choice(n_items, size=rng.integers(2, 6), replace=False) for _ in range(n_users)]
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    items = np.concatenate(histories).astype(np.int32)
    pairs = np.concatenate([np.stack([h[:-1], h[1:]], 1) for h in histories]).astype(np.int32)
    return text, offsets, items, pairs


QUICK = RQVAETraining(epochs=4, batch_size=32, lr=3e-3, log_every=100)


def test_dual_training_gives_item_and_user_codes_and_the_ablation_drops_the_alignment():
    text, offsets, items, pairs = synthetic()
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    user_content = np.stack([text[items[a:b]].mean(0) for a, b in zip(offsets[:-1], offsets[1:])])
    args = (text, user_content, np.stack([rows, items], 1), pairs, (8, 4), (4, 4), 0, QUICK, (32,), 8, 8)
    full = fit_dual(*args)
    assert full.item_codes.shape == (64, 2) and full.user_codes.shape == (40, 2) and full.cold_user_codes.shape == (2,)
    assert {"item_semantic", "user_semantic", "cf", "align"} == set(full.history[-1]["loss"])
    again = fit_dual(*args)
    assert np.array_equal(full.item_codes, again.item_codes) and np.array_equal(full.user_codes, again.user_codes)
    unaligned = fit_dual(*args, align_weight=0.0)
    assert "align" not in unaligned.history[-1]["loss"]
    assert not np.array_equal(full.item_codes, unaligned.item_codes)
    with pytest.raises(PluginError, match="finite"):
        fit_dual(np.full_like(text, np.nan), *args[1:])


def test_das_gives_every_dataset_user_an_id_and_cold_users_the_average_users():
    text, offsets, items, pairs = synthetic()
    users = np.arange(0, 80, 2)  # dataset users 0, 2, ..., 78 have histories; odd users have none
    inputs = TokenizerInputs(64, text_embeddings=text, cooccurrence=pairs,
                             user_histories=Histories(offsets, items, users, n_users=81))
    cls = registry.get("tokenizers", "das")
    tokenizer = cls(build(cls.Config, {"codebook_size": 8, "user_codebook_size": 4, "train": {"epochs": 3,
                                                                                             "batch_size": 32}}))
    table = tokenizer.fit(inputs, seed=0)
    assert table.user_codes.shape == (81, 3) and table.user_vocab_sizes == (4, 4, 4)
    cold = np.array(tokenizer.report()["cold_user_codes"])
    assert (table.user_codes[1::2] == cold).all()
    assert np.array_equal(table.user_codes[users], tokenizer.result.user_codes)
    assert np.array_equal(table.codes, disambiguate(tokenizer.result.item_codes, (8, 8, 8)).codes)
