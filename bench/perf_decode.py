"""`perf decode`: constrained beam search against this machine's matmul roofline, fp32 and bf16 side by side.

The model is the `cpu` budget's tiger (item-sum encoder input, 4 + 4 layers, 4 heads x 32, d 128, MLP 1024) on
one tokenizer's SIDs of the suite, with untrained weights (the arithmetic does not depend on them), decoding
test users in batches of the evaluation's size (256 users, beam 20, top 10). Per precision:
- users/s, the fastest of a few passes (noise only slows);
- matmul FLOPs per user, counted by torch's FLOP counter on the real calls, split into the encoder, the
  cross-attention keys/values of its output, each decoder step and the output heads, so that work where no beam is would show (step 0 has one beam per user, the others W);
- the machine's matmul rate at that precision on the model's own shapes (the best of them): the roofline;
- the share: achieved FLOP rate / roofline.
bf16 is measured where it would be used: CUDA, or a CPU with native bf16.
"""

from __future__ import annotations

import time

import numpy as np
import torch

BEAM, K, BATCH = 20, 10, 256
REPEATS = 5


def matmul_rate(shapes, dtype: torch.dtype, repeats: int = 20) -> float:
    """GFLOP/s of the fastest of these (m, k, n) matmuls at `dtype`, after a second of warm-up at that dtype."""
    warm = torch.randn(2048, 2048).to(dtype)
    start = time.perf_counter()
    while time.perf_counter() - start < 1.0:  # let the cores reach their clock before timing
        warm @ warm
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        a @ b
        for _ in range(3):  # best of three rounds: a neighbour's burst only slows one
            start = time.perf_counter()
            for _ in range(repeats):
                a @ b
            best = max(best, 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9)
    return best


def model_shapes(model, rows: int) -> list[tuple[int, int, int]]:
    """The decoder's matmul shapes at `rows` = users x beams: projections, MLP in and out."""
    s = model.shape
    return [(rows, s.d_model, s.heads * s.d_kv), (rows, s.d_model, s.d_ff), (rows, s.d_ff, s.d_model)]


def flops_by_stage(model, decode) -> dict[str, float]:
    """Matmul FLOPs of one `decode()` call by stage: the encoder, the decoder's keys/values of its output, each
    decoder step, and the rest (the output heads, which score each step's own level)."""
    from torch.utils.flop_counter import FlopCounterMode

    counts: dict[str, float] = {}
    encode, memory_kv, decode_next = model.encode, model.cross_keys_values, model.decode_next

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            before = counter.get_total_flops()
            out = fn(*args, **kwargs)
            counts[name(args)] = counts.get(name(args), 0) + counter.get_total_flops() - before
            return out
        return wrapper

    model.encode = counted(lambda args: "encoder", encode)
    model.cross_keys_values = counted(lambda args: "cross-attention keys/values", memory_kv)
    model.decode_next = counted(lambda args: f"decoder step {args[1]}", decode_next)
    try:
        with FlopCounterMode(display=False) as counter:
            decode()
        counts["total"] = counter.get_total_flops()
    finally:
        del model.encode, model.cross_keys_values, model.decode_next
    counts["output heads"] = counts["total"] - sum(v for k, v in counts.items() if k != "total")
    return counts


def measure(model, trie, users, history, lengths, precision: str) -> dict:
    from bench.seq2seq.beam import beam_search
    from bench.seq2seq.train import autocast

    bf16 = precision == "bf16"
    n = len(users)

    def decode():
        with autocast("cpu", bf16):
            for start in range(0, n, BATCH):
                part = slice(start, start + BATCH)
                beam_search(model, trie, users[part], history[part], lengths[part], beam=BEAM, k=K)

    decode()  # warm-up
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        decode()
        best = min(best, time.perf_counter() - start)
    flops = flops_by_stage(model, decode)
    roofline = matmul_rate(model_shapes(model, BATCH * BEAM), torch.bfloat16 if bf16 else torch.float32)
    users_per_s = n / best
    achieved = flops["total"] / n * users_per_s / 1e9
    return {"users_per_s": users_per_s, "gflop_per_user": flops["total"] / n / 1e9,
            "gflop_per_user_by_stage": {k: v / n / 1e9 for k, v in flops.items() if k != "total"},
            "achieved_gflops": achieved, "matmul_gflops": roofline, "roofline_share": achieved / roofline,
            "time_share_by_op": time_by_op(decode)}


def time_by_op(decode, top: int = 8) -> dict[str, float]:
    """Share of self CPU time per aten op in one `decode()` (torch's profiler): how much of the gap to the
    roofline lies in the matmul kernels themselves (mm, bmm) and how much around them."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        decode()
    times = {e.key: e.self_cpu_time_total for e in prof.key_averages() if e.key.startswith("aten::")}
    total = sum(times.values())
    ranked = sorted(times.items(), key=lambda kv: -kv[1])
    out = {name.removeprefix("aten::"): t / total for name, t in ranked[:top]}
    out["rest"] = 1.0 - sum(out.values())
    return out


def run(split, table, n_users: int = 1024, threads: int = 2, seed: int = 0) -> dict:
    from bench.seq2seq.config import ModelShape
    from bench.seq2seq.model import Seq2SeqRecommender
    from bench.device import use_bf16
    from bench.seq2seq.train import tensors
    from bench.seq2seq.trie import PrefixTrie
    from bench.seq2seq.vocab import SIDVocab

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    vocab, trie = SIDVocab(table), PrefixTrie(table.codes, table.vocab_sizes)
    model = Seq2SeqRecommender(vocab, ModelShape(heads=4, d_kv=32, dropout=0.0), "item_sum").eval()
    rows = np.random.default_rng(seed).choice(len(split.test), min(n_users, len(split.test)), replace=False)
    users, history, lengths, _ = tensors(split.test, np.sort(rows), "cpu")
    precisions = ["fp32"] + (["bf16"] if use_bf16("auto", "cpu") else [])
    report = {"users": len(rows), "beam": BEAM, "k": K, "batch_users": BATCH, "threads": threads,
              "model": "cpu budget: item_sum, 4 + 4 layers, 4 heads x 32, d 128, MLP 1024"}
    for precision in precisions:
        report[precision] = measure(model, trie, users, history, lengths, precision)
    return report
