"""Speed benchmarks. `perf data`: loading, the split, metrics. `perf recommender`: our encoder-decoder against
what users would otherwise reach for, Hugging Face `T5ForConditionalGeneration` of the same size, measured in
one run on the same data.

Training: examples/s on the same length-bucketed batches, and on fixed-length batches padded to 20 items
(how LETTER and LC-Rec feed T5). Decoding: users/s for constrained beam search (beam 20, top 10) against
`generate(num_beams=20, prefix_allowed_tokens_fn=...)`, on one fixed model whose weights are copied into
the T5 (the architectures match), checking that both decoders return the same top 10. Every ratio comes
with its roofline: matmul FLOPs per user or example, counted on the real calls, against this machine's
measured matmul rate, so a report says how much of a gap is engineering and how much is arithmetic.
"""

from __future__ import annotations

import resource
import time

import numpy as np
import torch

from bench.seq2seq.beam import beam_search
from bench.seq2seq.model import ModelShape, Seq2SeqRecommender
from bench.seq2seq.config import TrainConfig
from bench.seq2seq.train import length_batches, make_optimizer, tensors, train_step
from bench.seq2seq.trie import PrefixTrie
from bench.seq2seq.vocab import BOS, PAD, SIDVocab


def split_per_user_loop(dataset, width: int):
    """The obvious per-user Python loop building training examples: what `perf data` compares the split with."""
    histories, targets = [], []
    for user in range(dataset.n_users):
        train = dataset.sequence(user)[:-2].tolist()
        for j in range(1, len(train)):
            window = train[max(0, j - width):j]
            histories.append(window + [-1] * (width - len(window)))
            targets.append(train[j])
    return np.array(histories, dtype=np.int32).reshape(-1, width), np.array(targets, dtype=np.int32)


def run_data(name: str) -> dict:
    """Load + validate, vectorised split against the per-user loop (same output checked), metric throughput."""
    from bench.data import load_dataset
    from bench.errors import BenchError
    from bench.metrics import per_user_metrics
    from bench.protocol import make_split

    report = {}
    start = time.perf_counter()
    dataset = load_dataset(name)
    report["load_validate_s"] = time.perf_counter() - start
    start = time.perf_counter()
    split = make_split(dataset)
    report["split_s"] = time.perf_counter() - start
    report["train_examples"] = len(split.train)
    start = time.perf_counter()
    history, targets = split_per_user_loop(dataset, split.config.max_history)
    report["split_reference_loop_s"] = time.perf_counter() - start
    if not (np.array_equal(history, split.train.history) and np.array_equal(targets, split.train.targets)):
        raise BenchError("perf: the vectorised split and the per-user reference loop disagree")
    report["split_speedup_vs_loop"] = report["split_reference_loop_s"] / report["split_s"]
    ranked = np.argsort(np.random.default_rng(0).random((len(split.test), 200), dtype=np.float32), axis=1)[:, :10]
    start = time.perf_counter()
    for _ in range(10):
        per_user_metrics(ranked, split.test.targets, (5, 10))
    report["metrics_users_per_s"] = 10 * len(split.test) / (time.perf_counter() - start)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def hf_t5_like(model: Seq2SeqRecommender):
    """A T5ForConditionalGeneration with the same shape, and our weights copied in (same function)."""
    from transformers import T5Config, T5ForConditionalGeneration

    shape = model.shape
    if not shape.t5_exact:
        raise ValueError("only a model with ModelShape(t5_exact=True) computes T5's function")
    config = T5Config(vocab_size=model.vocab.size, d_model=shape.d_model, d_kv=shape.d_kv, d_ff=shape.d_ff,
                      num_layers=shape.encoder_layers, num_decoder_layers=shape.decoder_layers, num_heads=shape.heads,
                      relative_attention_num_buckets=shape.position_buckets,
                      relative_attention_max_distance=shape.max_distance, dropout_rate=shape.dropout,
                      feed_forward_proj="relu", tie_word_embeddings=True, pad_token_id=PAD, eos_token_id=PAD,
                      decoder_start_token_id=BOS)
    t5 = T5ForConditionalGeneration(config)
    state = {"shared.weight": model.embed.weight, "encoder.embed_tokens.weight": model.embed.weight,
             "decoder.embed_tokens.weight": model.embed.weight, "lm_head.weight": model.embed.weight,
             "encoder.final_layer_norm.weight": model.encoder_norm.weight,
             "decoder.final_layer_norm.weight": model.decoder_norm.weight,
             "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": model.encoder_bias.table.weight,
             "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": model.decoder_bias.table.weight}
    for i, layer in enumerate(model.encoder):
        p = f"encoder.block.{i}.layer."
        for name in "qkvo":
            state[f"{p}0.SelfAttention.{name}.weight"] = getattr(layer.attn, name).weight
        state[f"{p}0.layer_norm.weight"] = layer.norm1.weight
        state[f"{p}1.DenseReluDense.wi.weight"], state[f"{p}1.DenseReluDense.wo.weight"] = layer.ff.wi.weight, \
            layer.ff.wo.weight
        state[f"{p}1.layer_norm.weight"] = layer.norm2.weight
    for i, layer in enumerate(model.decoder):
        p = f"decoder.block.{i}.layer."
        for name in "qkvo":
            state[f"{p}0.SelfAttention.{name}.weight"] = getattr(layer.self_attn, name).weight
            state[f"{p}1.EncDecAttention.{name}.weight"] = getattr(layer.cross_attn, name).weight
        state[f"{p}0.layer_norm.weight"], state[f"{p}1.layer_norm.weight"] = layer.norm1.weight, layer.norm2.weight
        state[f"{p}2.DenseReluDense.wi.weight"], state[f"{p}2.DenseReluDense.wo.weight"] = layer.ff.wi.weight, \
            layer.ff.wo.weight
        state[f"{p}2.layer_norm.weight"] = layer.norm3.weight
    missing, unexpected = t5.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=False)
    if unexpected or [m for m in missing if "embed_tokens" not in m and "lm_head" not in m]:
        raise RuntimeError(f"weight mapping incomplete: missing {missing}, unexpected {unexpected}")
    return t5


def hf_batch(vocab: SIDVocab, users, history, lengths, targets, pad_to: int | None = None):
    """T5 inputs: [user token, SID tokens of each history item], padded; labels = the target's SID tokens."""
    width = pad_to or int(lengths.max())
    items = history[:, :width].long()
    tokens = vocab.item_tokens[items.clamp(min=0)] * (items >= 0)[..., None]
    input_ids = torch.cat([vocab.user_tokens(users), tokens.reshape(len(users), -1)], 1)
    attention = torch.cat([torch.ones_like(input_ids[:, :1]), (items >= 0).repeat_interleave(vocab.n_levels, 1)], 1)
    labels = None if targets is None else vocab.item_tokens[targets.long()]
    return input_ids, attention.long(), labels


REPEATS = 2  # every rate is the best of this many passes: this host's speed drifts by 20% or more


def _best_rate(work: float, fn) -> float:
    """work / seconds of the fastest of REPEATS calls of fn (the timeit convention: noise only slows)."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return work / best


def _throughput(step, batches) -> float:
    step(batches[0])  # warm-up (allocations, kernels) outside the clock

    def one_pass():
        for rows in batches[1:]:
            step(rows)
    return _best_rate(sum(len(rows) for rows in batches[1:]), one_pass)


def run(split, table, n_batches: int = 12, n_users: int = 256, seed: int = 0, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    vocab = SIDVocab(table)
    trie = PrefixTrie(table.codes, table.vocab_sizes)
    train = split.train
    batches = length_batches(train.lengths, 256, np.random.default_rng(seed))[:n_batches + 1]
    report = {"batch_size": 256, "timed_batches": n_batches, "levels": table.n_levels}

    def train_ours(model):  # the training loop's own step: fused AdamW, gradient clipping
        config = TrainConfig(lr=1e-3)
        optimizer = make_optimizer(model, config)
        return lambda rows: train_step(model, optimizer, tensors(train, rows, "cpu"), config)

    exact = ModelShape(t5_exact=True)  # T5's own function, so that both sides compute the same thing
    model = Seq2SeqRecommender(vocab, exact, "sid_tokens").train()
    report["ours_train_examples_per_s"] = _throughput(train_ours(model), batches)
    item_sum = Seq2SeqRecommender(vocab, exact, "item_sum").train()
    report["ours_item_sum_train_examples_per_s"] = _throughput(train_ours(item_sum), batches)

    def train_hf(t5, pad_to):  # the same optimiser and clipping as ours
        optimizer = torch.optim.AdamW(t5.parameters(), lr=1e-3, fused=True)

        def step(rows):
            users, history, lengths, targets = tensors(train, rows, "cpu")
            input_ids, attention, labels = hf_batch(vocab, users, history, lengths, targets, pad_to)
            loss = t5(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(t5.parameters(), 1.0, foreach=True)
            optimizer.step()
        return step

    hf = hf_t5_like(Seq2SeqRecommender(vocab, exact, "sid_tokens")).train()
    report["hf_t5_train_examples_per_s_same_batches"] = _throughput(train_hf(hf, None), batches)
    report["hf_t5_train_examples_per_s_fixed_length"] = _throughput(train_hf(hf, split.config.max_history), batches)

    # Decoding on one fixed model (the one trained above), copied into T5.
    model.eval()
    t5 = hf_t5_like(model).eval()
    rows = np.argsort(split.test.lengths, kind="stable")[np.linspace(0, len(split.test) - 1, n_users).astype(int)]
    users, history, lengths, _ = tensors(split.test, rows, "cpu")

    def ours_decode(full_softmax):
        out = []
        for start in range(0, n_users, 128):
            part = slice(start, start + 128)
            out.append(beam_search(model, trie, users[part], history[part], lengths[part], beam=20, k=10,
                                   full_softmax=full_softmax).items)
        return torch.cat(out)

    ours_items = ours_decode(True)  # warm-up; HF's normalisation, for the agreement check below
    report["ours_beam_users_per_s"] = _best_rate(n_users, lambda: ours_decode(False))  # as the benchmark decodes
    report["ours_beam_users_per_s_full_softmax"] = _best_rate(n_users, lambda: ours_decode(True))

    allowed = {}
    for codes in vocab.item_tokens.tolist():
        for depth in range(len(codes)):
            allowed.setdefault(tuple(codes[:depth]), set()).add(codes[depth])
    allowed = {prefix: sorted(tokens) for prefix, tokens in allowed.items()}
    item_of = {tuple(codes): i for i, codes in enumerate(vocab.item_tokens.tolist())}

    def prefix_allowed(batch_id, input_ids):  # what LETTER / LC-Rec pass to generate()
        return allowed.get(tuple(input_ids.tolist()[1:]), [PAD])

    hf_users = min(n_users, 64)  # generate() is slow: time it on every (n_users / 64)-th user, same length mix
    pick = torch.arange(0, n_users, max(1, n_users // hf_users))[:hf_users]

    @torch.inference_mode()
    def hf_decode(part: slice) -> list[int]:  # each batch padded to its own longest history
        rows = pick[part]
        input_ids, attention, _ = hf_batch(vocab, users[rows], history[rows], lengths[rows], None)
        out = t5.generate(input_ids=input_ids, attention_mask=attention, num_beams=20,
                          num_return_sequences=10, max_new_tokens=table.n_levels, min_new_tokens=table.n_levels,
                          do_sample=False, early_stopping=True, prefix_allowed_tokens_fn=prefix_allowed,
                          length_penalty=0.0)
        return [item_of.get(tuple(seq[1:]), -1) for seq in out.tolist()]

    def hf_decode_all() -> list[int]:
        return [item for s in range(0, hf_users, 16) for item in hf_decode(slice(s, s + 16))]

    hf_items = hf_decode_all()  # also the warm-up, as ours had
    report["hf_generate_users_per_s"] = _best_rate(hf_users, hf_decode_all)
    hf_items = torch.tensor(hf_items).view(hf_users, 10)
    same = (hf_items == ours_items[pick]).all(1)
    report["decoders_identical_top10_share"] = float(same.float().mean())
    report["decoders_top10_overlap"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in
                                                     zip(hf_items.tolist(), ours_items[pick].tolist())]))
    report["train_speedup_same_batches"] = report["ours_train_examples_per_s"] / \
        report["hf_t5_train_examples_per_s_same_batches"]
    report["train_speedup_vs_fixed_length"] = report["ours_train_examples_per_s"] / \
        report["hf_t5_train_examples_per_s_fixed_length"]
    report["train_speedup_item_sum_vs_fixed_length"] = report["ours_item_sum_train_examples_per_s"] / \
        report["hf_t5_train_examples_per_s_fixed_length"]
    report["decode_speedup"] = report["ours_beam_users_per_s"] / report["hf_generate_users_per_s"]
    report["decode_speedup_full_softmax"] = report["ours_beam_users_per_s_full_softmax"] / \
        report["hf_generate_users_per_s"]
    report.update(flop_ceilings(report, lambda: ours_decode(False), n_users, hf_decode_all,
                                hf_users, train_ours(model), train_hf(hf, None), train_hf(hf, split.config.max_history),
                                batches[1]))
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def matmul_gflops() -> float:
    """This machine's float32 matmul rate on the model's own shapes (best of them): the roofline."""
    from bench.perf_decode import matmul_rate

    return matmul_rate([(5120, 128, 1024), (5120, 1024, 128), (5120, 128, 384)], torch.float32)


def counted_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def flop_ceilings(report: dict, ours_decode, ours_users: int, hf_decode, hf_users: int, ours_step, hf_step,
                  hf_fixed_length_step, rows) -> dict:
    """How fast each side could go at all: matmul FLOPs per user / example (counted by torch's FLOP counter
    on the real calls) against the machine's matmul rate. `*_ceiling_speedup` is the ratio ours would reach
    if it ran at the machine's full matmul rate and theirs stayed as measured: a target above it cannot be
    met by engineering, only by doing less arithmetic (or on other hardware)."""
    out = {"machine_matmul_gflops": matmul_gflops()}
    out["ours_decode_gflop_per_user"] = counted_flops(ours_decode) / ours_users / 1e9
    out["hf_decode_gflop_per_user"] = counted_flops(hf_decode) / hf_users / 1e9
    out["ours_decode_achieved_gflops"] = out["ours_decode_gflop_per_user"] * report["ours_beam_users_per_s"]
    out["decode_ceiling_users_per_s"] = out["machine_matmul_gflops"] / out["ours_decode_gflop_per_user"]
    out["decode_ceiling_speedup"] = out["decode_ceiling_users_per_s"] / report["hf_generate_users_per_s"]
    out["ours_train_gflop_per_example"] = counted_flops(lambda: ours_step(rows)) / len(rows) / 1e9
    out["hf_same_batches_train_gflop_per_example"] = counted_flops(lambda: hf_step(rows)) / len(rows) / 1e9
    out["hf_fixed_length_train_gflop_per_example"] = counted_flops(
        lambda: hf_fixed_length_step(rows)) / len(rows) / 1e9
    out["ours_train_achieved_gflops"] = out["ours_train_gflop_per_example"] * report["ours_train_examples_per_s"]
    return out


def write_report(what: str, dataset_name: str, suite_name: str, tokenizer: str, n_batches: int, n_users: int,
                 results_dir=None, sizes=(10_000, 100_000, 1_000_000), threads: int = 2, against: list | None = None):
    """Run `perf data`, `recommender`, `decode`, `train` or `scale`; write results/perf/<what>.json (and scale.png);
    returns (report, path).
    The recommender benchmark trains on the SIDs `run` would give `<tokenizer>+tiger` at the cpu budget."""
    from pathlib import Path

    from bench.data import load_dataset
    from bench.io import atomic_write_json
    from bench.paths import results_dir as default_results_dir
    from bench.protocol import make_split
    from bench.provenance import provenance

    out = Path(results_dir or default_results_dir()) / "perf" / f"{what}.json"
    if what == "data":
        report = {"benchmark": "data", "dataset": dataset_name, **run_data(dataset_name)}
    elif what == "train":
        from bench import perf_train

        report = {"benchmark": "train", "suite": suite_name,
                  **perf_train.run(suite_name, tokenizer, n_batches or 120, against=against)}
    elif what == "scale":
        from bench import perf_scale, plots

        report = {"benchmark": "scale", **perf_scale.run(sizes, threads=threads)}
        plots.cost_against_size(report["stages"], out.with_suffix(".png"))
    else:
        from bench.sids import fit_table
        from bench.suites import load_suite, resolve, resolve_plugin

        suite = load_suite(suite_name)
        dataset = load_dataset(suite.dataset)
        split = make_split(dataset, suite.protocol)
        systems = resolve(suite, "cpu").systems  # tuned settings included, as `run` would use them
        system = systems.get(f"{tokenizer}+tiger")
        table = system.tokenizer if system else resolve_plugin(suite, "tokenizers", tokenizer, "cpu")
        fitted = fit_table(tokenizer, table.plugin, table.config, 0, dataset, split, table.features)
        report = {"benchmark": what, "suite": suite.name, "tokenizer": tokenizer}
        if what == "decode":
            from bench import perf_decode

            report.update(perf_decode.run(split, fitted.table, n_users=n_users or 1024, threads=threads))
        else:
            report.update(run(split, fitted.table, n_batches=n_batches or 12, n_users=n_users or 256))
    report["provenance"] = provenance("cpu")
    atomic_write_json(out, report)
    return report, out
