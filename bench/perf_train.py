"""`perf train`: how fast the `cpu` budget's `tiger` trains here, and how fast it would on an AVX2-only host.

Budgets count steps, so a host's speed decides only the wall time. The cpu budget's model and settings (the
suite's `<tokenizer>+tiger`) train at one thread, at the precision `auto` picks here (bf16 on CPUs with native
bf16), and again on this same CPU told to use AVX2 at most: PyTorch's own kernels (ATEN_CPU_CAPABILITY), oneDNN
(ONEDNN_MAX_CPU_ISA) and MKL (MKL_ENABLE_INSTRUCTIONS), in fp32 as `auto` picks on such a host. That emulates an
AVX2-only machine's instruction set, not its clock or memory. Each measurement is a fresh process (the ISA is
fixed at start-up), and the two alternate, so minute-to-minute drift of the host falls on both alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def measure(suite_name: str, tokenizer: str, steps: int, precision: str, settings: list | None = None) -> dict:
    """Examples/s of `steps` training steps of the suite's `<tokenizer>+tiger` at the cpu budget, one thread,
    with `settings` (`--set` pairs) applied to the suite."""
    import numpy as np
    import torch

    from bench.data import load_dataset
    from bench.device import use_bf16
    from bench.protocol import make_split
    from bench.seq2seq.model import Seq2SeqRecommender
    from bench.seq2seq.train import length_batches, make_optimizer, tensors, train_step
    from bench.seq2seq.vocab import SIDVocab
    from bench.sids import fit_table
    from bench.config import parse_set
    from bench.suites import load_suite, resolve

    torch.set_num_threads(1)
    suite = load_suite(suite_name, parse_set(settings or []))
    dataset = load_dataset(suite.dataset)
    split = make_split(dataset, suite.protocol)
    system = resolve(suite, "cpu").system(tokenizer, "tiger")
    tok, config = system.tokenizer, system.recommender.config
    table = fit_table(tok.entry, tok.plugin, tok.config, 0, dataset, split, tok.features).table
    torch.manual_seed(0)
    model = Seq2SeqRecommender(SIDVocab(table, config.user_buckets), config.model, config.encoder_input).train()
    optimizer = make_optimizer(model, config.train)
    bf16 = use_bf16(precision, "cpu")
    batches = length_batches(split.train.lengths, config.train.batch_size, np.random.default_rng(0))
    warm, timed = batches[:3], batches[3:3 + steps]
    for rows in warm:
        train_step(model, optimizer, tensors(split.train, rows, "cpu"), config.train, "cpu", bf16)
    start = time.perf_counter()
    for rows in timed:
        train_step(model, optimizer, tensors(split.train, rows, "cpu"), config.train, "cpu", bf16)
    seconds = time.perf_counter() - start
    examples = int(sum(len(rows) for rows in timed))
    return {"examples_per_s": examples / seconds, "precision": "bf16" if bf16 else "fp32",
            "budget_examples": config.train.max_steps * config.train.batch_size,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _child(suite_name: str, tokenizer: str, steps: int, avx2: bool, settings: list | None = None) -> dict:
    env = {**os.environ, **(AVX2_ONLY if avx2 else {})}
    command = [sys.executable, "-m", "bench.perf_train", suite_name, tokenizer, str(steps),
               "fp32" if avx2 else "auto", json.dumps(settings or [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"perf train measurement failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(suite_name: str, tokenizer: str = "rqvae", steps: int = 120, rounds: int = 3, against: list | None = None) -> dict:
    """The budget's speed here and under AVX2; with `against` (`--set` pairs), that configuration too, measured
    in the same rounds in turn, and the ratios of the two (the budget's examples/s over the other's)."""
    native, avx2, other_native, other_avx2 = [], [], [], []
    for _ in range(rounds):
        native.append(_child(suite_name, tokenizer, steps, avx2=False))
        if against:
            other_native.append(_child(suite_name, tokenizer, steps, avx2=False, settings=against))
        avx2.append(_child(suite_name, tokenizer, steps, avx2=True))
        if against:
            other_avx2.append(_child(suite_name, tokenizer, steps, avx2=True, settings=against))
    here = statistics.median(m["examples_per_s"] for m in native)
    there = statistics.median(m["examples_per_s"] for m in avx2)
    budget = native[0]["budget_examples"]
    comparison = {}
    if against:
        other_here = statistics.median(m["examples_per_s"] for m in other_native)
        other_there = statistics.median(m["examples_per_s"] for m in other_avx2)
        comparison = {"against": {"settings": list(against), "examples_per_s_here": other_here,
                                  "all_here": [m["examples_per_s"] for m in other_native],
                                  "examples_per_s_avx2": other_there, "all_avx2": [m["examples_per_s"] for m in other_avx2]},
                      "ratio_here": here / other_here, "ratio_avx2": there / other_there}
    return {"system": f"{tokenizer}+tiger", "budget": "cpu", "threads": 1, "timed_steps": steps, "rounds": rounds,
            "this_host": {"precision": native[0]["precision"], "cpu_capability": native[0]["cpu_capability"],
                          "examples_per_s": here, "all": [m["examples_per_s"] for m in native],
                          "budget_training_minutes": budget / here / 60},
            "avx2_only": {"precision": avx2[0]["precision"], "cpu_capability": avx2[0]["cpu_capability"],
                          "examples_per_s": there, "all": [m["examples_per_s"] for m in avx2],
                          "budget_training_minutes": budget / there / 60, "emulated_by": AVX2_ONLY},
            "speedup_here": here / there, **comparison}


if __name__ == "__main__":  # one measurement, in a process of its own (the parent sets the ISA)
    suite_arg, tokenizer_arg, steps_arg, precision_arg, settings_arg = sys.argv[1:6]
    print(json.dumps(measure(suite_arg, tokenizer_arg, int(steps_arg), precision_arg, json.loads(settings_arg))))
