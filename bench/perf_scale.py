"""`perf scale`: the cost of every catalogue-side stage against catalogue size, on synthetic catalogues.

Items are random unit vectors of the suite's text dimension (384); user histories for decoding are drawn from
a Zipf law over the items. Each (stage, size) runs in a fresh process, so its peak memory (ru_maxrss, less the
interpreter with its imports) is its own: the stage and the building of its input (embeddings, codes). Stages: residual k-means (3 x 256), one RQ-VAE epoch (its k-means
initialisation included), the collision step, SID diagnostics, vocabulary + prefix trie, and constrained beam
search (beam 20, top 10, the `cpu` budget's model shape, untrained weights: cost does not depend on them).
The growth exponent b of time ∝ n^b is a least-squares fit over the sizes, per stage.
"""

from __future__ import annotations

import multiprocessing
import resource
import time

import numpy as np

STAGES = ("rkmeans fit", "rqvae epoch", "collisions", "diagnostics", "vocab + trie", "beam search per user")
DIM, LEVELS, CODES = 384, 3, 256
BEAM_USERS, BEAM, K = 256, 20, 10


def _catalogue(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _codes(n: int) -> np.ndarray:
    """Codes for the stages downstream of a fit: residual k-means on a sample, then nearest codes for all
    (the same distribution of bucket sizes a real fit gives, at a fraction of its cost)."""
    from bench.quantize.kmeans import residual_kmeans, squared_distances

    x = _catalogue(n)
    sample = x[np.random.default_rng(1).choice(n, min(n, 20_000), replace=False)]
    _, codebooks = residual_kmeans(sample, (CODES,) * LEVELS, seed=0, iterations=10)
    codes, residual = np.empty((n, LEVELS), dtype=np.int64), x.copy()
    for level, book in enumerate(codebooks):
        for start in range(0, n, 100_000):
            part = residual[start:start + 100_000]
            codes[start:start + 100_000, level] = squared_distances(part, book).argmin(1)
        residual -= book[codes[:, level]]
    return codes


def _zipf_histories(n_items: int, users: int, length: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    weights = ranks ** -1.1
    items = rng.choice(n_items, size=(users, length), p=weights / weights.sum())
    return items.astype(np.int64), np.full(users, length, dtype=np.int64)


def _measure(stage: str, n: int, threads: int, queue) -> None:
    """In a fresh process: prepare the stage's input, then time the stage alone."""
    import torch

    torch.set_num_threads(threads)
    from bench.quantize.collisions import disambiguate

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra = {}
    if stage == "rkmeans fit":
        from bench.quantize.kmeans import residual_kmeans

        x = _catalogue(n)
        start = time.perf_counter()
        residual_kmeans(x, (CODES,) * LEVELS, seed=0, iterations=20)
    elif stage == "rqvae epoch":
        from bench.quantize.rqvae import fit_rqvae
        from bench.quantize.rqvae_config import RQVAETraining

        x = _catalogue(n)
        start = time.perf_counter()
        fit_rqvae(x, (CODES,) * LEVELS, 0, RQVAETraining(epochs=1, log_every=10**9))
    else:
        codes = _codes(n)
        table = disambiguate(codes, (CODES,) * LEVELS)
        extra["collided_share"] = round(table.collided_items / n, 4)
        if stage == "collisions":
            start = time.perf_counter()
            disambiguate(codes, (CODES,) * LEVELS)
        elif stage == "diagnostics":
            from bench.quantize.diagnostics import diagnose

            start = time.perf_counter()
            diagnose(table)
        elif stage == "vocab + trie":
            from bench.seq2seq.trie import PrefixTrie
            from bench.seq2seq.vocab import SIDVocab

            start = time.perf_counter()
            SIDVocab(table, 2000)
            PrefixTrie(table.codes, table.vocab_sizes)
        else:
            from bench.seq2seq.beam import beam_search
            from bench.seq2seq.config import ModelShape
            from bench.seq2seq.model import Seq2SeqRecommender
            from bench.device import use_bf16
            from bench.seq2seq.train import autocast
            from bench.seq2seq.trie import PrefixTrie
            from bench.seq2seq.vocab import SIDVocab

            torch.manual_seed(0)
            vocab, trie = SIDVocab(table, 2000), PrefixTrie(table.codes, table.vocab_sizes)
            model = Seq2SeqRecommender(vocab, ModelShape(heads=4, d_kv=32, dropout=0.0), "item_sum").eval()
            history, lengths = _zipf_histories(n, BEAM_USERS)
            users = torch.arange(BEAM_USERS)
            bf16 = use_bf16("auto", "cpu")
            with torch.inference_mode(), autocast("cpu", bf16):
                beam_search(model, trie, users[:32], torch.as_tensor(history[:32]), torch.as_tensor(lengths[:32]),
                            beam=BEAM, k=K)  # warm-up
                start = time.perf_counter()
                for rows in np.array_split(np.arange(BEAM_USERS), BEAM_USERS // 128):
                    beam_search(model, trie, users[rows], torch.as_tensor(history[rows]),
                                torch.as_tensor(lengths[rows]), beam=BEAM, k=K)
            extra["precision"] = "bf16" if bf16 else "fp32"
    seconds = time.perf_counter() - start
    if stage == "beam search per user":
        extra["users_per_s"] = round(BEAM_USERS / seconds, 1)
        seconds /= BEAM_USERS
    queue.put({"seconds": seconds, **extra,
               "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024})


def _result(queue, process, stage: str, n: int) -> dict:
    """The measurement, or a clear error when the process died without one (killed for memory, say)."""
    import queue as queues

    from bench.errors import BenchError

    while True:
        try:
            result = queue.get(timeout=5)
            process.join()
            return result
        except queues.Empty:
            if not process.is_alive():
                raise BenchError(f"perf scale: measuring {stage} at {n:,} items ended without a result (exit code "
                                 f"{process.exitcode}; killed for memory?)") from None


def exponent(sizes, seconds) -> float:
    """b in time ∝ n^b, least squares on log-log."""
    return float(np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(seconds, float)), 1)[0])


def run(sizes=(10_000, 100_000, 1_000_000), stages=STAGES, threads: int = 2, log=print) -> dict:
    context = multiprocessing.get_context("spawn")
    report = {"sizes": list(sizes), "dim": DIM, "codebooks": [CODES] * LEVELS, "threads": threads, "stages": {}}
    for stage in stages:
        rows = []
        for n in sizes:
            queue = context.Queue()
            process = context.Process(target=_measure, args=(stage, n, threads, queue))
            process.start()
            result = _result(queue, process, stage, n)
            rows.append({"n": n, **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.items()}})
            log(f"{stage:22s} n={n:>9,}: {result['seconds']:.4g} s, peak {result['peak_mb']:.0f} MB")
        b = exponent([r["n"] for r in rows], [r["seconds"] for r in rows])
        report["stages"][stage] = {"exponent": round(b, 3), "runs": rows}
        log(f"{stage:22s} exponent b = {b:.2f}")
    return report
