"""The generative recommender's parts: trie, vocabulary, exact and constrained beam search, resumable training."""

import dataclasses

import numpy as np
import pytest
import torch

from bench.errors import ConfigError
from bench.protocol import Examples
from bench.quantize.collisions import disambiguate, terminate
from bench.seq2seq.beam import beam_search, score_all_items
from bench.seq2seq.model import ModelShape, Seq2SeqRecommender
from bench.seq2seq.train import TrainConfig, length_batches, train
from bench.seq2seq.trie import PrefixTrie
from bench.seq2seq.vocab import SIDVocab

SMALL = ModelShape(encoder_layers=1, decoder_layers=2, d_model=32, heads=2, d_kv=16, d_ff=64, dropout=0.0)


def random_table(n=40, sizes=(4, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    return disambiguate(rng.integers(0, sizes, (n, len(sizes))), sizes)


def histories(n_users, n_items, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 6, n_users)
    history = np.full((n_users, 20), -1)
    for row, length in enumerate(lengths):
        history[row, :length] = rng.choice(n_items, length, replace=False)
    return torch.arange(n_users), torch.as_tensor(history), torch.as_tensor(lengths)


def test_trie_matches_the_set_of_ids():
    table = random_table()
    trie = PrefixTrie(table.codes, table.vocab_sizes)
    codes = table.codes
    parents = torch.zeros(1, dtype=torch.long)
    allowed = trie.allowed_mask(0, parents)[0].nonzero().flatten().tolist()
    assert allowed == sorted(set(codes[:, 0].tolist()))
    for item in range(len(codes)):  # walking an item's codes reaches its own leaf
        node = torch.zeros(1, dtype=torch.long)
        for level in range(codes.shape[1]):
            node = trie.step(level, node, torch.tensor([codes[item, level]]))
        assert trie.leaf_items[node].item() == item
    assert trie.step(0, parents, torch.tensor([99])).item() == -1
    # the edges out of a few depth-1 nodes (and a dead beam, -1): rows ascend, codes ascend within a row, and
    # each child is the node that stepping by that code reaches
    depth1 = torch.tensor([2, -1, 0, 1])
    rows, edge_codes, child = trie.children(1, depth1)
    assert rows.tolist() == sorted(rows.tolist()) and 1 not in rows.tolist()
    for row in (0, 2, 3):
        mine = edge_codes[rows == row]
        assert mine.tolist() == trie.allowed_mask(1, depth1)[row].nonzero().flatten().tolist()
        assert torch.equal(child[rows == row], trie.step(1, depth1[row].repeat(len(mine)), mine))


def test_vocab_offsets_fixed_and_variable():
    fixed = SIDVocab(random_table(), user_buckets=10)
    assert fixed.level_offsets[0] == 12 and fixed.level_offsets[1] == 16
    assert fixed.size == 12 + sum(fixed.level_sizes)
    titles = SIDVocab(terminate([[1, 2], [1], [0, 2, 1]], vocab_size=3), user_buckets=10)
    assert len(set(titles.level_offsets)) == 1  # one shared range for every position
    assert titles.item_token_mask.sum(1).tolist() == [3, 2, 4]


# the reference model's options (issue 41: LayerNorm, GELU, learned positions): cached decoding steps still
# score as teacher forcing
BRIDGE = dataclasses.replace(SMALL, norm="layer", activation="gelu", positions="learned", head_init_std=0.02,
                             linear_init="uniform")


@pytest.mark.parametrize("table", [random_table(), terminate([[1, 2], [1], [0, 2, 1], [2], [0, 1], [2, 2, 2]], 3)],
                         ids=["fixed", "variable"])
@pytest.mark.parametrize("encoder_input", ["sid_tokens", "item_sum"])
@pytest.mark.parametrize("shape", [SMALL, BRIDGE], ids=["t5", "reference"])
def test_beam_search_returns_the_exact_top_k(table, encoder_input, shape):
    torch.manual_seed(0)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), shape, encoder_input).eval()
    trie = PrefixTrie(table.codes, table.vocab_sizes)
    users, history, lengths = histories(6, table.n_items)
    k = min(5, table.n_items)
    result = beam_search(model, trie, users, history, lengths, beam=table.n_items, k=k)
    brute = score_all_items(model, users, history, lengths)
    expected = brute.topk(k, dim=1)
    assert torch.equal(result.items, expected.indices)
    assert torch.allclose(result.scores, expected.values, atol=1e-4)


def test_learned_positions_tell_the_most_recent_item_apart():
    """With learned recency positions the same items in another order encode differently; the last item
    gets recency 0 whatever the history's length."""
    table = random_table()
    torch.manual_seed(0)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), BRIDGE, "item_sum").eval()
    assert not hasattr(model, "encoder_bias") and isinstance(model.encoder_norm, torch.nn.LayerNorm)
    assert model.recency(torch.tensor([3, 1]), 3).tolist() == [[2, 1, 0], [0, 0, 0]]
    users = torch.tensor([0, 0])
    history = torch.tensor([[1, 2, 3] + [-1] * 17, [3, 2, 1] + [-1] * 17])
    memory, _ = model.encode(users, history, torch.tensor([3, 3]))
    assert not torch.allclose(memory[0, 1:].sum(0), memory[1, 1:].sum(0), atol=1e-3)
    assert model.head.weight.std().item() < 0.03  # head_init_std


def test_a_narrow_beam_equals_the_dense_search_it_replaces():
    """Beam search scores only the trie's edges; the dense formulation (every code of every beam, masked) must
    keep the same beams at every level, so a narrow beam returns the same items and scores."""
    table = random_table(n=200, sizes=(6, 6, 6), seed=5)
    torch.manual_seed(2)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), SMALL).eval()
    trie = PrefixTrie(table.codes, table.vocab_sizes)
    users, history, lengths = histories(16, table.n_items, seed=2)
    result = beam_search(model, trie, users, history, lengths, beam=4, k=3)

    def dense(beam=4, k=3):
        memory, mask = model.encode(users, history, lengths)
        scores, nodes = torch.zeros(len(users), 1), torch.zeros(len(users), 1, dtype=torch.long)
        prefixes = torch.full((len(users), 1, 1), 1)  # BOS
        for level in range(table.n_levels):
            width = nodes.shape[1]
            hidden = model.decode(prefixes.reshape(-1, level + 1), memory.repeat_interleave(width, 0),
                                  mask.repeat_interleave(width, 0))[:, -1]
            logp = torch.log_softmax(model.level_logits(hidden, level).float(), dim=-1)
            logp = logp.masked_fill(~trie.allowed_mask(level, nodes.reshape(-1)), float("-inf"))
            size = logp.shape[1]
            top = (scores.reshape(-1, 1) + logp).reshape(len(users), -1).topk(min(beam, width * size), dim=1)
            parent, code = top.indices // size, top.indices % size
            nodes = trie.step(level, nodes.gather(1, parent), code)
            token = code + model.vocab.level_offsets[level]
            prefixes = torch.cat([prefixes.gather(1, parent[..., None].expand(-1, -1, level + 1)), token[..., None]], 2)
            scores = top.values
        return trie.leaf_items[nodes[:, :k]], scores[:, :k]

    with torch.inference_mode():
        items, scores = dense()
    assert torch.equal(result.items, items)
    assert torch.allclose(result.scores, scores, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_log_softmax_by_blocks_gives_the_whole_ones_numbers_bit_for_bit(dtype):
    """Beam search normalises a level's logits a block of rows at a time (title IDs: 6,751 codes a level);
    the numbers at the trie's edges must be exactly those of one log-softmax over the whole tensor, with rows
    that have no edge (dead beams) and blocks with none."""
    from bench.seq2seq.beam import _log_softmax_at

    generator = torch.Generator().manual_seed(0)
    logits = (4 * torch.randn(300, 9000, generator=generator)).to(dtype)  # blocks of 64 rows at 9,000 codes
    rows = torch.sort(torch.randint(0, 300, (2000,), generator=generator)).values
    rows = rows[(rows < 70) | (rows > 200)]  # rows 70-200 (all of block 2) have no edge
    codes = torch.randint(0, 9000, (len(rows),), generator=generator)
    whole = torch.log_softmax(logits.float(), dim=-1)[rows, codes]
    assert torch.equal(_log_softmax_at(logits, rows, codes), whole)
    assert len(_log_softmax_at(logits, rows[:0], codes[:0])) == 0


def test_constrained_decoding_only_returns_real_distinct_items():
    table = random_table(n=60, sizes=(8, 8, 8), seed=3)
    torch.manual_seed(1)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), SMALL).eval()
    trie = PrefixTrie(table.codes, table.vocab_sizes)
    users, history, lengths = histories(32, table.n_items, seed=1)
    result = beam_search(model, trie, users, history, lengths, beam=10, k=10)
    items = result.items
    assert ((items >= 0) & (items < table.n_items)).all()
    assert all(len(set(row.tolist())) == 10 for row in items)
    # without constraints, a random model generates many IDs that are no item; those are counted, never returned
    free = beam_search(model, trie, users, history, lengths, beam=10, k=10, constrained=False)
    assert free.invalid > 0
    returned = free.items[free.items >= 0]
    assert ((returned >= 0) & (returned < table.n_items)).all()


def test_length_batches_group_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 21, 1000)
    batches = length_batches(lengths, 100, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert np.mean([np.ptp(lengths[b]) for b in batches]) <= 2
    chunked = length_batches(lengths, 100, np.random.default_rng(1), chunk_batches=3)
    assert sorted(np.concatenate(chunked).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in chunked])
    assert 2 < spread < np.ptp(lengths)  # sorted within chunks of 300: more mixed, still grouped


def toy_examples(n=300, n_items=40, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 6, n).astype(np.int32)
    history = np.full((n, 20), -1, dtype=np.int32)
    for row, length in enumerate(lengths):
        history[row, :length] = rng.choice(n_items, length, replace=False)
    targets = ((history[np.arange(n), lengths - 1] + 1) % n_items).astype(np.int32)  # learnable: next item
    return Examples(np.arange(n, dtype=np.int32) % 50, history, lengths, targets)


def test_training_learns_and_resumes_exactly(tmp_path):
    table = random_table()
    examples = toy_examples(n_items=table.n_items)
    config = TrainConfig(batch_size=32, lr=0.01, warmup_steps=5, max_epochs=6, beam_size=5, patience=100)
    shape = ModelShape(encoder_layers=1, decoder_layers=1, d_model=32, heads=2, d_kv=16, d_ff=64, dropout=0.1)

    def fresh():
        torch.manual_seed(0)
        return Seq2SeqRecommender(SIDVocab(table, user_buckets=8), shape, "item_sum")

    straight = fresh()
    state = train(straight, PrefixTrie(table.codes, table.vocab_sizes), examples, examples, config, seed=0,
                  device="cpu")
    assert state.epoch == 6 and state.best_score > 0.2  # next-item structure is learnt (chance ~ 0.1)

    checkpoint = tmp_path / "ck.pt"
    interrupted = fresh()  # stops after 3 epochs, as a killed run would have left its checkpoint
    train(interrupted, PrefixTrie(table.codes, table.vocab_sizes), examples, examples,
          TrainConfig(**{**config.__dict__, "max_epochs": 3}), seed=0, device="cpu", checkpoint=checkpoint,
          config_key="k")
    resumed = fresh()
    state2 = train(resumed, PrefixTrie(table.codes, table.vocab_sizes), examples, examples, config, seed=0,
                   device="cpu", checkpoint=checkpoint, config_key="k")
    assert state2.epoch == 6 and [h["epoch"] for h in state2.history] == [1, 2, 3, 4, 5, 6]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_hugging_face_t5_with_our_weights_computes_the_same_function():
    """The perf benchmark compares against T5 on equal terms: same architecture, same outputs."""
    from bench.perf import hf_batch, hf_t5_like

    table = random_table()
    vocab = SIDVocab(table, user_buckets=8)
    torch.manual_seed(0)
    model = Seq2SeqRecommender(vocab, dataclasses.replace(SMALL, t5_exact=True)).eval()
    t5 = hf_t5_like(model).eval()
    users, history, lengths = histories(5, table.n_items)
    targets = torch.arange(5)
    input_ids, attention, labels = hf_batch(vocab, users, history, lengths, targets)
    with torch.no_grad():
        theirs = t5(input_ids=input_ids, attention_mask=attention, labels=labels).logits
        memory, memory_mask = model.encode(users, history, lengths)
        tokens = vocab.item_tokens[targets]
        hidden = model.decode(torch.cat([torch.ones_like(tokens[:, :1]), tokens[:, :-1]], 1), memory, memory_mask)
        ours = hidden @ model.embed.weight.T
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.slow
def test_perf_recommender_checks_agreement_and_counts_the_arithmetic():
    """`perf recommender` end to end on tiny: both decoders agree on a fixed model, and the roofline figures
    come from counted FLOPs (T5's generate does more arithmetic per user: memory keys/values per beam)."""
    from bench import perf
    from tests.conftest import tiny_split

    split = tiny_split()
    report = perf.run(split, random_table(n=split.n_items, sizes=(8, 8, 8)), n_batches=1, n_users=16)
    assert report["decoders_identical_top10_share"] == 1.0
    assert 0 < report["ours_decode_gflop_per_user"] < report["hf_decode_gflop_per_user"]
    assert 0 < report["ours_train_gflop_per_example"] < report["hf_fixed_length_train_gflop_per_example"]
    assert report["decode_ceiling_users_per_s"] == pytest.approx(
        report["machine_matmul_gflops"] / report["ours_decode_gflop_per_user"])


def test_schedules_warm_up_then_decay_to_the_step_budget():
    from bench.seq2seq.train import lr_factor

    base = dict(warmup_steps=10, max_steps=110)
    cosine = lr_factor(TrainConfig(schedule="cosine", min_lr_ratio=0.1, **base))
    linear = lr_factor(TrainConfig(schedule="linear", **base))
    inverse = lr_factor(TrainConfig(schedule="inverse_sqrt", **base))
    assert cosine(5) == linear(5) == inverse(5) == 0.5  # linear warm-up for all
    assert cosine(10) == linear(10) == inverse(10) == 1.0
    assert abs(cosine(60) - 0.55) < 1e-9 and abs(linear(60) - 0.5) < 1e-9 and abs(inverse(40) - 0.5) < 1e-9
    assert abs(cosine(110) - 0.1) < 1e-9 and linear(110) == 0.0 and cosine(500) == cosine(110)


def test_default_shape_is_not_t5_and_only_t5_exact_maps_to_hugging_face():
    from bench.perf import hf_t5_like

    vocab = SIDVocab(random_table(), user_buckets=8)
    default = Seq2SeqRecommender(vocab, SMALL)
    assert default.head is not None and default.encoder[0].attn.scale == SMALL.d_kv ** -0.5
    exact = Seq2SeqRecommender(vocab, dataclasses.replace(SMALL, t5_exact=True))
    assert exact.head is None and exact.output_weight is exact.embed.weight and exact.encoder[0].attn.scale == 1.0
    with pytest.raises(ValueError, match="t5_exact"):
        hf_t5_like(default)


def test_scaled_embeddings_are_the_same_function_at_init_and_move_faster():
    """Stored at d^-1/2 and multiplied back: the same loss at init; one AdamW step moves the used token
    vectors about sqrt(d) times further than when they are stored at scale 1."""
    vocab = SIDVocab(random_table(), user_buckets=8)
    users, history, lengths = histories(6, 40)
    targets = torch.arange(6)
    losses, moved = [], []
    for scaled in (False, True):
        torch.manual_seed(0)
        model = Seq2SeqRecommender(vocab, dataclasses.replace(SMALL, scaled_embeddings=scaled), "item_sum")
        before = (model.embed.weight * model.embed_scale).detach().clone()
        loss = model.loss(users, history, lengths, targets)
        loss.backward()
        torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0).step()
        moved.append(((model.embed.weight * model.embed_scale).detach() - before).abs().max().item())
        losses.append(loss.item())
    assert abs(losses[0] - losses[1]) < 1e-4
    assert abs(moved[1] / moved[0] - SMALL.d_model ** 0.5) < 0.01 * SMALL.d_model ** 0.5


def test_label_smoothing_mixes_in_the_mean_code_loss():
    """eps = 0 is the plain loss; eps > 0 is (1 - eps) * CE + eps * (mean over the level's codes of -log p),
    computed here by hand from the model's own level logits."""
    vocab = SIDVocab(random_table(), user_buckets=8)
    users, history, lengths = histories(6, 40)
    targets = torch.arange(6)
    torch.manual_seed(0)
    model = Seq2SeqRecommender(vocab, SMALL, "item_sum").eval()
    plain, smoothed = model.loss(users, history, lengths, targets), model.loss(users, history, lengths, targets, 0.2)
    memory, mask = model.encode(users, history, lengths)
    tokens = vocab.item_tokens[targets]
    hidden = model.decode(torch.cat([torch.ones_like(tokens[:, :1]), tokens[:, :-1]], 1), memory, mask)
    uniform = torch.stack([-model.level_logits(hidden[:, level], level).log_softmax(-1).mean(-1)
                           for level in range(vocab.n_levels)], 1).mean()
    assert abs(smoothed.item() - (0.8 * plain.item() + 0.2 * uniform.item())) < 1e-4
    assert abs(smoothed.item() - plain.item()) > 1e-3


@pytest.mark.parametrize("table", [random_table(n=60, sizes=(6, 5, 4)), terminate([[1, 2], [1], [0, 2, 1], [2], [0, 1],
                                                                                  [2, 2, 2], [1, 0], [0]], 3)],
                         ids=["fixed", "variable"])
def test_bounded_exact_search_equals_scoring_every_item(table):
    from bench.seq2seq.beam import exact_top_k

    torch.manual_seed(2)
    model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), SMALL, "item_sum").eval()
    trie = PrefixTrie(table.codes, table.vocab_sizes)
    users, history, lengths = histories(8, table.n_items, seed=4)
    k = 5
    brute = score_all_items(model, users, history, lengths).topk(k, dim=1)
    narrow = beam_search(model, trie, users, history, lengths, beam=2, k=k)  # a heuristic that may miss items
    for floor in (narrow.scores[:, k - 1], None, torch.zeros(len(users))):  # a true floor, none, a wrong one
        exact = exact_top_k(model, trie, users, history, lengths, k=k, floor=floor)
        assert torch.equal(exact.items, brute.indices)
        assert torch.allclose(exact.scores, brute.values, atol=1e-4)


def test_ranking_temperature_divides_the_logits_of_every_level():
    """tau = 1 is the plain loss; tau = 0.7 is the cross-entropy of logits / 0.7, computed by hand."""
    from bench.errors import ConfigError
    from bench.seq2seq.config import TrainConfig

    vocab = SIDVocab(random_table(), user_buckets=8)
    users, history, lengths = histories(6, 40)
    targets = torch.arange(6)
    torch.manual_seed(0)
    model = Seq2SeqRecommender(vocab, SMALL, "item_sum").eval()
    plain = model.loss(users, history, lengths, targets)
    sharp = model.loss(users, history, lengths, targets, temperature=0.7)
    memory, mask = model.encode(users, history, lengths)
    tokens = vocab.item_tokens[targets]
    hidden = model.decode(torch.cat([torch.ones_like(tokens[:, :1]), tokens[:, :-1]], 1), memory, mask)
    codes = vocab.table_codes[targets]
    by_hand = torch.stack([torch.nn.functional.cross_entropy(model.level_logits(hidden[:, level], level) / 0.7,
                                                             codes[:, level]) for level in range(vocab.n_levels)]).mean()
    assert abs(sharp.item() - by_hand.item()) < 1e-4 and abs(sharp.item() - plain.item()) > 1e-3
    assert torch.equal(plain, model.loss(users, history, lengths, targets, temperature=1.0))
    with pytest.raises(ConfigError):
        TrainConfig(ranking_temperature=0.0)


def test_patience_zero_trains_the_whole_budget_and_keeps_the_best_epoch():
    """With lr 0 nothing improves after epoch 1: patience 1 stops at epoch 2, patience 0 never stops early."""
    table = random_table()
    examples = toy_examples(n_items=table.n_items)
    shape = ModelShape(encoder_layers=1, decoder_layers=1, d_model=32, heads=2, d_kv=16, d_ff=64, dropout=0.0)
    epochs = {}
    for patience in (1, 0):
        torch.manual_seed(0)
        model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), shape, "item_sum")
        config = TrainConfig(batch_size=64, lr=0.0, warmup_steps=1, max_epochs=4, beam_size=5, patience=patience)
        state = train(model, PrefixTrie(table.codes, table.vocab_sizes), examples, examples, config, seed=0,
                      device="cpu")
        epochs[patience] = (state.epoch, state.best_epoch)
    assert epochs == {1: (2, 1), 0: (4, 1)}
    kept = {}
    for keep in ("best", "final"):  # lr > 0: the weights move after the best epoch; `final` keeps them
        torch.manual_seed(0)
        model = Seq2SeqRecommender(SIDVocab(table, user_buckets=8), shape, "item_sum")
        config = TrainConfig(batch_size=64, lr=0.01, warmup_steps=1, max_epochs=3, beam_size=5, patience=0,
                             eval_every_epochs=1, keep=keep)
        state = train(model, PrefixTrie(table.codes, table.vocab_sizes), examples, examples, config, seed=0,
                      device="cpu")
        kept[keep] = (state.best_epoch, model.embed.weight.detach().clone())
    assert kept["best"][0] == kept["final"][0]
    assert torch.equal(kept["best"][1], kept["final"][1]) == (kept["best"][0] == 3)
    with pytest.raises(ConfigError, match="patience"):
        TrainConfig(patience=-1)


def test_decoding_spends_no_flops_where_no_beam_is():
    """`perf decode`'s FLOP split: step 0 decodes one beam per user, the later steps W each, and the output
    heads score only the codes of each step's own level."""
    from bench.perf_decode import flops_by_stage

    table = disambiguate(np.random.default_rng(0).integers(0, 8, (300, 3)), (8, 8, 8))
    vocab, trie = SIDVocab(table, user_buckets=10), PrefixTrie(table.codes, table.vocab_sizes)
    model = Seq2SeqRecommender(vocab, SMALL, "item_sum").eval()
    users, history, lengths = histories(6, len(table.codes))
    width = 5
    flops = flops_by_stage(model, lambda: beam_search(model, trie, users, history, lengths, beam=width, k=3))
    d, ff = SMALL.d_model, SMALL.d_ff
    per_position = 2 * SMALL.decoder_layers * (4 * d * d + 2 * d * d + 2 * d * ff)  # self q/k/v/o, cross q/o, MLP
    assert per_position * len(users) <= flops["decoder step 0"] < 1.2 * per_position * len(users)
    for level in (1, 2):
        assert width * per_position * len(users) <= flops[f"decoder step {level}"] < 1.2 * width * per_position * len(users)
    logits = 2 * d * (vocab.level_sizes[0] + width * sum(vocab.level_sizes[1:])) * len(users)
    assert flops["output heads"] == logits
    memory_tokens = 1 + int(lengths.max())  # item_sum: the user's vector, then one per history item
    assert flops["cross-attention keys/values"] == 2 * SMALL.decoder_layers * 2 * d * d * memory_tokens * len(users)
    assert "decode_next" not in vars(model)  # the counting wrappers are gone
