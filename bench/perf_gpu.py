"""`perf gpu`: the CUDA path proven on one GPU in one short command (`scripts/gpu-check.sh` runs it).

Five checks, each the code a user runs, on `--device` (cuda by default):
1. the tiny suite at the smoke budget: every record says the device and precision it ran with;
2. `tiger` training at the `paper` budget's model and batch on Beauty, bf16 and fp32: examples/s, steps/s, peak
   memory, and the `paper` budget's hours per run projected from steps/s (rqvae-shaped IDs: 3 x 256 codes drawn
   at random, as the `random` tokenizer draws them: throughput depends on the shape, not on which item gets
   which code);
3. constrained beam search (beam 20, top 10) on that model after 100 steps: users/s;
4. a two-worker Optuna sweep sharing the one device (tiny suite, 4 trials): the trials and a check that no
   setting ran twice;
5. SASRec for one epoch through RecBole (Beauty at the smoke budget).

`--quick` shrinks 2 and 3 (a small model, a few steps, few users) and runs 5 on the tiny suite, so the whole
script can be tried on a CPU (`--device cpu --quick`) before a GPU's scarce minutes are spent on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMED_STEPS, QUICK_STEPS = 60, 4
DECODE_USERS, QUICK_USERS = 4096, 64
SWEEP_TRIALS = 4


def _bench(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a fresh process, from the checkout, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"python -m bench {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def device_facts(device: str) -> dict:
    import torch

    facts = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda}
    if device.startswith("cuda"):
        properties = torch.cuda.get_device_properties(torch.device(device))
        facts.update(name=properties.name, memory_gib=round(properties.total_memory / 2 ** 30, 1),
                     multiprocessors=properties.multi_processor_count, bf16=torch.cuda.is_bf16_supported())
        try:
            facts["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                             capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            facts["driver"] = None
    return facts


def tiny_suite(device: str, work: Path) -> dict:
    """The tiny suite at the smoke budget on `device`; each record's device and precision, checked."""
    from bench import records

    results = work / "tiny"
    start = time.perf_counter()
    _bench("run", "--suite", "tiny", "--budget", "smoke", "--device", device, "--results-dir", str(results))
    runs, wrong = {}, []
    for path in records.find_records(results, "tiny"):
        record, _ = records.read_verified(path)
        ran_on = record["provenance"]["device"]
        key = f"{record['system']}/seed{record['seeds']['run']}"
        runs[key] = {"device": ran_on, "precision": record["training"].get("precision"),
                     "ndcg@10": round(record["metrics"]["test"]["ndcg@10"], 4), "fit_s": record["timing"]["fit_s"]}
        if not str(ran_on).startswith(device.split(":")[0]):
            wrong.append(f"{key} ran on {ran_on}")
    return {"records": runs, "seconds": round(time.perf_counter() - start, 1), "wrong_device": wrong}


def _paper_tiger(quick: bool):
    """(split, SID table, tiger config at the paper budget) on Beauty; `quick`: a small model on the tiny data."""
    from dataclasses import replace

    from bench.data import load_dataset
    from bench.protocol import make_split
    from bench.sids import fit_table
    from bench.suites import load_suite, resolve, resolve_plugin

    suite = load_suite("tiny" if quick else "amazon-beauty")
    dataset = load_dataset(suite.dataset)
    split = make_split(dataset, suite.protocol)
    config = resolve(suite, "smoke" if quick else "paper").system("random", "tiger").recommender.config
    random_ids = resolve_plugin(suite, "tokenizers", "random", "cpu")
    shape = {"levels": 3, "codebook_size": 8 if quick else 256}
    table = fit_table("random", "random", replace(random_ids.config, **shape), 0, dataset, split,
                      random_ids.features).table
    return split, table, config


def tiger_throughput(device: str, quick: bool) -> dict:
    """Training steps at the paper budget's model and batch, bf16 and fp32: examples/s, steps/s, peak memory and
    the paper budget's projected hours; then beam search (20 wide, top 10) on the bf16 model: users/s."""
    import numpy as np
    import torch

    from bench.seq2seq.model import Seq2SeqRecommender
    from bench.seq2seq.train import length_batches, make_optimizer, tensors, train_step
    from bench.seq2seq.trie import PrefixTrie
    from bench.seq2seq.vocab import SIDVocab

    split, table, config = _paper_tiger(quick)
    steps = QUICK_STEPS if quick else TIMED_STEPS
    cuda = device.startswith("cuda")
    out = {"model": {"d_model": config.model.d_model, "layers": [config.model.encoder_layers,
                                                                 config.model.decoder_layers],
                     "batch_size": config.train.batch_size, "budget_steps": config.train.max_steps},
           "timed_steps": steps}
    model = None
    for precision in ("bf16", "fp32"):
        torch.manual_seed(0)
        vocab = SIDVocab(table, config.user_buckets).to(device)
        model = Seq2SeqRecommender(vocab, config.model, config.encoder_input).to(device).train()
        optimizer = make_optimizer(model, config.train)
        batches = length_batches(split.train.lengths, config.train.batch_size, np.random.default_rng(0))
        bf16 = precision == "bf16"
        for rows in batches[:3]:  # warm-up: kernels chosen, memory pools filled
            train_step(model, optimizer, tensors(split.train, rows, device), config.train, device, bf16)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        timed = [batches[3 + i % (len(batches) - 3)] for i in range(steps)]
        start = time.perf_counter()
        for rows in timed:
            train_step(model, optimizer, tensors(split.train, rows, device), config.train, device, bf16)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        steps_per_s = steps / seconds
        out[precision] = {"examples_per_s": round(sum(len(r) for r in timed) / seconds, 1),
                          "steps_per_s": round(steps_per_s, 3),
                          "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if cuda else None,
                          "paper_budget_hours": round(config.train.max_steps / steps_per_s / 3600, 2)}
        if precision == "bf16":
            for rows in batches[3 + steps:3 + steps + max(0, 100 - steps - 3)]:  # 100 steps in all before decoding
                train_step(model, optimizer, tensors(split.train, rows, device), config.train, device, bf16)
            out["beam_search"] = _decode(model, PrefixTrie(table.codes, table.vocab_sizes).to(device), split, device,
                                         QUICK_USERS if quick else DECODE_USERS)
    return out


def _decode(model, trie, split, device: str, n_users: int) -> dict:
    import numpy as np
    import torch

    from bench.seq2seq.beam import beam_search
    from bench.seq2seq.train import autocast, tensors

    model.eval()
    rows = np.arange(min(n_users, len(split.test)))
    users, history, lengths, _ = tensors(split.test, rows, device)
    batch = 256

    def decode():
        with torch.no_grad(), autocast(device, True):
            for start in range(0, len(rows), batch):
                part = slice(start, start + batch)
                beam_search(model, trie, users[part], history[part], lengths[part], beam=20, k=10)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    decode()  # warm-up
    start = time.perf_counter()
    decode()
    seconds = time.perf_counter() - start
    return {"users": len(rows), "beam": 20, "k": 10, "precision": "bf16", "users_per_s": round(len(rows) / seconds, 1)}


def sweep_two_workers(device: str, work: Path) -> dict:
    """Two `sweep` workers on one study (SQLite) and one device, SWEEP_TRIALS trials in all; every finished
    trial's settings, and whether any setting ran twice."""
    import optuna

    storage = f"sqlite:///{work / 'study.db'}"
    args = ["sweep", "--suite", "tiny", "--tokenizer", "random", "--budget", "smoke", "--trials", str(SWEEP_TRIALS),
            "--device", device, "--storage", storage, "--study", "gpu-check", "--results-dir", str(work / "sweep"),
            "--threads", "1"]
    start = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, "-m", "bench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=Path(__file__).resolve().parents[1]) for _ in range(2)]
    failures = []
    for worker in workers:
        _, err = worker.communicate(timeout=900)
        if worker.returncode != 0:
            failures.append(err[-2000:])
    if failures:
        raise RuntimeError("a sweep worker failed:\n" + "\n".join(failures))
    study = optuna.load_study(study_name="gpu-check", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    settings = [json.dumps(t.params, sort_keys=True) for t in done]
    return {"trials": [{"number": t.number, "value": t.value, "params": t.params} for t in done],
            "finished": len(done), "distinct_settings": len(set(settings)),
            "ran_twice": len(settings) != len(set(settings)), "seconds": round(time.perf_counter() - start, 1)}


def sasrec_epoch(device: str, work: Path, quick: bool) -> dict:
    """SASRec for one epoch through RecBole (the smoke budget), on Beauty (tiny with `quick`)."""
    from bench import records

    suite = "tiny" if quick else "amazon-beauty"
    results = work / "sasrec"
    _bench("run", "--suite", suite, "--recommenders", "sasrec", "--budget", "smoke", "--seeds", "0",
           "--device", device, "--results-dir", str(results))
    record = records.read_record(records.find_records(results, suite)[0])
    return {"suite": suite, "device": record["provenance"]["device"], "epochs": record["training"]["epochs"],
            "fit_s": record["timing"]["fit_s"], "ndcg@10": round(record["metrics"]["test"]["ndcg@10"], 4)}


def run(device: str = "cuda", quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="sid-bench-gpu-") as folder:
        work = Path(folder)
        report = {"benchmark": "gpu", "quick": quick, "device": device_facts(device)}
        for name, check in (("tiny_suite", lambda: tiny_suite(device, work)),
                            ("tiger_paper_budget", lambda: tiger_throughput(device, quick)),
                            ("sweep", lambda: sweep_two_workers(device, work)),
                            ("sasrec", lambda: sasrec_epoch(device, work, quick))):
            start = time.perf_counter()
            try:
                report[name] = check()
            except Exception as err:  # one failed check must not hide the others' figures
                report[name] = {"error": f"{type(err).__name__}: {err}"[-3000:]}
            report[name]["check_s"] = round(time.perf_counter() - start, 1)
            print(f"[{name}] {json.dumps(report[name])[:400]}", file=sys.stderr, flush=True)
    return report


def write(device: str, quick: bool, results_dir=None) -> tuple[dict, Path]:
    """Run the checks; write results/perf/gpu.json (a CPU or `--quick` try: gpu-try.json, so a try never
    replaces a GPU's report)."""
    from bench.io import atomic_write_json
    from bench.paths import results_dir as default_results_dir
    from bench.provenance import provenance

    report = run(device, quick)
    report["provenance"] = provenance(device)
    name = "gpu.json" if device.startswith("cuda") and not quick else "gpu-try.json"
    out = Path(results_dir or default_results_dir()) / "perf" / name
    atomic_write_json(out, report)
    return report, out


def summary(report: dict) -> str:
    """One screen: what ran where, and the figures."""
    device = report["device"]
    lines = [f"device {device['device']}: {device.get('name', 'CPU')}, torch {device['torch']} (CUDA "
             f"{device['cuda']}), driver {device.get('driver')}" + ("  [quick]" if report["quick"] else "")]
    for name in ("tiny_suite", "tiger_paper_budget", "sweep", "sasrec"):
        part = report.get(name, {})
        if "error" in part:
            lines.append(f"{name}: FAILED {part['error'][:300]}")
        elif name == "tiny_suite":
            lines.append(f"tiny suite: {len(part['records'])} records in {part['seconds']} s; wrong device: "
                         f"{part['wrong_device'] or 'none'}")
        elif name == "tiger_paper_budget":
            for precision in ("bf16", "fp32"):
                p = part[precision]
                lines.append(f"tiger paper budget {precision}: {p['examples_per_s']:,} examples/s, {p['steps_per_s']} "
                             f"steps/s, peak {p['peak_memory_gib']} GiB, {p['paper_budget_hours']} h per run")
            lines.append(f"beam search (20 wide, top 10): {part['beam_search']['users_per_s']:,} users/s")
        elif name == "sweep":
            lines.append(f"sweep, two workers: {part['finished']} trials, {part['distinct_settings']} distinct settings, "
                         f"ran twice: {part['ran_twice']}")
        else:
            lines.append(f"sasrec one epoch ({part['suite']}): {part['fit_s']} s on {part['device']}")
    return "\n".join(lines)
